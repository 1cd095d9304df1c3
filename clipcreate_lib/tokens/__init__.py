"""Style tokens (seed 003): textual inversion of a style into a new token, re-learning an existing
word on a style-balanced sample against the style bias, and the classifier-free guidance-scale sweep
of the untrained and DDPO models (notebook 09)."""
