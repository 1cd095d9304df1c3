"""Stage 8 — latent search in the CAN generator and the style-bias audit (notebook ``08_latent_search``;
seed 002, CLIP-GLaSS).

``latent`` loads a label set's trained CAN pair (the generator from notebook 03's checkpoint, the
discriminator it published) and scores z by its two objectives: the CLIP cosine of a query and G(z),
and the discriminator's realness of G(z). ``gradient`` searches with Adam on the shell
|z| = sqrt(z_dim), ``evolution`` with pymoo's NSGA-II, ``results`` runs both per query and saves
them with their provenance, and ``audit`` tells which styles a set of images leans toward.
"""
