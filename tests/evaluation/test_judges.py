"""Held-out judges, the creativity metrics and the judges table: against hand computations and scikit-learn."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import scipy.stats
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from clipcreate_lib import config
from clipcreate_lib.evaluation import creativity, judges, verdicts
from clipcreate_lib.figures import judge_plots
from clipcreate_lib.models import loaders
from clipcreate_lib.styles.rewards import style_ambiguity


def _blobs(n_per_class=20, classes=4, dim=8, spread=0.05, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))
    x = np.concatenate([c + spread * rng.normal(size=(n_per_class, dim)) for c in centres])
    y = np.repeat(np.arange(classes), n_per_class)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), y


def test_the_probe_is_sklearns_logistic_regression_and_sees_separable_styles():
    x, y = _blobs()
    classifier, accuracy = judges.probe(x, y, seed=0)
    assert accuracy == 1.0  # four tight, far-apart blobs
    # the same split and model, fitted independently: its probabilities are the softmax of our logits
    train_x, test_x, train_y, _ = train_test_split(x, y, test_size=0.5, stratify=y, random_state=0)
    reference = LogisticRegression(max_iter=2000).fit(train_x, train_y)
    logits = classifier(None, torch.from_numpy(test_x))
    np.testing.assert_allclose(torch.softmax(logits, -1).numpy(), reference.predict_proba(test_x), atol=1e-5)
    # and the ambiguity of a probe is -CE against uniform of those probabilities
    expected = np.log(reference.predict_proba(test_x)).mean(axis=1)
    np.testing.assert_allclose(style_ambiguity(logits).numpy(), expected, atol=1e-4)


def test_a_probe_on_noise_is_near_chance():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(200, 8)).astype(np.float32), np.repeat(np.arange(4), 50)
    _, accuracy = judges.probe(x, y, seed=0)
    assert accuracy < 0.45  # chance 0.25; a probe that leaked its test half would score far higher


def test_the_judge_clip_is_another_model_than_the_rewards():
    cfg = config.load("tiny")
    clip, _ = loaders.load_clip(cfg)
    judge, _ = loaders.load_judge_clip(cfg)
    assert loaders.model_name(cfg.models, "judge_clip") != loaders.model_name(cfg.models, "clip")
    assert not torch.equal(clip.visual_projection.weight, judge.visual_projection.weight)


def test_vendi_score_by_hand():
    assert creativity.vendi_score(np.ones((5, 3))) == pytest.approx(1.0)
    assert creativity.vendi_score(np.eye(4)) == pytest.approx(4.0)
    # two unit vectors at cosine c: K / n has eigenvalues (1 + c) / 2 and (1 - c) / 2
    c = 0.6
    x = np.array([[1.0, 0.0], [c, math.sqrt(1 - c**2)]])
    p = np.array([(1 + c) / 2, (1 - c) / 2])
    assert creativity.vendi_score(x) == pytest.approx(math.exp(-(p * np.log(p)).sum()))
    # per prompt: each prompt's images alone (one repeated image, then two orthogonal ones)
    rows = np.array([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    assert creativity.vendi_per_prompt(rows, ["a", "a", "b", "b"]) == pytest.approx((1.0 + 2.0) / 2)


def test_novelty_and_memorisation_on_hand_placed_points():
    dataset = np.array([[1.0, 0.0], [0.0, 1.0]])
    images = np.array([[1.0, 0.0], [1.0, 1.0], [-1.0, 0.0]])  # a copy, between the two, opposite the first
    # nearest cosine distances: 0, 1 - 1/sqrt(2), 1 (its nearest is (0, 1) at cosine 0)
    np.testing.assert_allclose(creativity.nearest_distances(images, dataset), [0, 1 - 1 / math.sqrt(2), 1], atol=1e-12)
    found = creativity.novelty(images, dataset, threshold=0.05)
    assert found["novelty"] == pytest.approx((0 + 1 - 1 / math.sqrt(2) + 1) / 3)
    assert found["memorised"] == pytest.approx(1 / 3)


def _scored(rise_own, rise_judge, n=30, seed=0):
    """base and one trained model (clip-full) with per-image ambiguities shifted by the given rises."""
    rng = np.random.default_rng(seed)
    own, judge = "ambiguity_clip-full", f"ambiguity_{judges.name('probe', 'full')}"
    base = pd.DataFrame({"index": range(n), own: rng.normal(size=n), judge: rng.normal(size=n)})
    model = base.copy()
    model[own] += rise_own + 0.1 * rng.normal(size=n)
    model[judge] += rise_judge + 0.1 * rng.normal(size=n)
    return {"base": base, "clip-full": model}, own, judge


def test_the_judges_table_pairs_by_index_with_a_t_interval_and_flags_a_rise_no_judge_sees():
    scored, own, judge = _scored(rise_own=1.0, rise_judge=0.0)
    table = verdicts.judges_table(scored)
    assert list(table["judge"]) == ["own", "probe"] and list(table["held_out"]) == [False, True]
    diff = scored["clip-full"][own] - scored["base"][own]
    low, high = scipy.stats.t.interval(0.95, len(diff) - 1, loc=diff.mean(), scale=scipy.stats.sem(diff))
    row = table.iloc[0]
    assert (row["rise"], row["low"], row["high"]) == pytest.approx((diff.mean(), low, high))
    flags = verdicts.verdicts(table).iloc[0]
    assert flags["own_rises"] and flags["judges_agreeing"] == 0 and flags["likely_hacking"]
    assert verdicts.display(table)["verdict"].iloc[0] == "likely reward hacking"
    # the same rise seen by the judge too is confirmed, not flagged
    confirmed = verdicts.verdicts(verdicts.judges_table(_scored(rise_own=1.0, rise_judge=1.0)[0])).iloc[0]
    assert confirmed["judges_agreeing"] == 1 and not confirmed["likely_hacking"]


def test_every_judge_figure_has_its_panels():
    table = verdicts.judges_table(_scored(1.0, 0.0)[0])
    fig = judge_plots.forest(table, "tiny")
    assert len(fig.axes[0].containers) == 2  # one interval series per judge
    heat = judge_plots.transfer(pd.DataFrame({"a": [0.1, -0.2], "b": [0.3, 0.0]}, index=["m1", "m2"]), "tiny")
    assert heat.axes[0].images[0].get_array().shape == (2, 2)
    panels = {s: {"base": np.arange(5.0), "m1": np.arange(5.0) + 1} for s in ("AVA", "ImageReward", "ambiguity")}
    assert len(judge_plots.distributions(panels, "tiny").axes) == 3
    plt.close("all")
