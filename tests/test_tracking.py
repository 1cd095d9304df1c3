"""TensorBoard logs of DDPO (the CAN's: tests/styles/test_can.py): the CSV's numbers as scalars,
captioned sample grids, and training left exactly as it is without them."""

import dataclasses

import pandas as pd
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from clipcreate_lib import config, tracking
from clipcreate_lib.ddpo.trainer import Trainer
from clipcreate_lib.models import loaders


def board(run_dir) -> EventAccumulator:
    """The TensorBoard logs of the run in ``run_dir``, read as TensorBoard reads them."""
    events = EventAccumulator(str(run_dir / tracking.FOLDER), size_guidance={"images": 0})
    events.Reload()
    return events


def brightness(images, prompts):
    return {"reward": images.mean(dim=(1, 2, 3))}


def test_a_ddpo_run_logs_its_metrics_and_its_samples_and_trains_as_without(tmp_path):
    cfg = config.load("tiny", ddpo={"sample_batches": 1, "sample_steps": 4, "epochs": 2, "log_images_every": 2})
    runs = {}
    for on in (True, False):
        ddpo = dataclasses.replace(cfg.ddpo, tensorboard=on)
        runs[on] = Trainer(loaders.load_stable_diffusion(cfg), brightness, ddpo, tmp_path / str(on), progress=False)
        runs[on].train()
    for name, value in runs[True].state.params.items():
        assert torch.equal(value, runs[False].state.params[name]), name
    events, metrics = board(tmp_path / "True"), pd.read_csv(tmp_path / "True" / "metrics.csv")
    for name in ("reward_mean", "approx_kl", "clipfrac"):
        logged = [(e.step, e.value) for e in events.Scalars(name)]
        assert logged == [(e, pytest.approx(v, rel=1e-6)) for e, v in zip(metrics["epoch"], metrics[name])]
    assert [e.step for e in events.Scalars("sample_seconds")] == [1, 2]
    assert [e.step for e in events.Images("samples")] == [2]  # every log_images_every epochs
    assert not (tmp_path / "False" / tracking.FOLDER).exists()
    Trainer(loaders.load_stable_diffusion(cfg), brightness, cfg.ddpo, tmp_path / "True", progress=False)  # resumable


def test_a_captioned_grid_is_one_rgb_image_of_rows_of_four():
    grid = tracking.captioned_grid(torch.rand(5, 8, 8, 3).numpy(), [f"image {i}" for i in range(5)])
    assert grid.ndim == 3 and grid.shape[2] == 3 and 0 <= grid.min() and grid.max() <= 1
    assert grid.shape[0] / grid.shape[1] == pytest.approx(2 * 2.5 / (4 * 2.2), rel=0.02)  # two rows of four
