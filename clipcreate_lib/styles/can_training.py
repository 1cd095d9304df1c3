"""Training the CAN baseline (notebook 03): D learns real/fake and the style of real images; G learns to
fool D and to make D's style prediction on its images uniform. Resumable, bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import datasets
import pandas as pd
import torch
import torch.nn.functional as F

from clipcreate_lib import artifacts
from clipcreate_lib.config import CanConfig
from clipcreate_lib.progress import bar
from clipcreate_lib.styles.can import Discriminator, Generator, real_batch, to_unit_range
from clipcreate_lib.tracking import Tracker

LOSSES = ("d_loss", "d_adv", "d_style", "g_loss", "g_adv", "g_style", "style_acc")


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
    views = ("epochs", "tensorboard", "log_images_every")  # the length and the logs: not the experiment
    return {"can": {k: v for k, v in asdict(cfg).items() if k not in views}, "data": data_key}


@dataclass
class Trained:
    generator: Generator
    discriminator: Discriminator
    losses: pd.DataFrame  # one row per epoch (EpochLosses)
    resumed_from: int  # epochs that came from the checkpoint (0 = a fresh run)


@dataclass
class _Networks:
    """A CAN in training: both networks, their optimisers and the generator of data order and z."""

    gen: Generator
    disc: Discriminator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    rng: torch.Generator

    @classmethod
    def new(cls, cfg: CanConfig, n_styles: int, device: str | torch.device) -> _Networks:
        gen = Generator(cfg.image_size, cfg.z_dim, cfg.generator_channels).to(device)
        disc = Discriminator(cfg.image_size, n_styles).to(device)
        adam = dict(lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
        return cls(
            gen,
            disc,
            torch.optim.Adam(gen.parameters(), **adam),
            torch.optim.Adam(disc.parameters(), **adam),
            torch.Generator().manual_seed(cfg.seed),
        )

    def state_dict(self) -> dict:
        return {
            "generator": self.gen.state_dict(),
            "discriminator": self.disc.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": self.rng.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }

    def load_state_dict(self, state: dict) -> None:
        self.gen.load_state_dict(state["generator"])
        self.disc.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.rng.set_state(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        if torch.cuda.is_available() and state["cuda_rng"]:
            torch.cuda.set_rng_state_all(state["cuda_rng"])


def train(
    cfg: CanConfig,
    ds: datasets.Dataset,
    data_key: dict,
    checkpoint: Path,
    losses_csv: Path,
    device: str | torch.device = "cpu",
    desc: str = "CAN",
) -> Trained:
    """Train a CAN on ``ds`` for ``cfg.epochs`` epochs, writing ``checkpoint`` and ``losses_csv`` after
    every epoch. A checkpoint of the same settings and data (``run_key``) and at most ``cfg.epochs``
    epochs is continued; any other is refused with the settings that differ named, so a long run is
    never overwritten by a typo.

    Torch's global RNG, forked for the call so the caller's is left as it was, is seeded with
    ``cfg.seed`` (initial weights, then Dropout) and one explicit ``torch.Generator`` draws the data
    order and z; both states are saved in the checkpoint, so a resumed run ends bit-identical to an
    uninterrupted one.
    """
    if len(ds) < cfg.batch_size:
        raise ValueError(
            f"The dataset has {len(ds)} images, fewer than one batch of can.batch_size = {cfg.batch_size}."
        )
    key = run_key(cfg, data_key)
    cuda = [torch.device(device)] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(cfg.seed)
        nets = _Networks.new(cfg, len(ds.features["style"].names), device)
        history = _resume(checkpoint, key, cfg.epochs, nets, losses_csv)
        resumed_from = len(history)
        steps = min(len(ds) // cfg.batch_size, cfg.max_steps_per_epoch or len(ds))
        tracker = Tracker(Path(checkpoint).parent, cfg.tensorboard and resumed_from < cfg.epochs, True, key["can"])
        for epoch in range(resumed_from, cfg.epochs):
            steps_bar = bar(range(steps), desc=f"{desc} epoch {epoch + 1}/{cfg.epochs}", unit="step", leave=False)
            sums = _train_epoch(nets, ds, cfg, steps_bar, device)
            history.append(asdict(EpochLosses(epoch + 1, **{k: v / steps for k, v in sums.items()})))
            _save(checkpoint, {"made_from": key, **nets.state_dict(), "losses": history}, losses_csv)
            _log(tracker, nets, history[-1], cfg, ds.features["style"].names, device)
        tracker.close()
    return Trained(nets.gen, nets.disc, losses_table(history), resumed_from)


def _save(checkpoint: Path, state: dict, losses_csv: Path) -> None:
    """The checkpoint of the epoch just trained (the record), then the losses derived from it."""
    artifacts.atomic_write(checkpoint, lambda f: torch.save(state, f))
    artifacts.save_csv(losses_csv, losses_table(state["losses"]))


def _log(tracker: Tracker, nets: _Networks, row: dict, cfg: CanConfig, styles: list[str], device) -> None:
    """An epoch's losses as TensorBoard scalars and, every ``log_images_every`` epochs, the generator's
    images of 8 fixed z (their own generator: the run's random states are untouched, as is BatchNorm,
    in eval mode) with the discriminator's likeliest style of each."""
    epoch = row["epoch"]
    tracker.scalars(row, epoch)
    if tracker.board is None or not cfg.log_images_every or epoch % cfg.log_images_every:
        return
    z = torch.randn(8, cfg.z_dim, generator=torch.Generator().manual_seed(cfg.seed)).to(device)
    nets.gen.eval()
    nets.disc.eval()
    with torch.no_grad():
        fake = nets.gen(z)
        probabilities = nets.disc(fake)[1].softmax(dim=1)
    nets.gen.train()  # as training left them
    nets.disc.train()
    images = to_unit_range(fake)
    best = probabilities.max(dim=1)
    captions = [f"{styles[i]} p = {p:.2f}" for i, p in zip(best.indices.tolist(), best.values.tolist())]
    tracker.samples("samples", images.permute(0, 2, 3, 1).cpu().numpy(), captions, epoch)


def _resume(checkpoint: Path, key: dict, epochs: int, nets: _Networks, losses_csv: Path) -> list[dict]:
    """Load ``checkpoint`` into ``nets`` and return its epochs' losses ([] when there is none), refusing
    one of other settings or data, or of more epochs than asked for. Stale temporaries of both files are
    deleted first, and a losses CSV that disagrees with the checkpoint (a kill between the two writes)
    is rewritten from it."""
    for path in (checkpoint, losses_csv):
        artifacts.remove_temporaries(Path(path).parent, (Path(path).name,))
    if not Path(checkpoint).exists():
        return []
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    artifacts.refuse_other_run(checkpoint, state["made_from"], key, "settings or data")
    if len(state["losses"]) > epochs:
        raise ValueError(
            f"{checkpoint} already holds {len(state['losses'])} epochs, more than can.epochs = "
            f"{epochs}; ask for at least that many, or delete it to train again."
        )
    nets.load_state_dict(state)
    artifacts.repair_csv(losses_csv, losses_table(state["losses"]))
    return state["losses"]


def _train_epoch(
    nets: _Networks, ds: datasets.Dataset, cfg: CanConfig, step_numbers: Iterable[int], device: str | torch.device
) -> dict[str, float]:
    """One pass of alternating D and G updates over a fresh order of ``ds``; the losses' sums."""
    n_styles = nets.disc.n_styles
    uniform = torch.full((cfg.batch_size, n_styles), 1.0 / n_styles, device=device)
    nets.gen.train()
    nets.disc.train()
    order = torch.randperm(len(ds), generator=nets.rng).tolist()
    sums = dict.fromkeys(LOSSES, 0.0)
    for step in step_numbers:
        real, labels = real_batch(ds, order[step * cfg.batch_size : (step + 1) * cfg.batch_size], cfg.image_size)
        z = torch.randn(cfg.batch_size, cfg.z_dim, generator=nets.rng).to(device)
        for name, value in _step(nets, real.to(device), labels.to(device), z, uniform, cfg.style_weight).items():
            sums[name] += value.item()
    return sums


def _step(
    nets: _Networks,
    real: torch.Tensor,
    labels: torch.Tensor,
    z: torch.Tensor,
    uniform: torch.Tensor,
    style_weight: float,
) -> dict[str, torch.Tensor]:
    """One update of D, then one of G, on a batch of real images and of z; every loss of ``LOSSES``."""
    fake = nets.gen(z)
    real_logit, real_style = nets.disc(real)
    fake_logit, _ = nets.disc(fake.detach())
    d_adv = F.binary_cross_entropy_with_logits(
        real_logit, torch.ones_like(real_logit)
    ) + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
    d_style = F.cross_entropy(real_style, labels)
    d_loss = d_adv + d_style
    nets.opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    nets.opt_d.step()

    fake_logit, fake_style = nets.disc(fake)
    g_adv = F.binary_cross_entropy_with_logits(fake_logit, torch.ones_like(fake_logit))
    g_style = F.binary_cross_entropy(fake_style.softmax(dim=1), uniform)
    g_loss = g_adv + style_weight * g_style
    nets.opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    nets.opt_g.step()
    accuracy = (real_style.argmax(1) == labels).float().mean()
    return dict(zip(LOSSES, (d_loss, d_adv, d_style, g_loss, g_adv, g_style, accuracy)))


def losses_table(history: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(history, columns=list(EpochLosses.__dataclass_fields__))
