"""Stage 2 — the models every later stage uses (the paper's §III-A; notebooks 01–05 load them).

``loaders`` gives one function per model family (Stable Diffusion, CLIP, BLIP, the AVA aesthetic
head, ImageReward) that returns the same classes in every profile: the released checkpoints by hub
id (paper), seeded random builds (``builders``: tiny; the released architectures of ``configs``:
paper-shaped) or the miniature models notebook 01 pretrains (``miniature``, ``miniature_training``:
mini). ``clip_space`` is the one way images and texts enter CLIP, ``prompts`` the one way prompts
enter Stable Diffusion's text encoder, ``image_reward`` our port of ImageReward onto transformers'
BLIP classes, and ``tokenizers`` the tokenizers the random builds use.
"""
