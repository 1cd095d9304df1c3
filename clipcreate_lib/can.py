"""The Creative Adversarial Network baseline: a DCGAN whose discriminator also classifies style.

The paper's baseline classifier (``disc``) is the style head of this discriminator (PAPER.md §5).
The discriminator learns real/fake and the style of real images; the generator learns to fool it
*and* to make its style prediction uniform, which pushes it away from every known style (the CAN's
idea of creativity). After training only the discriminator is kept.

Three things differ from the reference code on purpose: noise is z ~ N(0, I) in training and in
sampling (it trained on U[0, 1) and sampled N(0, 1)); generated images are mapped from tanh's
[-1, 1] to [0, 1] before they are saved (it saved tanh output as is); a loaded discriminator is in
eval mode (it was used as a reward in train mode, so BatchNorm and Dropout made the reward random).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import datasets
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from clipcreate_lib import artifacts
from clipcreate_lib.config import CanConfig
from clipcreate_lib.data import images_as_tensor

SIZES = (64, 128, 256, 512)
TRUNK_CHANNELS = 512  # the discriminator's last convolutions have this many channels, at 4 x 4
FEATURES = TRUNK_CHANNELS * 4 * 4  # 8192 features before the heads, at every size


def check_size(image_size: int) -> None:
    if image_size not in SIZES:
        raise ValueError(f"The CAN is defined for images of {', '.join(map(str, SIZES))} px, not {image_size}; "
                         "set can.image_size to one of those.")


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
            nn.Linear(FEATURES, 1024), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Linear(1024, 512), nn.LeakyReLU(0.2), nn.Dropout(0.3),
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
            raise ValueError(f"A {image_size} px generator halves its channels {doublings} times; "
                             f"can.generator_channels must be at least {2 ** doublings}, got {channels}.")
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
    return F.interpolate(images, size=(image_size, image_size), mode="bicubic", antialias=True,
                         align_corners=False).clamp(0, 1)


def real_batch(ds: datasets.Dataset, rows: list[int], image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of a dataset (``image``, ``style``) as images in [-1, 1] at ``image_size`` and style labels."""
    batch = ds[rows]
    images = [im if im.size == (image_size, image_size)
              else im.resize((image_size, image_size), Image.Resampling.BICUBIC) for im in batch["image"]]
    return to_disc_range(images_as_tensor(images)), torch.tensor(batch["style"])


# --- saving and loading the discriminator ----------------------------------------------------------
def save_discriminator(path: Path, disc: Discriminator, labels: list[str]) -> Path:
    """Write the discriminator with its size and style names (class-index order), atomically."""
    if len(labels) != disc.n_styles:
        raise ValueError(f"{len(labels)} labels for a discriminator with {disc.n_styles} styles.")
    state = {"image_size": disc.image_size, "n_styles": disc.n_styles, "labels": list(labels),
             "state_dict": {k: v.detach().cpu() for k, v in disc.state_dict().items()}}
    return artifacts.atomic_write(path, lambda f: torch.save(state, f))


def load_discriminator(path: Path, device: str | torch.device = "cpu") -> tuple[Discriminator, list[str]]:
    """The saved discriminator, frozen and in eval mode (a deterministic classifier), and its labels."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; run notebook 03 (./run_all.sh --only 03) with the "
                                "profile you are using to train the CAN discriminator.")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    disc = Discriminator(saved["image_size"], saved["n_styles"])
    disc.load_state_dict(saved["state_dict"])
    disc.requires_grad_(False)
    return disc.to(device).eval(), saved["labels"]


# --- training --------------------------------------------------------------------------------------
@dataclass
class EpochLosses:
    """Means over one epoch's steps; one row of the losses CSV."""

    epoch: int
    d_loss: float  # D's loss: d_adv + d_style
    d_adv: float  # BCE of the real/fake head on real (target 1) and fake (target 0) images, summed
    d_style: float  # cross-entropy of the style head on real images
    g_loss: float  # G's loss: g_adv + style_weight * g_style
    g_adv: float  # BCE of the real/fake head on fake images with target "real" (fool D)
    g_style: float  # BCE of softmax(style) on fake images against the uniform 1/N (unweighted)
    style_acc: float  # style accuracy on the real training batches (train mode)


def run_key(cfg: CanConfig, data_key: dict) -> dict:
    """What decides a run apart from its length: a checkpoint made from the same settings and data
    continues; ``data_key`` names the data (the dataset's provenance in the notebook)."""
    return {"can": {k: v for k, v in asdict(cfg).items() if k != "epochs"}, "data": data_key}


@dataclass
class Trained:
    generator: Generator
    discriminator: Discriminator
    losses: pd.DataFrame  # one row per epoch (EpochLosses)
    resumed_from: int  # epochs that came from the checkpoint (0 = a fresh run)


def train(cfg: CanConfig, ds: datasets.Dataset, data_key: dict, checkpoint: Path, losses_csv: Path,
          device: str | torch.device = "cpu", desc: str = "CAN") -> Trained:
    """Train a CAN on ``ds`` for ``cfg.epochs`` epochs, writing ``checkpoint`` and ``losses_csv`` after
    every epoch. A checkpoint of the same settings and data (``run_key``) and at most ``cfg.epochs``
    epochs is continued; any other is refused with the settings that differ named, so a long run is
    never overwritten by a typo.

    The global RNG is seeded with ``cfg.seed`` (initial weights, then Dropout) and one explicit
    ``torch.Generator`` draws the data order and z; both states are saved in the checkpoint, so a
    resumed run ends bit-identical to an uninterrupted one.
    """
    n_styles = len(ds.features["style"].names)
    if len(ds) < cfg.batch_size:
        raise ValueError(f"The dataset has {len(ds)} images, fewer than one batch (can.batch_size = "
                         f"{cfg.batch_size}); lower can.batch_size.")
    key = run_key(cfg, data_key)
    torch.manual_seed(cfg.seed)
    gen = Generator(cfg.image_size, cfg.z_dim, cfg.generator_channels).to(device)
    disc = Discriminator(cfg.image_size, n_styles).to(device)
    opt_g = torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    rng = torch.Generator().manual_seed(cfg.seed)
    history: list[dict] = []

    state = torch.load(checkpoint, map_location="cpu", weights_only=True) if Path(checkpoint).exists() else None
    if state is not None:
        changed = artifacts.changed_keys(state["made_from"], key)
        if changed:
            raise RuntimeError(f"{checkpoint} was trained with other settings or data ({', '.join(changed)}); "
                               f"delete {Path(checkpoint).parent} to train with these, or restore the settings.")
        if len(state["losses"]) > cfg.epochs:
            raise ValueError(f"{checkpoint} already holds {len(state['losses'])} epochs, more than can.epochs = "
                             f"{cfg.epochs}; ask for at least that many, or delete it to train again.")
        gen.load_state_dict(state["generator"])
        disc.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        rng.set_state(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        if torch.cuda.is_available() and state["cuda_rng"]:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        history = state["losses"]
    resumed_from = len(history)

    steps = len(ds) // cfg.batch_size
    if cfg.max_steps_per_epoch is not None:
        steps = min(steps, cfg.max_steps_per_epoch)
    uniform = torch.full((cfg.batch_size, n_styles), 1.0 / n_styles, device=device)
    for epoch in range(resumed_from, cfg.epochs):
        gen.train()
        disc.train()
        order = torch.randperm(len(ds), generator=rng).tolist()
        sums = dict.fromkeys(("d_loss", "d_adv", "d_style", "g_loss", "g_adv", "g_style", "style_acc"), 0.0)
        for step in tqdm(range(steps), desc=f"{desc} epoch {epoch + 1}/{cfg.epochs}", unit="step", leave=False):
            real, labels = real_batch(ds, order[step * cfg.batch_size:(step + 1) * cfg.batch_size], cfg.image_size)
            real, labels = real.to(device), labels.to(device)
            z = torch.randn(cfg.batch_size, cfg.z_dim, generator=rng).to(device)
            fake = gen(z)

            real_logit, real_style = disc(real)
            fake_logit, _ = disc(fake.detach())
            d_adv = (F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))
                     + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit)))
            d_style = F.cross_entropy(real_style, labels)
            d_loss = d_adv + d_style
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()

            fake_logit, fake_style = disc(fake)
            g_adv = F.binary_cross_entropy_with_logits(fake_logit, torch.ones_like(fake_logit))
            g_style = F.binary_cross_entropy(fake_style.softmax(dim=1), uniform)
            g_loss = g_adv + cfg.style_weight * g_style
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()

            for name, value in (("d_loss", d_loss), ("d_adv", d_adv), ("d_style", d_style), ("g_loss", g_loss),
                                ("g_adv", g_adv), ("g_style", g_style),
                                ("style_acc", (real_style.argmax(1) == labels).float().mean())):
                sums[name] += value.item()
        history.append(asdict(EpochLosses(epoch + 1, **{k: v / steps for k, v in sums.items()})))
        _save_checkpoint(checkpoint, key, gen, disc, opt_g, opt_d, rng, history)
        artifacts.save_csv(losses_csv, losses_table(history))
    if resumed_from == cfg.epochs and not Path(losses_csv).exists():
        artifacts.save_csv(losses_csv, losses_table(history))
    return Trained(gen, disc, losses_table(history), resumed_from)


def losses_table(history: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(history, columns=list(EpochLosses.__dataclass_fields__))


def _save_checkpoint(path: Path, key: dict, gen: Generator, disc: Discriminator, opt_g, opt_d,
                     rng: torch.Generator, history: list[dict]) -> None:
    state = {"made_from": key, "generator": gen.state_dict(), "discriminator": disc.state_dict(),
             "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "rng": rng.get_state(),
             "torch_rng": torch.get_rng_state(),
             "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
             "losses": history}
    artifacts.atomic_write(path, lambda f: torch.save(state, f))


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
def style_accuracy(disc: Discriminator, ds: datasets.Dataset, batch_size: int = 64,
                   device: str | torch.device = "cpu") -> float:
    """Fraction of ``ds`` whose style the discriminator (in eval mode) predicts correctly."""
    was_training = disc.training
    disc.eval()
    correct = 0
    for start in range(0, len(ds), batch_size):
        images, labels = real_batch(ds, list(range(start, min(start + batch_size, len(ds)))), disc.image_size)
        correct += (disc(images.to(device))[1].argmax(1).cpu() == labels).sum().item()
    disc.train(was_training)
    return correct / len(ds)
