"""The CAN baseline: the paper's architectures, the eval-mode classifier, learning, and resume."""

import math

import datasets
import pandas as pd
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from clipcreate_lib import artifacts, paths, tracking
from clipcreate_lib.config import CanConfig, DataConfig
from clipcreate_lib.data import embedded, image_io, label_sets, wikiart
from clipcreate_lib.styles import can, can_training


def embedded_dataset(n_styles: int, per_style: int, size: int = 64):
    """The first ``n_styles`` styles of the embedded data, ``per_style`` images each."""
    cfg = DataConfig(source="embedded", image_size=size, images_per_style=per_style)
    names = list(wikiart.WIKIART_STYLES[:n_styles])
    records = [r for r in embedded.iter_embedded(cfg) if r.style in names]
    return datasets.Dataset.from_dict(
        {
            "image": [r.image for r in records],
            "style": [names.index(r.style) for r in records],
            "source_index": [r.index for r in records],
        },
        features=label_sets.features(names),
    )


def small_cfg(**overrides) -> CanConfig:
    small = {"image_size": 64, "generator_channels": 32, "batch_size": 4, "epochs": 1, "tensorboard": False}
    return CanConfig(**{**small, **overrides})


@pytest.mark.parametrize("size", can.SIZES)
def test_discriminator_has_8192_features_before_the_heads_at_every_size(size):
    disc = can.Discriminator(size, n_styles=5).eval()
    convs = [m for m in disc.features if isinstance(m, nn.Conv2d)]
    # 3 -> 32, then one channel-doubling conv per size above 32 px (1, 2, 3, 4), then two to 512.
    assert len(convs) == 1 + (int(math.log2(size)) - 5) + 2
    assert [c.out_channels for c in convs][-2:] == [512, 512]
    with torch.no_grad():
        features = disc.features(torch.zeros(1, 3, size, size))
        real_fake, style = disc(torch.zeros(1, 3, size, size))
    assert features.shape == (1, 8192)
    assert disc.real_fake.in_features == 8192 and disc.style[0].in_features == 8192
    assert real_fake.shape == (1,) and style.shape == (1, 5)
    assert (disc.image_size, disc.n_styles) == (size, 5)


@pytest.mark.parametrize("size", can.SIZES)
def test_generator_makes_images_of_its_size_in_tanh_range(size):
    torch.manual_seed(0)
    gen = can.Generator(size).eval()  # the paper's 2048 channels at 4 x 4
    assert gen.main[0].out_channels == 2048
    with torch.no_grad():
        images = gen(torch.randn(2, 100))
    assert images.shape == (2, 3, size, size)
    assert images.min() >= -1 and images.max() <= 1 and images.min() < 0 < images.max()


def test_samples_are_mapped_from_tanh_range_to_unit_range():
    assert can.to_unit_range(torch.tensor([-1.0, 0.0, 1.0])).tolist() == [0.0, 0.5, 1.0]
    assert can.to_disc_range(torch.tensor([0.0, 0.5, 1.0])).tolist() == [-1.0, 0.0, 1.0]
    gen = can.Generator(64, channels=32)
    first, again = can.sample(gen, 3, seed=7), can.sample(gen, 3, seed=7)
    assert first.shape == (3, 3, 64, 64) and first.min() >= 0 and first.max() <= 1
    assert torch.equal(first, again) and gen.training  # seeded, and the mode is given back


def test_unsupported_sizes_and_too_narrow_generators_are_rejected():
    with pytest.raises(ValueError, match="64, 128, 256, 512 px, not 96"):
        can.Discriminator(96, 5)
    with pytest.raises(ValueError, match="not 32"):
        can.Generator(32)
    with pytest.raises(ValueError, match="generator_channels must be at least 32"):
        can.Generator(256, channels=16)


def test_loaded_discriminator_is_frozen_and_gives_an_image_the_same_logits_in_any_batch(tmp_path):
    torch.manual_seed(0)
    disc = can.Discriminator(64, 3)
    path = can.save_discriminator(tmp_path / "disc.pt", disc, ["a", "b", "c"])
    loaded, labels = can.load_discriminator(path)
    assert labels == ["a", "b", "c"] and not loaded.training
    assert not any(p.requires_grad for p in loaded.parameters())
    image, others = torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(5, 3, 64, 64) * 2 - 1
    one = torch.cat([image, others[:3]])
    two = torch.cat([others[3:], image, others[:1]])
    assert torch.equal(loaded(one)[1][0], loaded(two)[1][2])
    assert torch.equal(loaded(one)[0][0], loaded(two)[0][2])
    # The same weights in train mode (the reference's reward): BatchNorm and Dropout make it random.
    loaded.train()
    assert not torch.equal(loaded(one)[1][0], loaded(two)[1][2])


def test_missing_discriminator_says_which_notebook_makes_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="run notebook 03"):
        can.load_discriminator(tmp_path / "nothing.pt")
    with pytest.raises(ValueError, match="2 labels for a discriminator with 3 styles"):
        can.save_discriminator(tmp_path / "d.pt", can.Discriminator(64, 3), ["a", "b"])
    assert not (tmp_path / "d.pt").exists()


def test_real_batches_are_resized_to_the_can_size_and_scaled_to_tanh_range():
    ds = embedded_dataset(n_styles=2, per_style=2, size=32)
    images, labels = can.real_batch(ds, [0, 3], 64)
    assert images.shape == (2, 3, 64, 64) and labels.tolist() == [0, 1]
    assert images.min() >= -1 and images.max() <= 1 and images.min() < -0.5


def test_style_accuracy_rises_above_chance_after_short_training(tmp_path):
    ds = embedded_dataset(n_styles=6, per_style=8)
    cfg = small_cfg(batch_size=16, epochs=8)
    torch.manual_seed(cfg.seed)
    untrained = can.style_accuracy(can.Discriminator(64, 6), ds)
    run = can_training.train(cfg, ds, {"test": "accuracy"}, tmp_path / "ckpt.pt", tmp_path / "losses.csv")
    trained = can.style_accuracy(run.discriminator, ds)
    assert trained > 0.5 > 1 / 6 and trained > untrained
    losses = pd.read_csv(tmp_path / "losses.csv")
    assert list(losses["epoch"]) == list(range(1, 9))
    assert losses["d_style"].iloc[-1] < losses["d_style"].iloc[0]
    assert list(losses.columns) == ["epoch", "d_loss", "d_adv", "d_style", "g_loss", "g_adv", "g_style", "style_acc"]
    assert losses["d_loss"].to_numpy() == pytest.approx((losses["d_adv"] + losses["d_style"]).to_numpy())
    assert losses["g_loss"].to_numpy() == pytest.approx((losses["g_adv"] + 0.1 * losses["g_style"]).to_numpy())


def test_resumed_training_ends_bit_identical_to_an_uninterrupted_run(tmp_path):
    ds = embedded_dataset(n_styles=3, per_style=4)
    key = {"test": "resume"}
    straight = can_training.train(small_cfg(epochs=2), ds, key, tmp_path / "a.pt", tmp_path / "a.csv")
    first = can_training.train(small_cfg(epochs=1), ds, key, tmp_path / "b.pt", tmp_path / "b.csv")
    torch.manual_seed(1234)  # whatever ran in between must not matter
    resumed = can_training.train(small_cfg(epochs=2), ds, key, tmp_path / "b.pt", tmp_path / "b.csv")
    assert (straight.resumed_from, first.resumed_from, resumed.resumed_from) == (0, 0, 1)
    for a, b in [(straight.generator, resumed.generator), (straight.discriminator, resumed.discriminator)]:
        for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(x, y), name
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv"))
    # A finished run is reused as it is; other settings, other data or a shorter run are refused.
    assert can_training.train(small_cfg(epochs=2), ds, key, tmp_path / "b.pt", tmp_path / "b.csv").resumed_from == 2
    saved = (tmp_path / "b.pt").read_bytes()
    with pytest.raises(RuntimeError, match=r"other settings or data \(can.lr\)"):
        can_training.train(small_cfg(epochs=2, lr=1e-3), ds, key, tmp_path / "b.pt", tmp_path / "b.csv")
    with pytest.raises(RuntimeError, match=r"\(data.other, data.test\)"):
        can_training.train(small_cfg(epochs=2), ds, {"other": "data"}, tmp_path / "b.pt", tmp_path / "b.csv")
    with pytest.raises(ValueError, match="already holds 2 epochs, more than can.epochs = 1"):
        can_training.train(small_cfg(epochs=1), ds, key, tmp_path / "b.pt", tmp_path / "b.csv")
    assert (tmp_path / "b.pt").read_bytes() == saved


def test_the_reward_resizes_generated_images_as_training_resized_real_ones():
    """``can.resize`` (the disc reward's) against PIL's bicubic (``real_batch``'s), on 512 px
    images with detail at every scale: within rounding to 8 bits, where bilinear was grey levels off."""
    noise = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    images = torch.nn.functional.interpolate(noise, size=(512, 512), mode="bicubic").clamp(0, 1)
    pils = [Image.fromarray((image.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()) for image in images]
    quantised = image_io.images_as_tensor(pils)  # what PIL resizes: the images in 8 bits
    for size in (64, 256):
        by_pil = image_io.images_as_tensor([im.resize((size, size), Image.Resampling.BICUBIC) for im in pils])
        ours = can.resize(quantised, size)
        assert ours.shape == (2, 3, size, size) and 0 <= ours.min() and ours.max() <= 1
        assert (ours - by_pil).abs().mean() < 0.5 / 255 and (ours - by_pil).abs().max() < 8 / 255
    assert can.resize(quantised, 512) is quantised


def test_a_published_discriminator_round_trips_for_its_profile_and_label_set(workdir):
    data = {"profile": "tiny", "source": "embedded", "mediums": ["Ukiyo_e", "Cubism"]}
    artifacts.mark_made_from(paths.dataset_dir("mediums"), data)
    torch.manual_seed(0)
    disc = can.Discriminator(64, 2)
    run = can_training.run_key(CanConfig(image_size=64), data)
    target = can.publish_discriminator("mediums", disc, ["Ukiyo_e", "Cubism"], "tiny", run, epochs=3)
    assert artifacts.read_made_from(target) == {"profile": "tiny", "data": data, "run": run, "epochs": 3}
    loaded, labels = can.load_published("mediums", "tiny")
    assert labels == ["Ukiyo_e", "Cubism"] and not loaded.training
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), disc.state_dict().values()))
    with pytest.raises(RuntimeError, match="made for profile 'tiny', not 'mini'; rerun notebook 03_can"):
        can.load_published("mediums", "mini")
    with pytest.raises(FileNotFoundError, match="run notebook 03_can first"):
        can.load_published("full", "tiny")


def test_can_training_leaves_the_callers_global_rng_as_it_was(tmp_path):
    ds = embedded_dataset(n_styles=2, per_style=4)
    cfg = small_cfg(max_steps_per_epoch=1, generator_channels=64)
    torch.manual_seed(5)
    before = torch.get_rng_state()
    can_training.train(cfg, ds, {"test": 1}, tmp_path / "checkpoint.pt", tmp_path / "losses.csv")
    assert torch.equal(torch.get_rng_state(), before)


def test_a_can_run_logs_its_losses_and_its_samples_and_trains_as_without(tmp_path):
    ds = embedded_dataset(n_styles=2, per_style=4)
    runs = {}
    for on in (True, False):
        cfg = small_cfg(max_steps_per_epoch=1, tensorboard=on, log_images_every=1)
        runs[on] = can_training.train(cfg, ds, {"test": 1}, tmp_path / str(on) / "c.pt", tmp_path / str(on) / "l.csv")
    assert runs[True].losses.equals(runs[False].losses)
    for name, value in runs[True].generator.state_dict().items():
        assert torch.equal(value, runs[False].generator.state_dict()[name]), name
    events = EventAccumulator(str(tmp_path / "True" / tracking.FOLDER), size_guidance={"images": 0})
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("g_loss")] == [
        (e, pytest.approx(v, rel=1e-6)) for e, v in zip(runs[True].losses["epoch"], runs[True].losses["g_loss"])
    ]
    assert [e.step for e in events.Images("samples")] == [1]
