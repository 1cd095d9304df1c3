"""Stage 4 — DDPO fine-tuning towards style ambiguity (notebook ``04_ddpo``; the paper's §III-A/B).

``policy`` is the DDIM chain as a policy (sampling with per-step log-probs, rescoring), ``ppo`` the
clipped loss and the per-prompt reward normalisation, ``rollout`` one epoch's samples and rewards,
``update`` one epoch's PPO update, ``state`` what a run carries between epochs, ``trainer`` the
epoch loop, ``records`` the run's files (checkpoint first, logs from it, weights published at the
end), ``precision`` the UNet's arithmetic, ``weights`` the exported
weights (all evaluation needs of a run), and ``runs`` notebook 04's six models, in turn or side by
side in worker processes. ``draft`` is a second optimiser of the same reward (DRaFT-K: its gradient
through the last K DDIM steps, with the trainer's files and resume), ``optimisers`` compares the two
from their runs' logs.
"""
