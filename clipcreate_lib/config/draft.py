"""Settings of the second optimiser of notebook 04: direct reward backpropagation through the last K
DDIM steps (DRaFT-K, Clark et al. 2023; AlignProp, Prabhudesai et al. 2023). Every other setting of a
DRaFT run (prompts, steps, eta, guidance, batches, LoRA, AdamW, seed) is the ``ddpo`` section's, so
the two optimisers differ in how they use the reward alone. The defaults train no DRaFT model."""

from __future__ import annotations

from dataclasses import dataclass, field

from clipcreate_lib.config.fields import above_zero, positive
from clipcreate_lib.config.stages import ModelName


@dataclass
class DraftConfig:
    # Models notebook 04 also trains with DRaFT, beside their DDPO runs, into data/<profile>/draft/<model>/.
    models: list[ModelName] = field(default_factory=list)
    # K: the last K DDIM steps the reward's gradient flows back through (K >= ddpo.sample_steps: all of
    # them); the steps before run without gradients. DRaFT's paper finds K = 1 enough for most rewards.
    steps: int = positive(1)
    # Recompute each differentiated step's UNet activations in the backward pass instead of keeping
    # them (torch.utils.checkpoint): memory of one step instead of K, for about one more forward each.
    checkpointing: bool = True
    # Training epochs of a DRaFT run (null: ddpo.epochs); each samples as many images as a DDPO epoch.
    epochs: int | None = positive(None)
    # AdamW learning rate of a DRaFT run (null: ddpo.learning_rate); the other AdamW settings are ddpo's.
    learning_rate: float | None = above_zero(None)
