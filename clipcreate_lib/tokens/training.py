"""One learned embedding, trained, checkpointed, resumed and saved where ``load_textual_inversion`` reads.

A folder holds ``learned_embeds.safetensors`` ({token: rows (n, D)}, diffusers' own format), its
provenance, ``checkpoint.pt`` (the rows, AdamW's state, the step, the losses; written atomically every
``checkpoint_every`` steps) and ``losses.csv``. A folder whose embedding was made alike is reused; a
checkpoint made alike is resumed from its step; one made otherwise is set aside with a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import safetensors.torch
import torch
from diffusers import StableDiffusionPipeline

from clipcreate_lib import artifacts
from clipcreate_lib.config import TokensConfig
from clipcreate_lib.progress import bar
from clipcreate_lib.tokens import inversion

EMBEDS = "learned_embeds.safetensors"  # diffusers' TEXT_INVERSION_NAME_SAFE: load_textual_inversion(folder)
CHECKPOINT = "checkpoint.pt"
LOSSES = "losses.csv"
TRAINING_KEYS = ("steps", "batch_size", "lr", "weight_decay", "seed")


def learn(
    pipe: StableDiffusionPipeline,
    token: str,
    ids: Sequence[int],
    latents: torch.Tensor,
    captions: Sequence[str],
    settings: TokensConfig,
    folder: Path,
    made_from: dict,
    progress: bool = True,
) -> tuple[torch.Tensor, bool]:
    """The rows (n, D) of ``ids`` learned on (``latents``, ``captions``), written into ``pipe``'s matrix
    and saved in ``folder`` as ``token``'s embedding; also whether a saved embedding was reused."""
    made_from = {**made_from, "token": token, **{k: getattr(settings, k) for k in TRAINING_KEYS}}
    target = Path(folder) / EMBEDS
    if artifacts.is_current(target, made_from):
        rows = safetensors.torch.load_file(target)[token]
        inversion.write_rows(pipe, ids, rows)
        return rows, True
    artifacts.forget_made_from(target)
    rows = _train(pipe, ids, latents, captions, settings, Path(folder), made_from, progress)
    inversion.write_rows(pipe, ids, rows)
    save(target, token, rows)
    artifacts.mark_made_from(target, made_from)
    return rows, False


def _train(pipe, ids, latents, captions, settings, folder, made_from, progress) -> torch.Tensor:
    """AdamW on the rows only, every other weight frozen; checkpointed and resumable."""
    for module in (pipe.unet, pipe.vae, pipe.text_encoder):
        module.requires_grad_(False)
    weight = pipe.text_encoder.get_input_embeddings().weight
    rows = torch.nn.Parameter(weight[list(ids)].detach().float().clone())
    optimiser = torch.optim.AdamW([rows], lr=settings.lr, weight_decay=settings.weight_decay)
    start, losses = _resume(folder / CHECKPOINT, made_from, rows, optimiser)
    steps = bar(range(start, settings.steps), desc=f"token {made_from['token']}", unit="step", disable=not progress)
    with inversion.rows_in_place(pipe, ids, rows):
        for step in steps:
            loss = inversion.denoising_loss(pipe, latents, captions, settings.batch_size, settings.seed, step)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
            if (step + 1) % settings.checkpoint_every == 0 or step + 1 == settings.steps:
                _checkpoint(folder, made_from, rows, optimiser, losses)
    return rows.detach()


def _checkpoint(folder: Path, made_from: dict, rows, optimiser, losses: list[float]) -> None:
    state = {"step": len(losses), "rows": rows.detach(), "optimiser": optimiser.state_dict(), "losses": losses}
    artifacts.atomic_write(folder / CHECKPOINT, lambda f: torch.save(state, f))
    artifacts.mark_made_from(folder / CHECKPOINT, made_from)
    artifacts.save_csv(folder / LOSSES, pd.DataFrame({"step": range(1, len(losses) + 1), "loss": losses}))


def _resume(file: Path, made_from: dict, rows, optimiser) -> tuple[int, list[float]]:
    """The step to start at and the losses so far: 0 and none without a checkpoint made alike."""
    if not file.exists():
        return 0, []
    if not artifacts.is_current(file, made_from):
        print(f"{file} was made with other settings; training this embedding from the start.")
        return 0, []
    state = torch.load(file, weights_only=True)
    with torch.no_grad():
        rows.copy_(state["rows"])
    optimiser.load_state_dict(state["optimiser"])
    print(f"{file}: resuming at step {state['step']}")
    return state["step"], list(state["losses"])


def save(path: Path, token: str, rows: torch.Tensor) -> Path:
    """``{token: rows}`` as safetensors, written atomically: the file ``load_textual_inversion`` reads."""
    data = safetensors.torch.save({token: rows.detach().float().cpu().contiguous()})
    return artifacts.atomic_write(path, lambda f: f.write(data))


def loss_curve(folder: Path) -> pd.DataFrame:
    """An embedding's loss per step, as its last checkpoint wrote it."""
    return pd.read_csv(Path(folder) / LOSSES)


def load_word(pipe: StableDiffusionPipeline, folder: Path, word: str) -> None:
    """Overwrite an existing word's row with the one saved in ``folder``. ``load_textual_inversion``
    refuses a token the vocabulary already has, so a re-learned word is written in place instead."""
    rows = safetensors.torch.load_file(Path(folder) / EMBEDS)[word]
    inversion.write_rows(pipe, [inversion.word_id(pipe, word)], rows)
