"""The Creative Adversarial Network baseline: a DCGAN whose discriminator also classifies style.

The paper's baseline classifier (``disc``) is the style head of this discriminator (docs/method.md).
The discriminator learns real/fake and the style of real images; the generator learns to fool it
*and* to make its style prediction uniform, which pushes it away from every known style (the CAN's
idea of creativity). After training only the discriminator is kept.

Three things differ from the reference code on purpose: noise is z ~ N(0, I) in training and in
sampling (it trained on U[0, 1) and sampled N(0, 1)); generated images are mapped from tanh's
[-1, 1] to [0, 1] before they are saved (it saved tanh output as is); a loaded discriminator is in
eval mode (it was used as a reward in train mode, so BatchNorm and Dropout made the reward random).
Its training is in ``can_training``; this module holds the networks and the published discriminator.
"""

from __future__ import annotations

import math
from pathlib import Path

import datasets
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from clipcreate_lib import artifacts, paths
from clipcreate_lib.data import label_sets
from clipcreate_lib.data.image_io import images_as_tensor

NOTEBOOK = "03_can"
SIZES = (64, 128, 256, 512)
TRUNK_CHANNELS = 512  # the discriminator's last convolutions have this many channels, at 4 x 4
FEATURES = TRUNK_CHANNELS * 4 * 4  # 8192 features before the heads, at every size


def check_size(image_size: int) -> None:
    if image_size not in SIZES:
        raise ValueError(
            f"The CAN is defined for images of {', '.join(map(str, SIZES))} px, not {image_size}; "
            "set can.image_size to one of those."
        )


def _down(c_in: int, c_out: int) -> list[nn.Module]:
    """Halve the spatial size: Conv(4, 2, 1, no bias) + BatchNorm + LeakyReLU(0.2)."""
    return [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2)]


def _up(c_in: int, c_out: int, stride: int, padding: int) -> list[nn.Module]:
    """Grow the spatial size: ConvTranspose(4, stride, padding, no bias) + BatchNorm + ReLU."""
    return [nn.ConvTranspose2d(c_in, c_out, 4, stride, padding, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation (the reference's): convolutions N(0, 0.02), BatchNorm scales N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Discriminator(nn.Module):
    """Real/fake and style logits for images in [-1, 1] of shape (B, 3, image_size, image_size).

    Trunk: a convolution 3 -> 32, then log2(image_size) - 5 channel-doubling convolutions (1, 2, 3, 4
    for 64, 128, 256, 512 px), then two convolutions to 512 channels, which leave 512 x 4 x 4 = 8192
    features at every size. Heads: real/fake Linear(8192, 1); style Linear(8192, 1024) - LeakyReLU -
    Dropout(0.3) - Linear(1024, 512) - LeakyReLU - Dropout(0.3) - Linear(512, n_styles).

    Both heads return logits. The paper puts a Sigmoid on the real/fake head and trains it with BCE;
    a logit trained with BCE-with-logits is the same model and loss, computed without the overflow
    of log(sigmoid(x)) for large |x|. Softmax of the style logits is the classifier C(x).
    """

    def __init__(self, image_size: int, n_styles: int):
        super().__init__()
        check_size(image_size)
        self.image_size = image_size
        self.n_styles = n_styles
        layers = _down(3, 32)
        channels = 32
        for _ in range(int(math.log2(image_size)) - 5):
            layers += _down(channels, min(2 * channels, TRUNK_CHANNELS))
            channels = min(2 * channels, TRUNK_CHANNELS)
        layers += _down(channels, TRUNK_CHANNELS) + _down(TRUNK_CHANNELS, TRUNK_CHANNELS)
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.real_fake = nn.Linear(FEATURES, 1)
        self.style = nn.Sequential(
            nn.Linear(FEATURES, 1024),
            nn.LeakyReLU(0.2),
            nn.Dropout(0.3),
            nn.Linear(1024, 512),
            nn.LeakyReLU(0.2),
            nn.Dropout(0.3),
            nn.Linear(512, n_styles),
        )
        self.apply(init_weights)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(real/fake logit (B,), style logits (B, n_styles))."""
        features = self.features(x)
        return self.real_fake(features).squeeze(1), self.style(features)


class Generator(nn.Module):
    """z (B, z_dim) ~ N(0, I) -> images (B, 3, image_size, image_size) in [-1, 1] (tanh).

    A transposed convolution makes ``channels`` maps of 4 x 4; each next one doubles the size and
    halves the channels (BatchNorm + ReLU, as the reference), and the last makes 3 channels at
    ``image_size``. The paper's ``channels``
    is 2048; the tiny profile uses fewer, so that training fits a CPU (the discriminator, which is
    what the paper keeps, is always the paper's).
    """

    def __init__(self, image_size: int, z_dim: int = 100, channels: int = 2048):
        super().__init__()
        check_size(image_size)
        doublings = int(math.log2(image_size)) - 3  # 4 px -> image_size / 2
        if channels >> doublings < 1:
            raise ValueError(
                f"A {image_size} px generator halves its channels {doublings} times; "
                f"can.generator_channels must be at least {2**doublings}, got {channels}."
            )
        self.image_size = image_size
        self.z_dim = z_dim
        layers = _up(z_dim, channels, stride=1, padding=0)
        for _ in range(doublings):
            layers += _up(channels, channels // 2, stride=2, padding=1)
            channels //= 2
        layers += [nn.ConvTranspose2d(channels, 3, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.apply(init_weights)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z[:, :, None, None])


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """tanh output in [-1, 1] -> [0, 1], the range images are saved and shown in."""
    return ((images + 1) / 2).clamp(0, 1)


def to_disc_range(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> [-1, 1], the range the discriminator is trained on."""
    return images * 2 - 1


def resize(images: torch.Tensor, image_size: int) -> torch.Tensor:
    """Images (B, 3, H, W) in [0, 1] at ``image_size``, resampled as ``real_batch`` resamples the
    training images (PIL's antialiased bicubic, clipped to the pixel range), so the reward scores
    generated images the way the discriminator saw real ones; antialiased bilinear was 8 grey
    levels off on average at 64 px."""
    if images.shape[-2:] == (image_size, image_size):
        return images
    return F.interpolate(
        images, size=(image_size, image_size), mode="bicubic", antialias=True, align_corners=False
    ).clamp(0, 1)


def real_batch(ds: datasets.Dataset, rows: list[int], image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of a dataset (``image``, ``style``) as images in [-1, 1] at ``image_size`` and style labels."""
    batch = ds[rows]
    images = [
        im if im.size == (image_size, image_size) else im.resize((image_size, image_size), Image.Resampling.BICUBIC)
        for im in batch["image"]
    ]
    return to_disc_range(images_as_tensor(images)), torch.tensor(batch["style"])


# --- the published discriminator -----------------------------------------------------------------
def save_discriminator(path: Path, disc: Discriminator, labels: list[str]) -> Path:
    """Write the discriminator with its size and style names (class-index order), atomically."""
    if len(labels) != disc.n_styles:
        raise ValueError(f"{len(labels)} labels for a discriminator with {disc.n_styles} styles.")
    state = {
        "image_size": disc.image_size,
        "n_styles": disc.n_styles,
        "labels": list(labels),
        "state_dict": {k: v.detach().cpu() for k, v in disc.state_dict().items()},
    }
    return artifacts.atomic_write(path, lambda f: torch.save(state, f))


def load_discriminator(path: Path, device: str | torch.device = "cpu") -> tuple[Discriminator, list[str]]:
    """The saved discriminator, frozen and in eval mode (a deterministic classifier), and its labels."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist; run notebook 03 (./run_all.sh --only 03) with the "
            "profile you are using to train the CAN discriminator."
        )
    saved = torch.load(path, map_location="cpu", weights_only=True)
    disc = Discriminator(saved["image_size"], saved["n_styles"])
    disc.load_state_dict(saved["state_dict"])
    disc.requires_grad_(False)
    return disc.to(device).eval(), saved["labels"]


def publish_discriminator(
    name: str, disc: Discriminator, labels: list[str], profile: str, run: dict, epochs: int
) -> Path:
    """Save the discriminator trained on label set ``name`` as the ``disc`` classifier, with its
    provenance: the profile, the label set it learned (``data``), the run's settings and its epochs."""
    artifacts.forget_made_from(paths.can_discriminator_file(name))  # never the old record on new weights
    target = save_discriminator(paths.can_discriminator_file(name), disc, labels)
    artifacts.mark_made_from(
        target, {"profile": profile, "data": label_sets.record(name), "run": run, "epochs": epochs}
    )
    return target


def load_published(name: str, profile: str, device: str | torch.device = "cpu") -> tuple[Discriminator, list[str]]:
    """The published discriminator of label set ``name`` and its labels, refused unless it was trained
    on the label set saved now and for ``profile``."""
    path = paths.can_discriminator_file(name)
    made_from = artifacts.require_made_from(path, NOTEBOOK)
    label_sets.require_same_data(path, made_from, name, NOTEBOOK)
    artifacts.require_value(path, made_from, "profile", profile, NOTEBOOK)
    return load_discriminator(path, device)


# --- using the trained networks ---------------------------------------------------------------------
@torch.no_grad()
def sample(gen: Generator, n: int, seed: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """``n`` images from z ~ N(0, I) drawn with ``seed``, in [0, 1] (eval mode: deterministic)."""
    z = torch.randn(n, gen.z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    was_training = gen.training
    images = to_unit_range(gen.eval()(z)).cpu()
    gen.train(was_training)
    return images


@torch.no_grad()
def style_accuracy(
    disc: Discriminator, ds: datasets.Dataset, batch_size: int = 64, device: str | torch.device = "cpu"
) -> float:
    """Fraction of ``ds`` whose style the discriminator (in eval mode) predicts correctly."""
    was_training = disc.training
    disc.eval()
    correct = 0
    for start in range(0, len(ds), batch_size):
        images, labels = real_batch(ds, list(range(start, min(start + batch_size, len(ds)))), disc.image_size)
        correct += (disc(images.to(device))[1].argmax(1).cpu() == labels).sum().item()
    disc.train(was_training)
    return correct / len(ds)
