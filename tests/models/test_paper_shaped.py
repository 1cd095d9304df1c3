"""The paper-shaped profile: the released architectures with seeded random weights, for timing."""

import importlib.util
import json
import sys
import weakref

import pytest
import torch
from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPModel, CLIPProcessor, CLIPTextModel

from clipcreate_lib import config, paths
from clipcreate_lib.ddpo.trainer import Trainer
from clipcreate_lib.models import builders, image_reward, loaders

# Parameter counts of the released checkpoints: stabilityai/stable-diffusion-2-base (unet, vae,
# text_encoder) and openai/clip-vit-large-patch14, as their model cards and weight files give them.
RELEASED = {"unet": 865_910_724, "vae": 83_653_863, "text_encoder": 340_387_840, "clip": 427_616_513}


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def meta_build():
    """The paper-shaped builders run on the meta device: real shapes, no memory, no init time."""
    with torch.device("meta"):
        return builders.paper_shaped_stable_diffusion(0), builders.paper_shaped_clip(0)


def test_paper_shaped_models_have_the_released_architectures(meta_build):
    pipe, (clip, processor) = meta_build
    assert type(pipe) is StableDiffusionPipeline
    assert (type(pipe.unet), type(pipe.vae), type(pipe.text_encoder)) == (
        UNet2DConditionModel,
        AutoencoderKL,
        CLIPTextModel,
    )
    assert type(clip) is CLIPModel and type(processor) is CLIPProcessor
    counts = {
        "unet": _count(pipe.unet),
        "vae": _count(pipe.vae),
        "text_encoder": _count(pipe.text_encoder),
        "clip": _count(clip),
    }
    assert counts == RELEASED
    assert pipe.unet.config.cross_attention_dim == pipe.text_encoder.config.hidden_size == 1024
    assert pipe.unet.config.sample_size * pipe.vae_scale_factor == 512
    assert pipe.vae.config.scaling_factor == 0.18215
    assert pipe.scheduler.config.steps_offset == 1 and pipe.scheduler.config.set_alpha_to_one is False
    assert processor.image_processor.crop_size == {"height": 224, "width": 224}
    # attention runs through PyTorch's scaled_dot_product_attention by default, in every model
    for module in (pipe.unet, pipe.vae):
        assert {type(p).__name__ for p in module.attn_processors.values()} == {"AttnProcessor2_0"}
    assert pipe.text_encoder.config._attn_implementation == clip.config._attn_implementation == "sdpa"


def test_the_tiny_tokenizer_fits_the_released_vocabularies(meta_build):
    pipe, (clip, processor) = meta_build
    tokenizer = pipe.tokenizer
    assert len(tokenizer) <= pipe.text_encoder.config.vocab_size == clip.config.text_config.vocab_size == 49408
    assert pipe.text_encoder.config.eos_token_id == tokenizer.eos_token_id
    assert clip.config.text_config.eos_token_id == tokenizer.eos_token_id


def test_profile_loads_as_paper_settings_with_paper_shaped_models():
    shaped, paper = config.load("paper-shaped"), config.load("paper")
    assert shaped.models.source == "paper-shaped"
    assert shaped.ddpo == paper.ddpo and shaped.reward == paper.reward
    assert loaders.model_name(shaped.models, "clip") == "paper-shaped-seed0"


def test_loaders_dispatch_on_the_source(monkeypatch):
    cfg = config.load("paper-shaped", models={"device": "cpu"})
    tiny = config.load("tiny")
    monkeypatch.setattr(builders, "paper_shaped_stable_diffusion", lambda seed: builders.tiny_stable_diffusion(seed))
    monkeypatch.setattr(builders, "paper_shaped_clip", lambda seed: builders.tiny_clip(seed))
    pipe = loaders.load_stable_diffusion(cfg)
    assert pipe.unet.dtype == torch.float32  # a CPU computes in float32, whatever models.dtype says
    clip, _ = loaders.load_clip(cfg)
    assert not clip.training and not any(p.requires_grad for p in clip.parameters())
    assert loaders.model_name(tiny.models, "clip") == "tiny-seed0"
    with pytest.raises(loaders.ModelUnavailableError, match="has no BLIP captioner"):
        loaders.load_blip(cfg)


def test_paper_shaped_scorers_have_the_released_sizes(meta_build, monkeypatch):
    _, (clip, _) = meta_build
    cfg = config.load("paper-shaped")
    monkeypatch.setattr(loaders, "resolve_device", lambda m: torch.device("meta"))  # shapes only
    with torch.device("meta"):
        scorer = loaders.load_image_reward(cfg)
        head = loaders.load_aesthetic(cfg, clip)
    assert scorer.model.size == image_reward.FULL
    assert len(scorer.tokenizer) <= scorer.model.text.config.vocab_size == 30524  # its ids fit the vocabulary
    assert head.layers[0].in_features == 768 == clip.config.projection_dim


# --- benchmarks/gpu_epoch.py and gpu_sweep.py ---------------------------------------------------
def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, paths.REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as an import would: dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gpu_epoch():
    return _script("gpu_epoch")


@pytest.fixture(scope="module")
def gpu_sweep():
    return _script("gpu_sweep")


SMALL_EPOCH = [
    "--profile",
    "tiny",
    "--device",
    "cpu",
    "--repeats",
    "1",
    "--sample-batches",
    "1",
    "--sample-batch-size",
    "2",
    "--train-batch-size",
    "2",
    "--steps",
    "2",
    "--eval-batch",
    "2",
    "--eval-steps",
    "2",
]


def test_benchmark_runs_on_cpu_at_a_small_size_and_ends_with_the_ratio(gpu_epoch, capsys):
    gpu_epoch.main(SMALL_EPOCH + ["--eval-images", "3"])
    lines = capsys.readouterr().out.strip().splitlines()
    fields = {line.split(":", 1)[0]: line.split(":", 1)[1] for line in lines}
    seconds = float(fields["s/epoch"].split()[0])
    assert seconds > 0 and "peak memory" in fields
    assert fields["evaluation"].startswith(" 3 image(s) in batches of 2") and "(extrapolated)" in fields["evaluation"]
    assert "TFLOP per epoch (counted on the warm-up epoch)" in fields["compute"]
    assert "TFLOP per image" in fields["evaluation"]
    assert lines[-1] == f"ratio: {seconds / 504:.4f}"
    assert (
        fields["projection"].startswith(" 6 models x 100 epochs + 7 evaluations")
        and "1-hour goal" in fields["projection"]
    )
    assert "note" in fields  # a tiny CPU run is not the paper's work, and says so


def test_the_flop_counter_counts_matmuls_and_cpu_attention_forward_and_backward(gpu_epoch):
    """By hand: a (4 x 8) @ (8 x 16) product is 2 * 4 * 8 * 16 = 1024 FLOPs, and its backward twice
    that (the input's and the weight's gradients); attention over b=1, h=2, s=5, d=4 is two products
    of 2 * b * h * s * s * d = 400 FLOPs forward, and five backward: the four gradient products and
    the scores, which a fused kernel computes again rather than keep."""
    torch.manual_seed(0)
    x = torch.randn(4, 8, requires_grad=True)
    w = torch.randn(16, 8, requires_grad=True)
    q, k, v = (torch.randn(1, 2, 5, 4, requires_grad=True) for _ in range(3))
    with gpu_epoch.flop_counter() as counter:
        out = torch.nn.functional.linear(x, w).sum() + torch.nn.functional.scaled_dot_product_attention(q, k, v).sum()
    assert counter.get_total_flops() == 1024 + 2 * 400
    with gpu_epoch.flop_counter() as counter:
        out.backward()
    assert counter.get_total_flops() == 2 * 1024 + 5 * 400
    # the attention went through the CPU's fused kernel, which torch's own table does not count
    kernels = {str(op) for op in counter.get_flop_counts()["Global"]}
    assert "aten._scaled_dot_product_flash_attention_for_cpu_backward" in kernels


def test_benchmark_refuses_a_size_the_unet_cannot_take(gpu_epoch):
    pipe = loaders.load_stable_diffusion(config.load("tiny"))
    gpu_epoch.set_size(pipe, 64)
    assert pipe.unet.config.sample_size == 32
    with pytest.raises(SystemExit, match="--size 30 is not a multiple of 4"):
        gpu_epoch.set_size(pipe, 30)


def test_the_sweep_times_every_step_and_on_a_cpu_every_step_computes_the_same(gpu_sweep, tmp_path, capsys):
    gpu_sweep.main(SMALL_EPOCH + ["--eval-images", "2", "--skip", "compile", "--out", str(tmp_path)])
    results = json.loads((tmp_path / "gpu_sweep.json").read_text())
    steps = {s["name"]: s for s in results["steps"]}
    assert list(steps) == ["baseline", "tf32", "sdpa", "bf16", "batches", "channels_last"]
    assert all(s["epoch_seconds"] > 0 and s["flops"] > 0 for s in steps.values())
    assert steps["tf32"]["x_first"] == pytest.approx(
        steps["baseline"]["epoch_seconds"] / steps["tf32"]["epoch_seconds"]
    )
    # counted once, on the first step's warm-up, and every step's rate is of that count
    assert all(s["flops"] == results["epoch_flops"] for s in steps.values())
    # on a CPU TF32 and bf16 do not apply: every step computes in float32, and classic attention and
    # SDPA, contiguous and channels_last agree to rounding
    assert steps["baseline"]["rel_error"] == 0
    assert all(s["rel_error"] < 1e-4 for s in steps.values())
    # the weights do not change between sampling and the first update, so neither does the log-prob
    assert all(s["log_ratio_max"] < 1e-4 and s["log_ratio_clipped"] == 0 for s in steps.values())
    assert results["evaluation"]["images"] == 2 and results["evaluation"]["flops_per_image"] > 0
    assert results["sync"] is None  # the sync audit needs CUDA
    table = capsys.readouterr().out
    assert table.endswith((tmp_path / "gpu_sweep.md").read_text()) and "| channels_last |" in table


def test_a_sweep_from_the_defaults_takes_its_first_step_as_the_reference(gpu_sweep, tmp_path):
    gpu_sweep.main(
        SMALL_EPOCH + ["--skip", "baseline", "tf32", "sdpa", "batches", "compile", "evaluation", "--out", str(tmp_path)]
    )
    results = json.loads((tmp_path / "gpu_sweep.json").read_text())
    steps = {s["name"]: s for s in results["steps"]}
    assert list(steps) == ["bf16", "channels_last"]
    assert steps["bf16"]["rel_error"] == 0 and steps["bf16"]["x_first"] is None  # blank, as a baseline
    assert steps["channels_last"]["x_first"] == pytest.approx(
        steps["bf16"]["epoch_seconds"] / steps["channels_last"]["epoch_seconds"]
    )
    assert results["epoch_flops"] > 0 and results["evaluation"] is None


def test_the_sweeps_batches_step_samples_the_same_images_in_fewer_larger_calls(gpu_sweep):
    ladder = {name: options for name, _, options in gpu_sweep.LADDER}
    for argv, together, per_pass in (([], 4, 5), (SMALL_EPOCH, 1, 2)):
        args = gpu_sweep.parse_args(argv)
        before = gpu_sweep.step_config(args, ladder["bf16"]).ddpo
        after = gpu_sweep.step_config(args, ladder["batches"]).ddpo
        assert (after.sample_call_batches, after.timesteps_per_pass) == (together, per_pass)
        unchanged = ("sample_batches", "sample_batch_size", "train_batch_size", "sample_steps")
        assert all(getattr(after, name) == getattr(before, name) for name in unchanged)


def test_the_sweeps_log_ratio_check_frees_each_passs_graph_before_the_next(gpu_sweep, tmp_path):
    """The check scores with autograd on, as training does, so each pass's log-prob holds its
    forward's activations. Training frees them in backward before the next pass; the check must drop
    them too, or two graphs at once set the step's peak memory, not its epochs (on the H200 the
    bf16 step's 19.9 GiB against gpu_epoch's 11.8 GiB for the same settings)."""
    cfg = config.load("tiny", ddpo={"sample_batch_size": 2, "sample_steps": 3, "timesteps_per_pass": 1})
    pipe = loaders.load_stable_diffusion(cfg)
    trainer = Trainer(
        pipe, lambda images, prompts: {"reward": images.mean(dim=(1, 2, 3))}, cfg.ddpo, tmp_path, progress=False
    )
    score, scored = trainer.policy.log_probs, []

    def scoring(*args):
        assert all(ref() is None for ref in scored), "the previous pass's log-prob, and its graph, still live"
        log_prob = score(*args)
        assert log_prob.grad_fn is not None  # scored as training scores, with autograd on
        scored.append(weakref.ref(log_prob))
        return log_prob

    trainer.policy.log_probs = scoring
    ratios = gpu_sweep.log_ratio_before_update(trainer, seed=0)
    assert len(scored) == 3 and ratios.shape == (2 * 3,) and not ratios.requires_grad


def test_the_sweep_starts_nothing_past_its_budget_and_says_so(gpu_sweep, tmp_path):
    gpu_sweep.main(SMALL_EPOCH + ["--budget", "0", "--out", str(tmp_path)])
    results = json.loads((tmp_path / "gpu_sweep.json").read_text())
    assert all(s.get("note") == "skipped (budget)" and "epoch_seconds" not in s for s in results["steps"])
    assert results["evaluation"] is None and results["skipped"][0].startswith("baseline and after: not started")
    assert "skipped (budget)" in (tmp_path / "gpu_sweep.md").read_text()
