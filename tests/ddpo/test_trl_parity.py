"""Our DDPO core against trl 0.23.1's DDPOTrainer, the last trl release that has one.

Same tiny Stable Diffusion (saved once, loaded by both), same seed, same batch. Tolerances: our
sampler and trl's draw the same noise in the same order, so latents, images and log-probs agree to
float32 rounding (atol 1e-5; log-probs, which are O(1), 1e-4); the PPO loss, approx-KL, clip
fraction and the LoRA gradients of one training batch agree to 1e-5 relative.
"""

import accelerate
import numpy as np
import pytest
import torch

accelerate.PartialState()  # trl's trainer expects accelerate's state to exist before it is built

from trl import DDPOConfig, DDPOTrainer, DefaultDDPOStableDiffusionPipeline  # noqa: E402
from trl.trainer.utils import PerPromptStatTracker as TrlStatTracker  # noqa: E402

from clipcreate_lib import config  # noqa: E402
from clipcreate_lib.ddpo import policy, ppo  # noqa: E402
from clipcreate_lib.ddpo.trainer import Trainer  # noqa: E402
from clipcreate_lib.models import loaders, text_encoding  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore:DDPOTrainer is deprecated:DeprecationWarning", "ignore:`_encode_prompt\\(\\)` is deprecated:FutureWarning"
)
STEPS, GUIDANCE, ETA = 10, 5.0, 1.0
PROMPTS = ["painting", "drawing", "art", "painting"]


@pytest.fixture(scope="module")
def saved_pipeline(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-sd")
    loaders.load_stable_diffusion(config.load("tiny")).save_pretrained(folder)
    return folder


def _ours(folder):
    cfg = config.load("tiny", models={"source": "pretrained", "stable_diffusion": str(folder)})
    return loaders.load_stable_diffusion(cfg)


def _trls(folder):
    pipe = DefaultDDPOStableDiffusionPipeline(str(folder), use_lora=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _embeddings(pipe):
    return text_encoding.encode_prompts(pipe, PROMPTS), text_encoding.encode_prompts(pipe, [""])


def test_sampled_latents_images_and_log_probs_match_trl(saved_pipeline):
    ours, theirs = _ours(saved_pipeline), _trls(saved_pipeline)
    prompts, negative = _embeddings(ours)
    trajectory = policy.sample(ours, prompts, negative, STEPS, GUIDANCE, ETA, torch.Generator().manual_seed(0))
    # trl draws its per-step noise from torch's global generator even when given one, so it gets
    # none: then the initial latents come from the global generator too, in our sampler's order
    torch.manual_seed(0)
    with torch.no_grad():
        out = theirs(
            prompt_embeds=prompts,
            negative_prompt_embeds=negative.repeat(len(PROMPTS), 1, 1),
            num_inference_steps=STEPS,
            guidance_scale=GUIDANCE,
            eta=ETA,
            output_type="pt",
        )
    torch.testing.assert_close(trajectory.latents, torch.stack(out.latents, dim=1), rtol=0, atol=1e-5)
    torch.testing.assert_close(trajectory.log_probs, torch.stack(out.log_probs, dim=1), rtol=0, atol=1e-4)
    torch.testing.assert_close(trajectory.images, out.images, rtol=0, atol=1e-5)
    assert trajectory.log_probs.isfinite().all()


def test_ppo_loss_and_gradients_match_trls_ddpo_trainer(saved_pipeline, tmp_path):
    ours, theirs = _ours(saved_pipeline), _trls(saved_pipeline)
    settings = dict(train_clip_range=1e-4, train_adv_clip_max=5.0, sample_eta=ETA, sample_guidance_scale=GUIDANCE)
    trl_trainer = DDPOTrainer(
        DDPOConfig(
            num_epochs=1,
            sample_num_steps=STEPS,
            sample_batch_size=4,
            train_batch_size=4,
            sample_num_batches_per_epoch=1,
            mixed_precision="no",
            log_with=None,
            **settings,
        ),
        lambda images, prompts, metadata: (images.mean(dim=(1, 2, 3)), {}),
        lambda: ("art", {}),
        theirs,
    )
    cfg = config.load("tiny").ddpo
    our_trainer = Trainer(ours, lambda i, p: {"reward": i.mean(dim=(1, 2, 3))}, cfg, tmp_path, progress=False)
    trl_params = dict(theirs.unet.named_parameters())
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():  # one set of adapter weights for both, away from zero so the ratios move
        for name, p in our_trainer.state.params.items():
            p.copy_(trl_params[name] + 0.02 * torch.randn(p.shape, generator=generator))
            trl_params[name].copy_(p)

    prompts, negative = _embeddings(ours)
    old = policy.sample(
        _ours(saved_pipeline), prompts, negative, STEPS, GUIDANCE, ETA, torch.Generator().manual_seed(2)
    )
    advantages = torch.tensor([1.5, -0.7, 9.0, -2.0])  # 9.0 exercises the advantage clip
    embeddings = policy.condition(negative, prompts, GUIDANCE)
    theirs.scheduler.set_timesteps(STEPS)  # sampling would have set them
    ours.scheduler.set_timesteps(STEPS)
    clipped_somewhere = []
    for j, t in enumerate(old.timesteps):
        theirs.unet.zero_grad()
        ours.unet.zero_grad()
        trl_loss, trl_kl, trl_clipfrac = trl_trainer.calculate_loss(
            old.latents[:, j],
            t.repeat(len(PROMPTS)),
            old.latents[:, j + 1],
            old.log_probs[:, j],
            advantages,
            embeddings,
        )
        noise = policy.guided_noise(ours.unet, old.latents[:, j], t, embeddings, GUIDANCE)
        _, log_prob = policy.ddim_step(
            ours.scheduler, noise, t, old.latents[:, j], ETA, prev_sample=old.latents[:, j + 1]
        )
        loss, kl, clipfrac = ppo.ppo_loss(
            log_prob, old.log_probs[:, j], advantages, cfg.clip_range, cfg.adv_clip_max, cfg.log_ratio_limit
        )
        torch.testing.assert_close(loss, trl_loss, rtol=1e-5, atol=1e-8)
        torch.testing.assert_close(kl, trl_kl, rtol=1e-4, atol=1e-12)
        torch.testing.assert_close(clipfrac, trl_clipfrac)
        clipped_somewhere.append(float(clipfrac))
        loss.backward()
        trl_loss.backward()
        for name, p in our_trainer.state.params.items():
            torch.testing.assert_close(p.grad, trl_params[name].grad, rtol=1e-4, atol=1e-9)
    assert 0 < max(clipped_somewhere) and min(clipped_somewhere) < 1  # both PPO branches were exercised


def test_stat_tracker_matches_trls():
    rng = np.random.default_rng(0)
    ours, theirs = ppo.PerPromptStatTracker(16, 16), TrlStatTracker(16, 16)
    for _ in range(12):
        prompts = list(rng.choice(["painting", "drawing", "art"], size=8))
        rewards = rng.normal(size=8)
        np.testing.assert_allclose(ours.update(prompts, rewards), theirs.update(prompts, rewards), rtol=1e-12)
