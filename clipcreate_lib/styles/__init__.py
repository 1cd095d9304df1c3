"""Stage 3 — style classifiers and the reward (notebooks ``02_centroids`` and ``03_can``; the paper's
§III-D, and §III-B for the reward).

Everything that turns an image into style logits or a reward: the two classifiers that need no
training, CLIP text labels (``text_labels``) and k-means centroids of CLIP image embeddings
(``centroids``), the CAN baseline whose discriminator is the third (``can``, ``can_training``), the
three as one callable kind (``classifiers``), and the style-ambiguity reward (``rewards``).
"""
