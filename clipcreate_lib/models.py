"""Load the paper's models by hub id, or build seeded random ones of the same classes.

One function per model family, each returning the same types in every profile, so every later
stage runs unchanged on a laptop (profile ``tiny``: small random weights, no download) and on a GPU
(profile ``paper``: the released checkpoints). Profile ``paper-shaped`` builds the released
architectures (``model_configs``) with seeded random weights: the paper's cost without its weights,
for timing on a GPU machine that cannot reach the hub. A hub model that cannot be loaded raises
``ModelUnavailableError`` naming the id and the ways to provide it.
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
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import (
    BertTokenizer,
    BlipConfig,
    BlipForConditionalGeneration,
    BlipImageProcessor,
    BlipProcessor,
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    CLIPProcessor,
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTokenizer,
)

from clipcreate_lib import artifacts, image_reward, model_configs, paths
from clipcreate_lib.config import Config, ModelsConfig

T = TypeVar("T")

# Stable Diffusion 2 base's scheduler settings. steps_offset=1 keeps the last DDIM step's variance
# above zero at eta=1, so every DDPO log-prob is finite (DESIGN.md, checked against trl 0.23.1).
SD2_SCHEDULER = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    clip_sample=False,
    set_alpha_to_one=False,
    steps_offset=1,
    prediction_type="epsilon",
)

# Words the tiny tokenizer knows whole; anything else falls back to single characters.
TINY_WORDS = (
    "a an the of in on with and by style styled image picture photo print pattern art painting "
    "drawing artist man woman nature animal city building child red orange yellow green blue "
    "purple pink brown black white grey gray dark light bright pale stripes dots circles waves "
    "grid checks blots strokes lines gradient squares rings abstract expressionism action "
    "analytical cubism nouveau baroque color field contemporary realism early renaissance fauvism "
    "high impressionism mannerism late minimalism naive primitivism new northern pointillism pop "
    "post rococo romanticism symbolism synthetic ukiyo e"
).split()


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
    if models.source == "mini" and family in ("clip", "stable_diffusion"):
        return f"mini-{artifacts.short_hash(artifacts.read_made_from(Path(_model_id(models, family))))}"
    return f"{models.source}-seed{models.seed}"


def _model_id(models: ModelsConfig, family: str) -> str:
    """Where from_pretrained loads ``family`` from: the miniature's folder (mini) or the configured id."""
    if models.source == "mini":
        from clipcreate_lib import miniature  # which imports this module

        folder = paths.miniature_dir() / {"clip": miniature.CLIP_DIR,
                                          "stable_diffusion": miniature.STABLE_DIFFUSION_DIR}[family]
        if not folder.is_dir():
            raise ModelUnavailableError(f"The miniature {family} is not at {folder}; run notebook 01 with the "
                                        f"mini profile first, which pretrains it.")
        return str(folder)
    return getattr(models, family)


def load_stable_diffusion(cfg: Config) -> StableDiffusionPipeline:
    """A ``StableDiffusionPipeline`` with a ``DDIMScheduler``, on the configured device."""
    m = cfg.models
    if m.source == "tiny":
        pipe = _tiny_stable_diffusion(m.seed)
    elif m.source == "paper-shaped":
        pipe = _paper_shaped_stable_diffusion(m.seed)
        if inference_dtype(m) != torch.float32:
            pipe = pipe.to(dtype=inference_dtype(m))  # the dtype from_pretrained would load it in
    else:
        where = _model_id(m, "stable_diffusion")
        scheduler = _pretrained(DDIMScheduler.from_pretrained, where, "Stable Diffusion scheduler",
                                "models.stable_diffusion", subfolder="scheduler")
        with _pixel_vae_accepted():
            pipe = _pretrained(StableDiffusionPipeline.from_pretrained, where, "Stable Diffusion",
                               "models.stable_diffusion", scheduler=scheduler, dtype=inference_dtype(m),
                               safety_checker=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(resolve_device(m))


def load_clip(cfg: Config) -> tuple[CLIPModel, CLIPProcessor]:
    """CLIP model (eval mode, on the configured device) and its processor."""
    m = cfg.models
    if m.source == "tiny":
        model, processor = _tiny_clip(m.seed)
    elif m.source == "paper-shaped":
        model, processor = _paper_shaped_clip(m.seed)
    else:
        where = _model_id(m, "clip")  # in float32, cast below with its logit scale kept
        model = _pretrained(CLIPModel.from_pretrained, where, "CLIP model", "models.clip", dtype=torch.float32)
        processor = _pretrained(CLIPProcessor.from_pretrained, where, "CLIP processor", "models.clip")
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
        model, processor = tiny_blip(m.seed)
    elif m.source == "paper-shaped":
        raise ModelUnavailableError("models.source 'paper-shaped' has no BLIP captioner (it exists to time DDPO "
                                    "and evaluation); use source 'tiny' or 'pretrained' to choose the mediums styles.")
    else:
        model = _pretrained(BlipForConditionalGeneration.from_pretrained, m.blip, "BLIP captioner", "models.blip",
                            dtype=inference_dtype(m))
        processor = _pretrained(BlipProcessor.from_pretrained, m.blip, "BLIP processor", "models.blip")
    return model.to(resolve_device(m)).eval().requires_grad_(False), processor


def load_aesthetic(cfg: Config, clip: CLIPModel) -> image_reward.ScoreHead:
    """The AVA aesthetic predictor's MLP (eval mode), which scores L2-normalised CLIP image embeddings
    (tiny and paper-shaped: seeded random weights at CLIP's embedding width)."""
    m = cfg.models
    width = clip.config.projection_dim
    if m.source != "pretrained":
        with seeded(m.seed + 5):
            head = image_reward.ScoreHead(width)
    else:
        path = hub_file(m.aesthetic, "aesthetic-model.pth", "AVA aesthetic predictor", "models.aesthetic")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state["layers.0.weight"].shape[1] != width:
            raise ValueError(f"The aesthetic predictor expects {state['layers.0.weight'].shape[1]}-d CLIP embeddings "
                             f"but {m.clip} gives {width}-d; use openai/clip-vit-large-patch14 as models.clip.")
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
        tokenizer = image_reward.prepare_tokenizer(_tiny_bert_tokenizer())
        size = image_reward.FULL
        if m.source in ("tiny", "mini"):
            size = dataclasses.replace(image_reward.TINY, vocab_size=len(tokenizer))
        with seeded(m.seed + 6):
            model = image_reward.ImageReward(size)
    else:
        path = hub_file(m.image_reward, "ImageReward.pt", "ImageReward model", "models.image_reward")
        model = image_reward.load_checkpoint(image_reward.ImageReward(image_reward.FULL),
                                             torch.load(path, map_location="cpu", weights_only=True))
        tokenizer = image_reward.prepare_tokenizer(_pretrained(
            BertTokenizer.from_pretrained, m.image_reward_tokenizer, "ImageReward tokenizer",
            "models.image_reward_tokenizer"))
        if len(tokenizer) != image_reward.FULL.vocab_size:  # offline, transformers returns an empty tokenizer
            raise ModelUnavailableError(
                f"The ImageReward tokenizer '{m.image_reward_tokenizer}' has {len(tokenizer)} tokens, not the "
                f"30,524 of bert-base-uncased plus [DEC] and [ENC]; download bert-base-uncased once where the hub "
                f"is reachable, or set models.image_reward_tokenizer to a local folder that holds it.")
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


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's global RNG for weight initialisation without disturbing the caller's RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


# --- tiny builders: same classes as the released checkpoints, small seeded configs --------------
def _bytes_to_unicode() -> dict[int, str]:
    """The byte -> printable-character table of byte-level BPE (as in GPT-2 and CLIP)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(printable, map(chr, chars)))


def _apply_merges(pieces: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Byte-pair encoding of one word: repeatedly join the adjacent pair with the lowest merge rank."""
    while len(pieces) > 1:
        rank, i = min((ranks.get(pair, len(ranks)), i) for i, pair in enumerate(zip(pieces, pieces[1:])))
        if rank == len(ranks):
            break
        pieces = pieces[:i] + [pieces[i] + pieces[i + 1]] + pieces[i + 2:]
    return pieces


def build_tiny_tokenizer() -> CLIPTokenizer:
    """A CLIP BPE tokenizer over a fixed vocabulary: every byte, plus merges that spell ``TINY_WORDS``.

    Built in code from constants, so it is identical in every process and needs no download.
    """
    symbols = sorted(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for token in symbols + [s + "</w>" for s in symbols]:
        vocab.setdefault(token, len(vocab))
    merges: dict[tuple[str, str], int] = {}
    for word in TINY_WORDS:
        pieces = _apply_merges(list(word[:-1]) + [word[-1] + "</w>"], merges)
        while len(pieces) > 1:  # finish the word with new, lowest-priority merges
            merges[(pieces[0], pieces[1])] = len(merges)
            vocab.setdefault(pieces[0] + pieces[1], len(vocab))
            pieces = _apply_merges(pieces, merges)
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab.setdefault(special, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=list(merges), model_max_length=77)


def token_ids(tokenizer: CLIPTokenizer) -> dict[str, int]:
    """The special token ids a CLIP text config needs (the eos id picks the pooled token)."""
    return dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id)


def _tiny_text_config(tokenizer: CLIPTokenizer, **overrides) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_attention_heads=4,
        num_hidden_layers=2, max_position_embeddings=77, projection_dim=32, **token_ids(tokenizer), **overrides,
    )


def _assemble(unet, vae, text_encoder, tokenizer) -> StableDiffusionPipeline:
    return StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
        scheduler=DDIMScheduler(**SD2_SCHEDULER), safety_checker=None, feature_extractor=None,
        image_encoder=None, requires_safety_checker=False,
    )


def _tiny_stable_diffusion(seed: int) -> StableDiffusionPipeline:
    """Stable Diffusion at 32 px: a 2-level UNet on 16x16x4 latents, a 2-level VAE, a 2-layer text encoder."""
    tokenizer = build_tiny_tokenizer()
    with seeded(seed):
        unet = UNet2DConditionModel(
            sample_size=16, in_channels=4, out_channels=4, layers_per_block=1,
            block_out_channels=(32, 64), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
            attention_head_dim=(2, 4), use_linear_projection=True, norm_num_groups=32,
        )
    with seeded(seed + 1):
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(32, 64),
            down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
            layers_per_block=1, norm_num_groups=32, sample_size=32,
        )
    with seeded(seed + 2):
        text_encoder = CLIPTextModel(_tiny_text_config(tokenizer))
    return _assemble(unet, vae, text_encoder, tokenizer)


def _tiny_clip(seed: int) -> tuple[CLIPModel, CLIPProcessor]:
    """CLIP with a 2-layer ViT on 32 px images (patch 4) and a 2-layer text tower, 32-d embeddings."""
    tokenizer = build_tiny_tokenizer()
    config = CLIPConfig(
        text_config=_tiny_text_config(tokenizer).to_dict(),
        vision_config=dict(image_size=32, patch_size=4, hidden_size=32, intermediate_size=64,
                           num_attention_heads=4, num_hidden_layers=2, projection_dim=32),
        projection_dim=32,
    )
    with seeded(seed + 3):
        model = CLIPModel(config)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return model, CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)


# --- paper-shaped builders: the released architectures, seeded random weights ------------------
def paper_shaped_configs(tokenizer: CLIPTokenizer | None = None) -> dict:
    """The configs of Stable Diffusion 2 base's parts and of CLIP ViT-L/14 (``model_configs``), with
    the special token ids of ``tokenizer`` (default: the tiny one, whose ids all lie in their vocab)."""
    ids = token_ids(tokenizer or build_tiny_tokenizer())
    clip = model_configs.CLIP_VIT_L14
    return {
        "unet": dict(model_configs.SD2_UNET),
        "vae": dict(model_configs.SD2_VAE),
        "text_encoder": CLIPTextConfig(**model_configs.SD2_TEXT_ENCODER, **ids),
        "clip": CLIPConfig(**{**clip, "text_config": {**clip["text_config"], **ids}}),
    }


def _paper_shaped_stable_diffusion(seed: int) -> StableDiffusionPipeline:
    """Stable Diffusion 2 base's UNet (865.9M), VAE (83.7M) and text encoder (340.4M), random weights.
    The tokenizer is the tiny one: the cost of a prompt is its 77 positions, not its words."""
    tokenizer = build_tiny_tokenizer()
    configs = paper_shaped_configs(tokenizer)
    with seeded(seed):
        unet = UNet2DConditionModel(**configs["unet"])
    with seeded(seed + 1):
        vae = AutoencoderKL(**configs["vae"])
    with seeded(seed + 2):
        text_encoder = CLIPTextModel(configs["text_encoder"])
    return _assemble(unet, vae, text_encoder, tokenizer)


def _paper_shaped_clip(seed: int) -> tuple[CLIPModel, CLIPProcessor]:
    """CLIP ViT-L/14 (427.6M) with random weights, its image processor and the tiny tokenizer."""
    tokenizer = build_tiny_tokenizer()
    with seeded(seed + 3):
        model = CLIPModel(paper_shaped_configs(tokenizer)["clip"])
    image_processor = CLIPImageProcessor(**model_configs.CLIP_VIT_L14_PROCESSOR)
    return model, CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)


def _tiny_bert_tokenizer() -> BertTokenizer:
    """A WordPiece tokenizer over lowercase letters and ``TINY_WORDS``, as BLIP's captioner expects."""
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
    letters = list("abcdefghijklmnopqrstuvwxyz0123456789.,")
    vocab = special + sorted(set(TINY_WORDS)) + [c for c in letters if c not in TINY_WORDS]
    vocab += ["##" + c for c in letters]
    tokenizer = BertTokenizer(vocab=dict(zip(vocab, range(len(vocab)))), do_lower_case=True)
    tokenizer.add_special_tokens({"bos_token": "[DEC]"})
    return tokenizer


def tiny_blip(seed: int = 0) -> tuple[BlipForConditionalGeneration, BlipProcessor]:
    """BLIP captioner with a 1-layer ViT (32 px, patch 8) and a 1-layer text decoder, random weights."""
    tokenizer = _tiny_bert_tokenizer()
    config = BlipConfig(
        vision_config=dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64,
                           num_attention_heads=4, num_hidden_layers=1),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_attention_heads=4, num_hidden_layers=1, encoder_hidden_size=32,
                         max_position_embeddings=64, bos_token_id=tokenizer.bos_token_id,
                         pad_token_id=tokenizer.pad_token_id, sep_token_id=tokenizer.sep_token_id),
        projection_dim=32,
    )
    with seeded(seed + 4):
        model = BlipForConditionalGeneration(config)
    image_processor = BlipImageProcessor(size={"height": 32, "width": 32})
    return model, BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)
