"""The style-bias audit: its statistics on hand-made counts against the formulas computed here
independently, and the table that several notebooks add their image sets to."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from clipcreate_lib import config
from clipcreate_lib.models import loaders
from clipcreate_lib.paths import search_files
from clipcreate_lib.search import audit, bias_stats
from clipcreate_lib.styles.classifiers import StyleClassifier


def test_g_test_on_a_hand_made_table_is_two_sum_o_log_o_over_e():
    observed, shares = np.array([10, 5, 3, 2]), np.array([0.4, 0.3, 0.2, 0.1])
    expected = [8.0, 6.0, 4.0, 2.0]  # n = 20
    g = 2 * sum(o * math.log(o / e) for o, e in zip(observed, expected))
    assert bias_stats.g_test(observed, shares) == pytest.approx((g, 3, stats.chi2.sf(g, 3)))


def test_a_style_never_predicted_adds_nothing_to_g():
    g = 2 * (6 * math.log(6 / (10 / 3)) + 4 * math.log(4 / (10 / 3)))
    found, dof, p = bias_stats.g_test(np.array([6, 0, 4]), np.full(3, 1 / 3))
    assert (found, dof, p) == pytest.approx((g, 2, math.exp(-g / 2)))  # chi2 with 2 dof: sf(x) = exp(-x / 2)


def test_bad_reference_shares_are_refused():
    with pytest.raises(ValueError, match="positive reference share per style"):
        bias_stats.g_test(np.array([1, 2]), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="non-negative count per style"):
        bias_stats.shares_from_counts(np.array([3, -1]))


def test_entropy_residuals_and_reference_shares_by_hand():
    assert bias_stats.entropy(np.array([2, 2, 0])) == pytest.approx(math.log(2))
    assert bias_stats.entropy(np.array([0, 7])) == 0
    # E = (5, 3, 2): residuals (O - E) / sqrt(E)
    resid = bias_stats.residuals(np.array([8, 0, 2]), np.array([0.5, 0.3, 0.2]))
    np.testing.assert_allclose(resid, [3 / math.sqrt(5), -3 / math.sqrt(3), 0.0])
    np.testing.assert_allclose(bias_stats.shares_from_counts(np.array([9, 0, 1])), [9.5 / 11.5, 0.5 / 11.5, 1.5 / 11.5])


def test_the_monte_carlo_p_value_agrees_with_chi_square_when_counts_are_large():
    shares = np.array([0.5, 0.3, 0.2])
    observed = np.array([530, 290, 180])  # G about 4.9 on 2 dof: p about 0.09
    _, _, p = bias_stats.g_test(observed, shares)
    assert bias_stats.monte_carlo_p(observed, shares, 20_000, seed=0) == pytest.approx(p, abs=0.01)
    assert bias_stats.monte_carlo_p(np.array([5, 3, 2]), shares, 2_000, seed=0) == 1.0  # G = 0: every draw is as far


def test_homogeneity_is_the_g_test_of_the_two_row_table_without_empty_styles():
    model, base = np.array([10, 0, 5, 0]), np.array([5, 5, 5, 0])  # the last style: in neither set, left out
    table = np.array([[10, 0, 5], [5, 5, 5]], dtype=float)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    g = 2 * sum(o * math.log(o / e) for o, e in zip(table.ravel(), expected.ravel()) if o > 0)
    assert bias_stats.homogeneity(model, base) == pytest.approx((g, stats.chi2.sf(g, 2)))
    assert bias_stats.homogeneity(np.array([3, 0]), np.array([4, 0])) == (0.0, 1.0)


def one_hot(style: torch.Tensor, n: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(style, n).float()


@pytest.fixture
def auditor():
    """Two classifiers that read the style off the image: the red channel's mean, in thirds or halves."""
    clip, processor = loaders.load_clip(config.load("tiny"))
    thirds = StyleClassifier("t", ["A", "B", "C"], lambda x, e: one_hot((x[:, 0].mean((1, 2)) * 2.999).long(), 3))
    halves = StyleClassifier("h", ["P", "Q"], lambda x, e: one_hot((x[:, 0].mean((1, 2)) * 1.999).long(), 2))
    refs = {"thirds": np.array([0.5, 0.25, 0.25]), "halves": np.array([0.5, 0.5])}
    return audit.Auditor({"thirds": thirds, "halves": halves}, refs, "labels", clip, processor, batch_size=3)


def images(reds: list[float]) -> torch.Tensor:
    return torch.tensor(reds).view(-1, 1, 1, 1).expand(-1, 3, 32, 32).contiguous()


def test_an_image_set_gets_one_row_per_classifier_with_its_drift_from_a_baseline(auditor):
    base = auditor.audit("base", images([0.1, 0.5, 0.9, 0.1]))
    model = auditor.audit("model", images([0.9, 0.9, 0.9, 0.5, 0.1]), baseline=base)
    np.testing.assert_array_equal(base.counts["thirds"], [2, 1, 1])
    row = model.rows.set_index("classifier").loc["thirds"]
    assert (row["n"], row["top_style"], row["top_share"]) == (5, "C", pytest.approx(0.6))
    assert (row["over_style"], row["under_style"]) == ("C", "A")  # residuals: E = (2.5, 1.25, 1.25)
    g, _, p = bias_stats.g_test(np.array([1, 1, 3]), refs := np.array([0.5, 0.25, 0.25]))
    assert (row["g"], row["p_value"], row["over_ratio"]) == pytest.approx((g, p, 0.6 / refs[2]))
    assert row["entropy"] == pytest.approx(stats.entropy([1, 1, 3]))
    assert (row["baseline"], row["drift_style"], row["drift_change"]) == ("base", "C", pytest.approx(0.6 - 0.25))
    assert base.rows["baseline"].eq("").all() and base.rows["drift_change"].isna().all()
    shares = model.shares[model.shares["classifier"] == "thirds"]
    assert list(shares["share"]) == pytest.approx([0.2, 0.2, 0.6])
    with pytest.raises(ValueError, match="'empty' is empty"):
        auditor.audit("empty", images([]))


def test_each_source_replaces_only_its_own_rows(auditor, workdir):
    first = auditor.audit("search", images([0.1, 0.2]))
    other = auditor.audit("tokens", images([0.9]))
    audit.record([first], "08_latent_search", "tiny")
    audit.record([other], "09_style_tokens", "tiny")
    again = auditor.audit("search again", images([0.5, 0.5, 0.5]))
    files = audit.record([again], "08_latent_search", "tiny")  # a rerun of 08: its old rows go, 09's stay
    rows = audit.load_rows()
    assert list(zip(rows["source"], rows["image_set"])) == [
        ("08_latent_search", "search again"),
        ("08_latent_search", "search again"),
        ("09_style_tokens", "tokens"),
        ("09_style_tokens", "tokens"),
    ]
    shares = pd.read_csv(search_files.style_bias_shares_file())
    assert set(shares["image_set"]) == {"search again", "tokens"} and len(shares) == 2 * (3 + 2)
    assert "not the paper's result" in search_files.style_bias_stem().with_suffix(".md").read_text()
    assert search_files.style_bias_plot() in files and search_files.style_bias_plot().stat().st_size > 0
