"""Stage 5 — evaluation (notebook ``05_evaluation``; the paper's §IV-A, Table I and Figure 1).

``generation`` makes every model's images on one protocol (200 (prompt, seed) pairs, one DDIM
scheduler), ``scoring`` scores them (AVA, ImageReward, prompt alignment, style ambiguity under every
classifier), ``results`` turns the scores into Table I, the creativity proxies and the ambiguity rise.
"""
