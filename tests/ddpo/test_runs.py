"""Notebook 04's runs: what a run records of its reward settings, the rise of a per-epoch mean, and the
GPU each worker process gets."""

import os
import queue

import pytest
import torch
from scipy import stats

from clipcreate_lib import config
from clipcreate_lib.ddpo import runs


def test_only_kmeans_runs_record_the_kmeans_temperature():
    cfg = config.load("tiny", reward={"kmeans_temperature": 0.5})
    assert runs.reward_settings(cfg, "kmeans")["kmeans_temperature"] == 0.5
    for kind in ("disc", "clip"):
        settings = runs.reward_settings(cfg, kind)
        assert "kmeans_temperature" not in settings and settings["utility_weight"] == cfg.reward.utility_weight
    assert "kmeans_temperature" in config.to_dict(cfg.reward)  # the config itself is untouched


def test_reward_rise_and_its_welch_interval_match_scipys_two_sample_test():
    values = [1.0, 2.0, 2.5, 3.0, 4.0, 6.0]
    rise = runs.reward_rise(values, window=2)
    assert rise["first"] == 1.5 and rise["last"] == 5.0 and rise["rise"] == 3.5
    interval = stats.ttest_ind([4.0, 6.0], [1.0, 2.0], equal_var=False).confidence_interval(0.95)
    assert rise["low"] == pytest.approx(interval.low) and rise["high"] == pytest.approx(interval.high)
    flat = runs.reward_rise([2.0] * 4, window=2)
    assert flat["rise"] == 0 and flat["low"] == flat["high"] == 0
    with pytest.raises(ValueError, match="at least 6 epochs; there are 5"):
        runs.reward_rise(values[:5], window=3)


def test_worker_i_trains_on_gpu_i_alone(monkeypatch):
    """Checked with a fake device list: the GPUs' names as CUDA_VISIBLE_DEVICES gives them."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4, 6")
    assert runs.visible_gpus() == ["4", "6"]
    assert runs.worker_devices(3, runs.visible_gpus()) == ["4", "6", "4"]  # round again past the last GPU
    assert runs.worker_devices(2, []) == [None, None]  # no GPU: the workers run on the CPU
    free = queue.Queue()
    for device in ("6", None):
        free.put(device)
    runs.start_worker(False, free)  # what a worker does first, before anything starts CUDA in it
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "6"
    runs.start_worker(False, free)  # a CPU worker leaves the variable as it found it
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "6" and torch.get_num_threads() == 1
