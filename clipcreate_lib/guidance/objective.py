"""What the guided samplers climb: the training reward of one classifier (``styles.rewards``), per
image, optionally averaged over random crops.

The crops are diffusers' ``MakeCutouts`` as the DOODL paper's supplement gives it: a square of side
rand ** cut_power * (max - min) + min, placed uniformly, average-pooled to CLIP's input size; CLIP then
sees it through the project's one preprocessing path (``clip_space``), whose resize is then a no-op.
Each image draws its crops from its own generator, so an image never depends on its batch. Images no
larger than CLIP's input (tiny and mini, 32 px) have one possible crop, the whole image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

RewardFn = Callable[[torch.Tensor, Sequence[str]], dict[str, torch.Tensor]]


def cutouts(
    image: torch.Tensor, count: int, cut_size: int, cut_power: float, generator: torch.Generator
) -> torch.Tensor:
    """``count`` random square crops of one image (3, H, W), each pooled to ``cut_size`` (count, 3, s, s)."""
    height, width = image.shape[-2:]
    largest, smallest = min(height, width), min(height, width, cut_size)
    crops = []
    for _ in range(count):
        size = int(torch.rand([], generator=generator) ** cut_power * (largest - smallest) + smallest)
        left = int(torch.randint(0, width - size + 1, (), generator=generator))
        top = int(torch.randint(0, height - size + 1, (), generator=generator))
        crops.append(F.adaptive_avg_pool2d(image[None, :, top : top + size, left : left + size], cut_size))
    return torch.cat(crops)


class Objective:
    """``objective(images in [0, 1] (B, 3, H, W)) -> reward per image (B,)``, differentiable, for the
    batch's ``prompts``; with ``crops`` > 0 the mean reward of that many crops per image, drawn from the
    image's generator in ``generators``."""

    def __init__(
        self,
        reward: RewardFn,
        prompts: Sequence[str],
        crops: int = 0,
        cut_size: int = 224,
        cut_power: float = 0.3,
        generators: Sequence[torch.Generator] = (),
    ):
        if crops and len(generators) != len(prompts):
            raise ValueError(f"Random crops need one generator per image: got {len(generators)} for {len(prompts)}.")
        self.reward, self.prompts, self.crops = reward, list(prompts), crops
        self.cut_size, self.cut_power, self.generators = cut_size, cut_power, list(generators)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if not self.crops:
            return self.reward(images, self.prompts)["reward"]
        crops = torch.cat(
            [cutouts(x, self.crops, self.cut_size, self.cut_power, g) for x, g in zip(images, self.generators)]
        )
        prompts = [p for p in self.prompts for _ in range(self.crops)]
        return self.reward(crops, prompts)["reward"].view(len(images), self.crops).mean(dim=1)
