"""Notebook 04's runs: what a run records of its reward settings, the rise of a per-epoch mean (over one
run's epochs and over seeds), and the GPU each worker process gets."""

import os
import queue

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from clipcreate_lib import config
from clipcreate_lib import stats as interval_stats
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


def test_the_seed_interval_is_the_exact_percentile_bootstrap():
    # two seeds: resampled means a, (a+b)/2, b with chances 1/4, 1/2, 1/4, so the 95% interval is [a, b]
    assert interval_stats.seed_interval(np.array([1.0, 3.0])) == (1.0, 3.0)
    # five seeds: against the exact distribution over all 5^5 equally likely resamples
    values = np.array([0.2, 1.1, 1.5, 2.0, 4.0])
    grid = np.stack(np.meshgrid(*[values] * 5, indexing="ij"), -1).reshape(-1, 5).mean(1)
    low, high = interval_stats.seed_interval(values)
    assert low == pytest.approx(np.quantile(grid, 0.025), abs=0.03)
    assert high == pytest.approx(np.quantile(grid, 0.975), abs=0.03)
    assert interval_stats.seed_interval(np.array([2.0, 2.0])) == (2.0, 2.0)
    assert np.isnan(interval_stats.seed_interval(np.array([1.0]))).all()


def test_the_rise_table_adds_the_spread_between_seeds():
    def run(values):
        return pd.DataFrame({"ambiguity_mean": values})

    metrics = {"clip-full": run([0.0, 0.0, 1.0, 1.0]), "kmeans-med": run([0.0, 1.0, 1.0, 2.0])}
    alone = runs.rise_table(metrics, {})
    assert list(alone["rise"]) == [1.0, 1.0] and "seeds" not in alone
    seeded = runs.rise_table(metrics, {1: {"clip-full": run([0.0, 0.0, 3.0, 3.0])}})
    row = seeded.set_index("model").loc["clip-full"]
    assert row["seeds"] == 2 and row["seed_rise"] == 2.0 and (row["seed_low"], row["seed_high"]) == (1.0, 3.0)
    assert seeded.set_index("model").loc["kmeans-med", "seeds"] == 1  # no other run: no interval
    assert np.isnan(seeded.set_index("model").loc["kmeans-med", "seed_low"])
