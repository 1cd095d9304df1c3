"""The probe's accuracy, confidence and intervals, and the re-learned word's ambiguity, against
values computed by hand."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clipcreate_lib.tokens import examples, probe, relearn, sweep


def test_the_wilson_interval_is_the_closed_form_score_interval():
    hits, n, z = 3, 10, stats.norm.ppf(0.975)
    p = hits / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    assert probe.wilson(hits, n, 0.95) == pytest.approx((centre - half, centre + half), abs=1e-9)


def test_accuracy_confidence_and_the_paired_gain_of_one_style():
    k, n = 1, 4
    token = np.tile([0.0, 3.0, 0.0], (n, 1))  # every image: the style wins
    name = np.array([[0.0, 3.0, 0.0], [3.0, 0.0, 0.0]] * 2)  # half of them
    bare = np.tile([3.0, 0.0, 0.0], (n, 1))  # none
    found = {kind: {"clip-full": logits} for kind, logits in zip(examples.KINDS, (token, name, bare))}
    (row,) = probe.rows("Cubism", found, {"clip-full": k}, 0.95)
    soft = lambda x: np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)  # noqa: E731
    assert (row["accuracy_token"], row["accuracy_name"], row["accuracy_bare"]) == (1.0, 0.5, 0.0)
    assert row["confidence_token"] == pytest.approx(np.e**3 / (np.e**3 + 2))
    gain = soft(token)[:, k] - soft(name)[:, k]
    assert row["gain_over_name"] == pytest.approx(gain.mean())
    half = stats.t.ppf(0.975, n - 1) * gain.std(ddof=1) / np.sqrt(n)
    assert row["gain_over_name_half"] == pytest.approx(half)
    assert row["accuracy_bare_low"] == 0.0 and 0 < row["accuracy_bare_high"] < 1
    assert "+" in probe.display(pd.DataFrame([row]))["token − name"].iloc[0]


def test_ambiguity_is_minus_the_cross_entropy_against_uniform():
    logits = np.array([[0.0, 0.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    found = relearn.ambiguity({"c": logits})["c"]
    assert found[0] == pytest.approx(-np.log(4))
    log_p = logits[1] - np.log(np.exp(logits[1]).sum())
    assert found[1] == pytest.approx(log_p.mean(), rel=1e-6)


def test_prompts_share_subjects_and_seeds_across_kinds():
    prompts = [examples.probe_prompt(kind, "Ukiyo_e", 8) for kind in examples.KINDS]
    assert prompts == [
        "a painting of a woman by <ukiyo_e>",
        "a painting of a woman in the style of Ukiyo e",
        "a painting of a woman",
    ]
    assert examples.audit_prompt("painting", 9) == "painting of a woman "  # the evaluation's prompt 1, as spaced
    with pytest.raises(ValueError, match="Unknown probe prompt"):
        examples.probe_prompt("photo", "Ukiyo_e", 0)


def test_a_sweep_row_takes_the_models_own_classifier_and_base_the_mean_of_all():
    scored = pd.DataFrame(
        {
            "alignment": [0.1, 0.3],
            "ava": [5, 6],
            "ir": [0, 1],
            "ambiguity_clip-full": [-3.0, -3.2],
            "ambiguity_disc-med": [-2, -2],
        }
    )
    own = sweep.row("clip-full", 7.5, scored, 0.4)
    assert own["ambiguity_own"] == pytest.approx(-3.1) and own["ava"] == 5.5 and own["diversity"] == 0.4
    assert sweep.row("base", 7.5, scored, 0.4)["ambiguity_own"] == pytest.approx(np.mean([-3.0, -3.2, -2, -2]))
