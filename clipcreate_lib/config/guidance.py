"""Settings of notebook 07: style ambiguity at sampling time, by one-step classifier guidance and by
DOODL (optimising the initial noise through the whole, exactly invertible EDICT chain). The defaults
are the reference settings where they exist (diffusers' clip-guided pipeline, salesforce/DOODL)."""

from __future__ import annotations

from dataclasses import dataclass

from clipcreate_lib.config.fields import above_zero, bounded, decay, non_negative, nonempty, positive
from clipcreate_lib.config.stages import MODEL_NAMES, ModelName


@dataclass
class GuidanceConfig:
    # The classifiers guided towards (the reward each DDPO model trains on), in Table III's order.
    classifiers: list[ModelName] = nonempty(lambda: list(MODEL_NAMES))
    # One-step guidance: images per classifier, the first of evaluation's (prompt i mod 24, seed i) pairs.
    onestep_images: int = positive(200)
    # One-step guidance scale s: eps <- eps - s * sqrt(1 - alpha_bar_t) * grad R(decode(x0_hat)) (diffusers'
    # clip-guided pipeline's default scale is 100); with onestep_normalise, of the unit-rms gradient.
    onestep_scale: float = non_negative(100.0)
    # One-step guidance: rescale each image's gradient to unit root-mean-square element before the
    # step, so the scale is a fraction of the noise estimate's size (False: the raw gradient, as the
    # reference; its size varies by orders of magnitude between images and steps).
    onestep_normalise: bool = False
    # One-step guidance: the fraction of the DDIM steps guided, from the first (1 = all, as the reference).
    onestep_guided_fraction: float = bounded(0, 1, 1.0, open_low=True)
    # One-step guidance: random crops the reward is averaged over (0 = the whole image, as clip_sample).
    onestep_crops: int = non_negative(0)
    # DOODL: images per classifier (first 24 = each prompt once, with its seed: the named subset).
    doodl_images: int = positive(24)
    # DOODL: optimisation steps on x_T (salesforce/DOODL's num_traversal_steps); each runs the chain
    # forward and back; one more forward chain draws the final image.
    doodl_steps: int = non_negative(50)
    # DOODL: learning rate (the reference's grad_scale): the step is lr * grad R before clipping.
    doodl_lr: float = above_zero(1.0)
    # DOODL: element-wise clip of each step (the reference's clip_grad_val).
    doodl_clip: float = above_zero(1e-3)
    # DOODL: momentum of the step (no dampening, not Nesterov, as the reference).
    doodl_momentum: float = decay(0.9)
    # DOODL: std of the Gaussian perturbation added at each step (the reference's perturb_grad_scale).
    doodl_perturbation: float = non_negative(1e-4)
    # DOODL: an image whose reward fell at a step returns to its best point so far with half the step
    # and no momentum, and its best point's image is kept (False: every step taken, as the reference).
    doodl_backtrack: bool = False
    # DOODL: random crops per image the reward is averaged over (16 in the paper's supplement).
    doodl_crops: int = non_negative(16)
    # Crop sizes: side = rand ** cut_power * (max - min) + min (the paper's supplement: 0.3).
    cut_power: float = above_zero(0.3)
    # EDICT's mixing weight p (the DOODL paper and EDICT: 0.93).
    edict_mixing: float = bounded(0, 1, 0.93, open_low=True, open_high=True)
    # Guided sets made at once, each in a worker process with one torch thread and, on a machine with
    # GPUs, its own GPU (as evaluation.processes); the same images. 1 = in turn, in the notebook.
    processes: int = positive(1)
    # Images per guided call (the seeds are per image, so this does not change the images).
    batch_size: int = positive(8)
    # bf16 autocast of the UNet on CUDA (the sampler's state, its steps and the reward stay float32).
    autocast: bool = True
    # The sweep's classifier (guidance_sweep.png) and the grid's (guidance_grid.png).
    sweep_classifier: ModelName = "clip-full"
    # One-step guidance scales of the sweep (the main scale is reused, 0 is the untrained model).
    sweep_scales: list[float] = non_negative(factory=lambda: [0.0, 25.0, 100.0, 400.0], nonempty=True)
    # DOODL optimisation steps of the sweep (the main count is reused).
    sweep_steps: list[int] = non_negative(factory=lambda: [0, 10, 25, 50], nonempty=True)
    # Images per sweep point (the first ones of the protocol).
    sweep_images: int = positive(24)
    # guidance_grid.png's rows: evaluation indices (each row: one prompt and seed).
    grid_images: list[int] = non_negative(factory=lambda: [0, 9, 18, 3, 12, 23], nonempty=True)
