"""Stage 7 — style ambiguity at sampling time, without fine-tuning (notebook ``07_guidance``; seed 004).

The reward DDPO trains on is differentiable end to end (CLIP -> style logits -> -CE against uniform,
plus the utility term), so a frozen model can be steered by its gradient instead. ``denoiser`` is the
frozen model as the samplers see it; ``onestep`` adds the reward's gradient at the one-step estimate of
x_0 to every DDIM step (classifier guidance); ``edict`` is EDICT's exactly invertible coupled sampler
and the constant-memory gradient through its whole chain, which ``doodl`` uses to optimise the initial
noise; ``objective`` is the reward over random crops; ``pipeline`` makes either method look like a
diffusers pipeline, so notebook 05's generation code makes, stores and reuses its images; ``table3``
compares everything on notebook 05's protocol.
"""
