"""A CAN generator as a search space: G(z) scored by CLIP against a text and by its discriminator.

Objective 1 is the plain cosine between the CLIP embeddings of the query and of G(z), the reward's
utility term (images through ``clip_space``, the project's one preprocessing path). Objective 2 is
how real the CAN's own discriminator finds G(z): its real/fake logit, reported as the probability
sigmoid(logit) and minimised as BCE(D(G(z)), real) = softplus(-logit), the generator's own training
loss (CLIP-GLaSS used a hinge on StyleGAN2's logit; a monotone change of an objective leaves the
Pareto front where it is). Both networks are frozen and in eval mode, so an image's scores do not
depend on its batch and the K starts of a search are K independent searches.

z lives on the shell |z| = sqrt(z_dim), where almost all of N(0, I)'s mass lies in high dimension:
a search that leaves it finds images the generator never learned to make.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from clipcreate_lib import artifacts, paths
from clipcreate_lib.models import clip_space
from clipcreate_lib.styles import can


def to_shell(z: torch.Tensor) -> torch.Tensor:
    """Each row of ``z`` scaled to norm sqrt(z_dim) (the typical norm of z ~ N(0, I))."""
    return z * (math.sqrt(z.shape[-1]) / z.norm(dim=-1, keepdim=True).clamp_min(1e-12))


def realness_loss(real_logit: torch.Tensor) -> torch.Tensor:
    """BCE(sigmoid(logit), 1) = softplus(-logit): 0 when D is sure G(z) is real."""
    return F.softplus(-real_logit)


def load_generator(name: str, profile: str, device: str | torch.device = "cpu") -> tuple[can.Generator, dict]:
    """The generator of label set ``name``'s CAN, frozen and in eval mode, from notebook 03's checkpoint,
    and the discriminator's provenance; refused unless the checkpoint is the very run whose
    discriminator was published (same settings, data and epochs) for ``profile``."""
    can.load_published(name, profile)  # checks the discriminator's data and profile
    published = artifacts.read_made_from(paths.can_discriminator_file(name))
    state = torch.load(paths.can_checkpoint_file(name), map_location="cpu", weights_only=True)
    if artifacts.changed_keys(state["made_from"], published["run"]) or len(state["losses"]) != published["epochs"]:
        raise RuntimeError(
            f"{paths.can_checkpoint_file(name)} is not the run whose discriminator notebook 03 published; "
            "rerun notebook 03 (./run_all.sh --only 03)."
        )
    settings = state["made_from"]["can"]
    gen = can.Generator(settings["image_size"], settings["z_dim"], settings["generator_channels"])
    gen.load_state_dict(state["generator"])
    return gen.requires_grad_(False).eval().to(device), published


@dataclass
class LatentSpace:
    """G(z) of one CAN with the two objectives; ``texts`` (Q, D) are the queries' CLIP embeddings."""

    generator: can.Generator
    discriminator: can.Discriminator
    clip: torch.nn.Module
    processor: object
    texts: torch.Tensor

    @property
    def z_dim(self) -> int:
        return self.generator.z_dim

    def images(self, z: torch.Tensor) -> torch.Tensor:
        """G(z) in [0, 1], (B, 3, H, W); differentiable in z."""
        param = next(self.generator.parameters())
        return can.to_unit_range(self.generator(z.to(param.device, param.dtype)))

    def score(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(G(z) in [0, 1], CLIP cosines with every query (B, Q), the discriminator's real logit (B,))."""
        images = self.images(z)
        cosines = clip_space.image_embeddings(images, self.clip, self.processor) @ self.texts.T
        real_logit, _ = self.discriminator(can.to_disc_range(images))
        return images, cosines, real_logit.float()

    @torch.no_grad()
    def render(self, z: torch.Tensor, batch_size: int) -> torch.Tensor:
        """G(z) in [0, 1] for many z, in batches, on the CPU."""
        return torch.cat([self.images(z[s : s + batch_size]).cpu() for s in range(0, len(z), batch_size)])

    @torch.no_grad()
    def score_all(self, z: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """CLIP cosines (B, Q) and real logits (B,) of many z, in batches, on the CPU."""
        parts = [self.score(z[s : s + batch_size])[1:] for s in range(0, len(z), batch_size)]
        return torch.cat([c.cpu() for c, _ in parts]), torch.cat([r.cpu() for _, r in parts])


def open_space(name: str, profile: str, queries: list[str], clip, processor) -> tuple[LatentSpace, dict]:
    """The latent space of label set ``name``'s CAN for ``queries`` and what it was made from."""
    device = next(clip.parameters()).device
    gen, published = load_generator(name, profile, device)
    disc, _ = can.load_published(name, profile, device)
    with torch.no_grad():
        texts = clip_space.text_embeddings(queries, clip, processor)
    return LatentSpace(gen, disc, clip, processor, texts), published
