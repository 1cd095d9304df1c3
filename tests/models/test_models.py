import dataclasses
import hashlib
import json
import math
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import (
    BlipForConditionalGeneration,
    BlipProcessor,
    CLIPModel,
    CLIPProcessor,
    CLIPTextModel,
    CLIPTokenizer,
)

from clipcreate_lib import paths
from clipcreate_lib.evaluation import scoring
from clipcreate_lib.models import builders, loaders, tokenizers
from clipcreate_lib.styles import classifiers


def _digest(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _sample(pipe: StableDiffusionPipeline) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return pipe(
        "painting of a man", num_inference_steps=3, guidance_scale=5.0, eta=1.0, generator=generator, output_type="pt"
    ).images


def test_tiny_stable_diffusion_has_the_paper_classes(tiny_cfg):
    pipe = loaders.load_stable_diffusion(tiny_cfg)
    assert type(pipe) is StableDiffusionPipeline
    assert type(pipe.unet) is UNet2DConditionModel
    assert type(pipe.vae) is AutoencoderKL
    assert type(pipe.text_encoder) is CLIPTextModel
    assert type(pipe.tokenizer) is CLIPTokenizer
    assert type(pipe.scheduler) is DDIMScheduler
    assert pipe.unet.config.cross_attention_dim == pipe.text_encoder.config.hidden_size
    assert _sample(pipe).shape == (1, 3, 32, 32)


def test_scheduler_uses_stable_diffusion_2_settings(tiny_cfg):
    sched = loaders.load_stable_diffusion(tiny_cfg).scheduler.config
    assert (sched.beta_schedule, sched.beta_start, sched.beta_end) == ("scaled_linear", 0.00085, 0.012)
    assert sched.steps_offset == 1 and sched.set_alpha_to_one is False and sched.clip_sample is False


def test_tiny_builds_are_identical(tiny_cfg):
    a, b = loaders.load_stable_diffusion(tiny_cfg), loaders.load_stable_diffusion(tiny_cfg)
    for part in ("unet", "vae", "text_encoder"):
        assert _digest(getattr(a, part)) == _digest(getattr(b, part))
    assert torch.equal(_sample(a), _sample(b))
    (clip_a, _), (clip_b, _) = loaders.load_clip(tiny_cfg), loaders.load_clip(tiny_cfg)
    assert _digest(clip_a) == _digest(clip_b)
    other = loaders.load_stable_diffusion(
        dataclasses.replace(tiny_cfg, models=dataclasses.replace(tiny_cfg.models, seed=1))
    )
    assert _digest(other.unet) != _digest(a.unet)


def test_tiny_builds_are_identical_across_processes(tiny_cfg):
    code = textwrap.dedent("""
        import hashlib, json, torch
        from clipcreate_lib import config
        from clipcreate_lib.models import loaders
        from tests.models.test_models import _digest, _sample
        cfg = config.load("tiny")
        pipe = loaders.load_stable_diffusion(cfg)
        clip, _ = loaders.load_clip(cfg)
        print(json.dumps([_digest(pipe.unet), _digest(pipe.vae), _digest(pipe.text_encoder), _digest(clip),
                          hashlib.sha256(_sample(pipe).numpy().tobytes()).hexdigest()]))
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=paths.REPO, capture_output=True, text=True, check=True)
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    pipe = loaders.load_stable_diffusion(tiny_cfg)
    clip, _ = loaders.load_clip(tiny_cfg)
    ours = [
        _digest(pipe.unet),
        _digest(pipe.vae),
        _digest(pipe.text_encoder),
        _digest(clip),
        hashlib.sha256(_sample(pipe).numpy().tobytes()).hexdigest(),
    ]
    assert ours == theirs


def test_tiny_tokenizer_is_deterministic_and_knows_the_prompt_words():
    a, b = tokenizers.build_tiny_tokenizer(), tokenizers.build_tiny_tokenizer()
    assert a.get_vocab() == b.get_vocab()
    text = ["painting of a man", "drawing of an animal ", "art of a city", "Ukiyo e by an artist"]
    assert a(text).input_ids == b(text).input_ids
    assert a.tokenize("painting of a man") == ["painting</w>", "of</w>", "a</w>", "man</w>"]
    assert all(len(a.tokenize(w)) == 1 for w in tokenizers.TINY_WORDS)
    assert a.tokenize("zebra")  # unknown words fall back to characters instead of failing
    ids = a("art").input_ids
    assert ids[0] == a.bos_token_id and ids[-1] == a.eos_token_id


def test_tiny_clip_has_the_paper_classes(tiny_cfg):
    model, processor = loaders.load_clip(tiny_cfg)
    assert type(model) is CLIPModel and type(processor) is CLIPProcessor
    assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_pretrained_path_loads_a_local_folder(tmp_path, tiny_cfg):
    """The paper profile's from_pretrained code path, on tiny models saved to disk (no hub)."""
    builders.tiny_stable_diffusion(0).save_pretrained(tmp_path / "sd")
    clip, clip_processor = builders.tiny_clip(0)
    clip.save_pretrained(tmp_path / "clip")
    clip_processor.save_pretrained(tmp_path / "clip")
    blip, blip_processor = builders.tiny_blip(0)
    blip.save_pretrained(tmp_path / "blip")
    blip_processor.save_pretrained(tmp_path / "blip")
    cfg = dataclasses.replace(
        tiny_cfg,
        models=dataclasses.replace(
            tiny_cfg.models,
            source="pretrained",
            stable_diffusion=str(tmp_path / "sd"),
            clip=str(tmp_path / "clip"),
            blip=str(tmp_path / "blip"),
        ),
    )
    pipe = loaders.load_stable_diffusion(cfg)
    assert type(pipe) is StableDiffusionPipeline and type(pipe.scheduler) is DDIMScheduler
    assert pipe.scheduler.config.steps_offset == 1
    assert torch.equal(_sample(pipe), _sample(loaders.load_stable_diffusion(tiny_cfg)))
    loaded_clip, loaded_processor = loaders.load_clip(cfg)
    assert _digest(loaded_clip) == _digest(clip) and type(loaded_processor) is CLIPProcessor
    loaded_blip, loaded_blip_processor = loaders.load_blip(cfg)
    assert type(loaded_blip) is BlipForConditionalGeneration and type(loaded_blip_processor) is BlipProcessor


def test_notebook_05s_scores_work_with_bfloat16_models_and_keep_float32_where_it_counts(
    tmp_path, tiny_cfg, monkeypatch
):
    """What a GPU run loads (frozen models in bfloat16), checked on the CPU: the ImageReward and AVA
    heads stay float32 (a bf16 head met float32 features and raised; its scores stepped by 1/32), and
    CLIP's logit scale stays float32 through from_pretrained (exp of log 100 in bf16 is 99)."""
    clip, clip_processor = builders.tiny_clip(0)
    clip.logit_scale.data.fill_(math.log(100.0))
    clip.save_pretrained(tmp_path / "clip")
    clip_processor.save_pretrained(tmp_path / "clip")
    cfg = dataclasses.replace(
        tiny_cfg, models=dataclasses.replace(tiny_cfg.models, source="pretrained", clip=str(tmp_path / "clip"))
    )
    images, prompts = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0)), ["art", "a painting", "art"]

    def scores():
        clip, processor = loaders.load_clip(cfg)
        text = classifiers.text(
            torch.randn(4, 32, generator=torch.Generator().manual_seed(1)), clip.logit_scale, list("ABCD")
        )
        table, _ = scoring.score(
            images,
            prompts,
            clip,
            processor,
            loaders.load_aesthetic(tiny_cfg, clip),
            loaders.load_image_reward(tiny_cfg),
            {"clip": text},
            batch_size=2,
        )
        return clip, table

    _, float32 = scores()
    monkeypatch.setattr(loaders, "inference_dtype", lambda m: torch.bfloat16)
    clip, bfloat16 = scores()
    assert clip.vision_model.embeddings.patch_embedding.weight.dtype == torch.bfloat16
    assert clip.logit_scale.dtype == torch.float32 and clip.logit_scale.exp().item() == pytest.approx(100.0, rel=1e-6)
    assert all(p.dtype == torch.float32 for p in loaders.load_aesthetic(tiny_cfg, clip).parameters())
    scorer = loaders.load_image_reward(tiny_cfg)
    assert all(p.dtype == torch.float32 for p in scorer.model.mlp.parameters())
    assert scorer.model.vision.embeddings.patch_embedding.weight.dtype == torch.bfloat16
    for column in ("ava", "ir", "alignment", "ambiguity_clip"):  # the same numbers, to bf16 precision
        assert bfloat16[column].to_numpy() == pytest.approx(float32[column].to_numpy(), rel=0.05, abs=0.05), column


OFFLINE_SCRIPT = textwrap.dedent("""
    import json
    from clipcreate_lib import config
    from clipcreate_lib.models import loaders
    cfg = config.load("paper", models={"device": "cpu"})
    messages = {}
    for loader in ("load_stable_diffusion", "load_clip", "load_blip"):
        try:
            getattr(loaders, loader)(cfg)
        except loaders.ModelUnavailableError as err:
            messages[loader] = str(err)
        else:
            messages[loader] = "LOADED"
    print("MESSAGES:", json.dumps(messages))
""")


@pytest.fixture(scope="module")
def offline_messages(tmp_path_factory):
    """Each paper-profile loader's error, in a process where the hub is off and the cache is empty."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path_factory.mktemp("hf"))}
    out = subprocess.run(
        [sys.executable, "-c", OFFLINE_SCRIPT], cwd=paths.REPO, env=env, capture_output=True, text=True, timeout=300
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("MESSAGES:")]
    assert lines, out.stdout + out.stderr
    return json.loads(lines[0].removeprefix("MESSAGES:"))


@pytest.mark.parametrize(
    "loader, model_id, key",
    [
        ("load_stable_diffusion", "stabilityai/stable-diffusion-2-base", "models.stable_diffusion"),
        ("load_clip", "openai/clip-vit-large-patch14", "models.clip"),
        ("load_blip", "Salesforce/blip-image-captioning-base", "models.blip"),
    ],
)
def test_offline_error_names_the_model_and_the_ways_to_provide_it(offline_messages, loader, model_id, key):
    message = offline_messages[loader]
    assert f"'{model_id}'" in message and "HF_HUB_OFFLINE=1 is set and it is not in the local cache" in message
    for needle in ("HF_HOME", key, "local folder"):
        assert needle in message
