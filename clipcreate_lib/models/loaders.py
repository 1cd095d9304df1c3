"""Load the paper's models by hub id, or build seeded random ones of the same classes.

One function per model family, each returning the same types in every profile, so every later
stage runs unchanged on a laptop (profile ``tiny``: small random weights, no download) and on a GPU
(profile ``paper``: the released checkpoints). Profile ``paper-shaped`` builds the released
architectures (``configs``) with seeded random weights: the paper's cost without its weights, for
timing on a GPU machine that cannot reach the hub; profile ``mini`` loads the miniature models
notebook 01 pretrained, from their folders, like hub models. A hub model that cannot be loaded
raises ``ModelUnavailableError`` naming the id and the ways to provide it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import huggingface_hub
import torch
from diffusers import DDIMScheduler, StableDiffusionPipeline
from transformers import BertTokenizer, BlipForConditionalGeneration, BlipProcessor, CLIPModel, CLIPProcessor

from clipcreate_lib import artifacts, paths
from clipcreate_lib.config import Config, ModelsConfig
from clipcreate_lib.models import builders, image_reward
from clipcreate_lib.models.tokenizers import tiny_bert_tokenizer

T = TypeVar("T")


class ModelUnavailableError(RuntimeError):
    """A pretrained model could not be loaded (offline, not cached, or a wrong id/path)."""


def resolve_device(models: ModelsConfig) -> torch.device:
    if models.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if models.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("models.device is 'cuda' but no CUDA GPU is visible; use 'auto' or 'cpu'.")
    return torch.device(models.device)


def inference_dtype(models: ModelsConfig) -> torch.dtype:
    """dtype for frozen models: the configured one on a GPU, float32 on CPU."""
    if resolve_device(models).type == "cpu":
        return torch.float32
    return getattr(torch, models.dtype)


def model_name(models: ModelsConfig, family: str) -> str:
    """What a model of ``family`` ("stable_diffusion", "clip", "blip") is, for provenance records; a
    miniature model is named by the digest of the settings it was pretrained with."""
    if models.source == "pretrained":
        return getattr(models, family)
    if models.source == "mini" and family in paths.MINIATURE_FOLDERS:
        return f"mini-{artifacts.short_hash(artifacts.read_made_from(Path(_model_id(models, family))))}"
    return f"{models.source}-seed{models.seed + (family == 'judge_clip')}"


def _model_id(models: ModelsConfig, family: str) -> str:
    """Where from_pretrained loads ``family`` from: the miniature's folder (mini) or the configured id."""
    if models.source == "mini":
        folder = paths.miniature_dir() / paths.MINIATURE_FOLDERS[family]
        if not folder.is_dir():
            raise ModelUnavailableError(
                f"The miniature {family} is not at {folder}; run notebook 01 with the "
                f"mini profile first, which pretrains it."
            )
        return str(folder)
    return getattr(models, family)


def load_stable_diffusion(cfg: Config) -> StableDiffusionPipeline:
    """A ``StableDiffusionPipeline`` with a ``DDIMScheduler``, on the configured device."""
    m = cfg.models
    if m.source == "tiny":
        pipe = builders.tiny_stable_diffusion(m.seed)
    elif m.source == "paper-shaped":
        pipe = builders.paper_shaped_stable_diffusion(m.seed)
        if inference_dtype(m) != torch.float32:
            pipe = pipe.to(dtype=inference_dtype(m))  # the dtype from_pretrained would load it in
    else:
        where = _model_id(m, "stable_diffusion")
        scheduler = _pretrained(
            DDIMScheduler.from_pretrained,
            where,
            "Stable Diffusion scheduler",
            "models.stable_diffusion",
            subfolder="scheduler",
        )
        with _pixel_vae_accepted():
            pipe = _pretrained(
                StableDiffusionPipeline.from_pretrained,
                where,
                "Stable Diffusion",
                "models.stable_diffusion",
                scheduler=scheduler,
                dtype=inference_dtype(m),
                safety_checker=None,
                requires_safety_checker=False,
            )
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(resolve_device(m))


def load_clip(cfg: Config) -> tuple[CLIPModel, CLIPProcessor]:
    """CLIP model (eval mode, on the configured device) and its processor."""
    m = cfg.models
    if m.source == "tiny":
        return _frozen_clip(*builders.tiny_clip(m.seed), m)
    if m.source == "paper-shaped":
        return _frozen_clip(*builders.paper_shaped_clip(m.seed), m)
    return _frozen_clip(*_pretrained_clip(_model_id(m, "clip"), "CLIP", "models.clip"), m)


def load_judge_clip(cfg: Config) -> tuple[CLIPModel, CLIPProcessor]:
    """The held-out judge of notebook 05 (eval mode, configured device), a CLIP no training reward used:
    ``models.judge_clip`` when pretrained, the second miniature CLIP notebook 01 trains (mini), or a
    random CLIP of the next seed (tiny, paper-shaped)."""
    m = cfg.models
    if m.source == "tiny":
        return _frozen_clip(*builders.tiny_clip(m.seed + 1), m)
    if m.source == "paper-shaped":
        return _frozen_clip(*builders.paper_shaped_clip(m.seed + 1), m)
    return _frozen_clip(*_pretrained_clip(_model_id(m, "judge_clip"), "judge CLIP", "models.judge_clip"), m)


def _pretrained_clip(where: str, what: str, key: str) -> tuple[CLIPModel, CLIPProcessor]:
    # loaded in float32 and cast by _frozen_clip, which keeps the logit scale in float32
    model = _pretrained(CLIPModel.from_pretrained, where, f"{what} model", key, dtype=torch.float32)
    return model, _pretrained(CLIPProcessor.from_pretrained, where, f"{what} processor", key)


def _frozen_clip(model: CLIPModel, processor: CLIPProcessor, m: ModelsConfig) -> tuple[CLIPModel, CLIPProcessor]:
    scale = model.logit_scale.detach().clone()
    model = model.to(resolve_device(m), inference_dtype(m))
    # The logit scale stays float32: log 100 in bfloat16 is 4.594, whose exp is 99.0, and the text
    # classifier's softmax would be 1% cooler than CLIP's own.
    model.logit_scale.data = scale.to(model.logit_scale.device)
    return model.eval().requires_grad_(False), processor


def load_blip(cfg: Config) -> tuple[BlipForConditionalGeneration, BlipProcessor]:
    """BLIP captioner (eval mode) and its processor, used to choose the mediums styles."""
    m = cfg.models
    if m.source in ("tiny", "mini"):
        model, processor = builders.tiny_blip(m.seed)
    elif m.source == "paper-shaped":
        raise ModelUnavailableError(
            "models.source 'paper-shaped' has no BLIP captioner (it exists to time DDPO "
            "and evaluation); use source 'tiny' or 'pretrained' to choose the mediums styles."
        )
    else:
        model = _pretrained(
            BlipForConditionalGeneration.from_pretrained,
            m.blip,
            "BLIP captioner",
            "models.blip",
            dtype=inference_dtype(m),
        )
        processor = _pretrained(BlipProcessor.from_pretrained, m.blip, "BLIP processor", "models.blip")
    return model.to(resolve_device(m)).eval().requires_grad_(False), processor


def load_aesthetic(cfg: Config, clip: CLIPModel) -> image_reward.ScoreHead:
    """The AVA aesthetic predictor's MLP (eval mode), which scores L2-normalised CLIP image embeddings
    (tiny and paper-shaped: seeded random weights at CLIP's embedding width)."""
    m = cfg.models
    width = clip.config.projection_dim
    if m.source != "pretrained":
        with builders.seeded(m.seed + 5):
            head = image_reward.ScoreHead(width)
    else:
        path = hub_file(m.aesthetic, "aesthetic-model.pth", "AVA aesthetic predictor", "models.aesthetic")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state["layers.0.weight"].shape[1] != width:
            raise ValueError(
                f"The aesthetic predictor expects {state['layers.0.weight'].shape[1]}-d CLIP embeddings "
                f"but {m.clip} gives {width}-d; use openai/clip-vit-large-patch14 as models.clip."
            )
        head = image_reward.ScoreHead(width)
        head.load_state_dict(state)
    # float32 even on a GPU: the MLP is tiny, and in bfloat16 its scores would step by 1/32 around 5
    return head.to(resolve_device(m)).eval().requires_grad_(False)


def load_image_reward(cfg: Config, batch_size: int = 32) -> image_reward.Scorer:
    """ImageReward-v1.0 ported onto transformers' BLIP classes, with its tokenizer, as a batched
    scorer of (images, prompts). Tiny: the same class at the test fixture's size; paper-shaped: at
    full size; both with random weights and the tiny BERT tokenizer (its ids fit either vocabulary)."""
    m = cfg.models
    if m.source != "pretrained":
        tokenizer = image_reward.prepare_tokenizer(tiny_bert_tokenizer())
        size = image_reward.FULL
        if m.source in ("tiny", "mini"):
            size = dataclasses.replace(image_reward.TINY, vocab_size=len(tokenizer))
        with builders.seeded(m.seed + 6):
            model = image_reward.ImageReward(size)
    else:
        path = hub_file(m.image_reward, "ImageReward.pt", "ImageReward model", "models.image_reward")
        model = image_reward.load_checkpoint(
            image_reward.ImageReward(image_reward.FULL), torch.load(path, map_location="cpu", weights_only=True)
        )
        tokenizer = image_reward.prepare_tokenizer(
            _pretrained(
                BertTokenizer.from_pretrained,
                m.image_reward_tokenizer,
                "ImageReward tokenizer",
                "models.image_reward_tokenizer",
            )
        )
        if len(tokenizer) != image_reward.FULL.vocab_size:  # offline, transformers returns an empty tokenizer
            raise ModelUnavailableError(
                f"The ImageReward tokenizer '{m.image_reward_tokenizer}' has {len(tokenizer)} tokens, not the "
                f"30,524 of bert-base-uncased plus [DEC] and [ENC]; download bert-base-uncased once where the hub "
                f"is reachable, or set models.image_reward_tokenizer to a local folder that holds it."
            )
    model = model.to(resolve_device(m), inference_dtype(m))
    model.mlp.float()  # the score head in float32, as for AVA; forward feeds it float32 features
    return image_reward.Scorer(model, tokenizer, batch_size)


def hub_file(model_id: str, filename: str, what: str, key: str) -> Path:
    """``filename`` from a hub repository (cached under HF_HOME), from a local folder, or ``model_id``
    itself when it is that file."""
    path = Path(model_id)
    if path.is_file():
        return path
    if path.is_dir():
        if not (path / filename).is_file():
            raise ModelUnavailableError(f"The folder {path} given as {key} has no {filename}.")
        return path / filename
    return _pretrained(lambda repo: Path(huggingface_hub.hf_hub_download(repo, filename)), model_id, what, key)


def _pretrained(loader: Callable[..., T], model_id: str, what: str, key: str, **kwargs) -> T:
    try:
        return loader(model_id, **kwargs)
    except (OSError, ValueError) as err:
        if huggingface_hub.constants.HF_HUB_OFFLINE and not Path(model_id).exists():
            reason = "HF_HUB_OFFLINE=1 is set and it is not in the local cache"
        else:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelUnavailableError(
            f"Could not load the {what} '{model_id}' ({reason}); download it once where the Hugging Face hub "
            f"is reachable (it is cached under HF_HOME, then HF_HUB_OFFLINE=1 uses the cache), or set "
            f"{key} in params/<profile>.yaml to a local folder that holds it."
        ) from err


# What diffusers logs about the miniature's pixel autoencoder, an AutoencoderTiny on purpose: the
# pipeline's type hint names AutoencoderKL (the pipeline only calls the decode and encode both
# have), and AutoencoderTiny records block_out_channels in its config for the pipeline to read but
# does not take it back as an argument. Both are expected; the logger each comes from, and its start.
_PIXEL_VAE_NOTICES = {
    "diffusers.pipelines.pipeline_utils": "Expected types for vae: ",
    "diffusers.configuration_utils": "The config attributes {'block_out_channels': [3]} were passed to AutoencoderTiny",
}


@contextlib.contextmanager
def _pixel_vae_accepted() -> Iterator[None]:
    """Leave out the two notices above while a pipeline loads; any other message of the load still shows."""

    def keep(record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith(_PIXEL_VAE_NOTICES[record.name]) and "AutoencoderTiny" in message)

    loggers = [logging.getLogger(name) for name in _PIXEL_VAE_NOTICES]
    for logger in loggers:
        logger.addFilter(keep)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(keep)
