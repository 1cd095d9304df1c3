"""The study kit (anonymised, shuffled, key apart, reused, protected) and Table II's aggregation."""

import json
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from study_fixtures import MODELS, build

from clipcreate_lib import tables
from clipcreate_lib.evaluation import generation
from clipcreate_lib.figures import result_plots
from clipcreate_lib.stats import cluster_half_width, t_half_width
from clipcreate_lib.study import agreement, kit, questions, responses, survey, table2
from clipcreate_lib.study.questions import QUESTION_KEYS


def process_umask() -> int:
    """The process's umask, which only setting it can read: set and put back at once."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_the_questions_are_the_papers_word_for_word():
    q = {q.key: q for q in questions.QUESTIONS}
    assert list(q) == ["app", "nov", "sur", "amb", "com"]
    assert q["app"].text == "How much do you like this image"
    assert q["app"].scale == ("extremely dislike", "dislike", "Neutral", "like", "extremely like")
    assert q["nov"].scale[1] == "some how not novel" and q["nov"].scale[3] == "somehow novel"
    assert q["amb"].text == "Rate the ambiguity of the image. I find this image"
    assert q["com"].scale == ("extremely simple", "some how simple", "neutral", "somehow complex", "extremely complex")


def test_the_kit_names_no_model_and_its_key_lies_outside_it(tmp_path):
    cfg, dirs, key = build(tmp_path)
    kit_files = [f for f in (tmp_path / "kit").rglob("*") if f.is_file()]
    assert len(kit_files) == 1 + len(MODELS) * 3  # study.json and the images
    text = (tmp_path / "kit" / "study.json").read_text()
    assert not any(model in text or model.split("-")[0] in f.name for model in MODELS for f in kit_files)
    assert not (tmp_path / "kit" / "key.csv").exists() and (tmp_path / "key" / "key.csv").exists()
    assert (tmp_path / "kit").stat().st_mode & 0o777 == 0o777 & ~process_umask()  # not mkdtemp's private mode
    study = json.loads(text)
    assert [item["id"] for item in study["images"]] == list(key["image"]) and list(key["position"]) == list(
        range(1, 10)
    )
    assert [q["key"] for q in study["questions"]] == list(QUESTION_KEYS)
    for row in key.itertuples():  # every kit image is the evaluation image, byte for byte
        original = dirs[row.model] / "images" / f"{row.index:05d}.png"
        assert (tmp_path / "kit" / "images" / f"{row.image}.png").read_bytes() == original.read_bytes()
        assert row.seed == row.index and row.prompt == generation.prompt(row.index)
    assert key.groupby("model")["index"].apply(sorted).tolist() == [[0, 3, 6]] * 3  # same seeds per model


def test_the_order_is_shuffled_and_reproducible_from_the_seed(tmp_path):
    _, _, first = build(tmp_path / "a")
    _, _, again = build(tmp_path / "b")
    _, _, other = build(tmp_path / "c", seed=1)
    pd.testing.assert_frame_equal(first, again)
    assert list(first["model"]) != sorted(first["model"], key=MODELS.index)  # not model by model
    assert list(other["image"]) != list(first["image"])


def test_a_current_kit_is_reused_and_a_changed_one_is_not_replaced_while_answers_exist(tmp_path):
    cfg, dirs, key = build(tmp_path)
    stamp = (tmp_path / "kit" / "study.json").stat().st_mtime_ns
    again = kit.build_kit(cfg, dirs, tmp_path / "kit", tmp_path / "key" / "key.csv", tmp_path / "survey.sqlite")
    pd.testing.assert_frame_equal(again, key)
    assert (tmp_path / "kit" / "study.json").stat().st_mtime_ns == stamp
    (tmp_path / "survey.sqlite").write_bytes(b"answers")
    cfg.image_indices = [1, 2, 3]
    with pytest.raises(kit.KitChangedError, match="survey.sqlite holds answers"):
        kit.build_kit(cfg, dirs, tmp_path / "kit", tmp_path / "key" / "key.csv", tmp_path / "survey.sqlite")
    assert kit.current_kit(tmp_path / "kit") == key["kit"].iloc[0]  # untouched
    (tmp_path / "survey.sqlite").unlink()
    rebuilt = kit.build_kit(cfg, dirs, tmp_path / "kit", tmp_path / "key" / "key.csv", tmp_path / "survey.sqlite")
    assert rebuilt["kit"].iloc[0] != key["kit"].iloc[0] and sorted(set(rebuilt["index"])) == [1, 2, 3]
    assert len(list((tmp_path / "kit" / "images").iterdir())) == 9 and not list(tmp_path.glob(".kit*"))


def test_missing_evaluation_images_are_named(tmp_path):
    cfg, dirs, _ = build(tmp_path)
    cfg.image_indices = [0, 50]
    with pytest.raises(ValueError, match="has no image 50"):
        kit.build_kit(cfg, dirs, tmp_path / "k2", tmp_path / "key2.csv")
    with pytest.raises(FileNotFoundError, match="run notebook 05 first"):
        kit.build_kit(cfg, {m: tmp_path / "nowhere" for m in MODELS}, tmp_path / "k2", tmp_path / "key2.csv")


def _key():
    return pd.DataFrame({"kit": "k1", "image": ["a1", "a2", "b1"], "model": ["A", "A", "B"]})


def _answers(rows):
    return pd.DataFrame(
        [{"kit": "k1", "rater": r, "image": i, "question": q, "answer": a, "submitted_at": "t"} for r, i, q, a in rows],
        columns=responses.RESPONSE_COLUMNS,
    )


def test_table2_means_intervals_and_counts_by_hand():
    rows = [
        ("r1", "a1", "app", 1),
        ("r1", "a2", "app", 1),
        ("r2", "a1", "app", 5),  # A app: r1 1, 1; r2 5
        ("r1", "a1", "nov", 4),
        ("r2", "a2", "nov", 4),  # A nov: 4, 4 (no spread)
        ("r1", "b1", "app", 5),
    ]  # B app: a single answer
    table = table2.table2(_answers(rows), _key(), ["A", "B"], 0.95).set_index("model")
    # A app: mean 7/3; rater sums minus count x mean: 2 - 14/3 = -8/3 and 5 - 7/3 = 8/3, so the
    # standard error is sqrt(2 / 1 x 2 x 64/9) / 3 = 16/9, on 1 degree of freedom (two raters).
    t_975_1 = 12.706204736174698  # Student t, 1 degree of freedom, 97.5th percentile (printed tables)
    half = t_975_1 * 16 / 9
    assert table.loc["A", "app"] == pytest.approx(7 / 3) and table.loc["A", "app_n"] == 3
    assert table.loc["A", "app_raters"] == 2
    assert table.loc["A", "app_low"] == pytest.approx(7 / 3 - half) and table.loc["A", "app_high"] == pytest.approx(
        7 / 3 + half
    )
    assert (table.loc["A", ["nov", "nov_low", "nov_high"]] == 4).all() and table.loc["A", "nov_n"] == 2
    assert table.loc["B", "app"] == 5 and np.isnan(table.loc["B", "app_low"]) and table.loc["B", "app_n"] == 1
    assert table.loc["B", "app_raters"] == 1
    assert np.isnan(table.loc["B", "nov"]) and table.loc["B", "nov_n"] == 0 and table.loc["B", "nov_raters"] == 0
    assert list(table.reset_index().columns[:6]) == ["model", "app", "nov", "sur", "amb", "com"]
    assert list(table.columns[5:7]) == ["app_low", "app_high"]
    assert list(table.columns[-10:]) == [f"{q}_{c}" for c in ("n", "raters") for q in QUESTION_KEYS]


def test_with_equal_answers_per_rater_the_interval_is_the_t_interval_of_rater_means():
    rng = np.random.default_rng(0)
    leniency = rng.normal(0, 1, size=7)  # each rater's own offset, shared by all their answers
    answers = pd.Series([3 + leniency[r] + rng.normal(0, 0.5) for r in range(7) for _ in range(5)])
    raters = pd.Series([f"r{r}" for r in range(7) for _ in range(5)])
    rater_means = answers.groupby(raters).mean()
    low, high = stats.t.interval(0.9, len(rater_means) - 1, loc=rater_means.mean(), scale=stats.sem(rater_means))
    half = cluster_half_width(answers, raters, 0.9)
    assert answers.mean() - half == pytest.approx(low) and answers.mean() + half == pytest.approx(high)
    assert half > t_half_width(answers, 0.9) * 1.5  # answers taken as independent: far too narrow


def test_table2_refuses_answers_to_images_of_another_kit():
    answers = _answers([("r1", "a1", "app", 3)])
    answers.loc[0, "kit"] = "old"
    with pytest.raises(ValueError, match="outside the current kit k1"):
        table2.table2(answers, _key(), ["A"], 0.95)


def test_table2_display_shows_ours_with_interval_beside_the_papers():
    rows = [("r1", "a1", q, 3) for q in QUESTION_KEYS] + [("r2", "a1", q, 5) for q in QUESTION_KEYS]
    key = _key().assign(model=["kmeans-med", "kmeans-med", "base"])
    numbers = table2.table2(_answers(rows), key, ["kmeans-med", "base"], 0.95)
    shown = table2.table2_display(numbers)
    half = 12.706204736174698 * np.sqrt(2) / np.sqrt(2)  # t(0.975, 1) x std of (3, 5) / sqrt(2)
    # the bootstrap of two raters (3 and 5): resampled means 3, 4, 5 with chances 1/4, 1/2, 1/4
    assert shown.loc[0, "App (ours)"] == f"4.00 [{4 - half:.2f}, {4 + half:.2f}] boot [3.00, 5.00]"
    assert shown.loc[0, "App (paper)"] == "3.216" and shown.loc[0, "Com (paper)"] == "3.728"
    assert shown.loc[1, "App (ours)"] == tables.MISSING and shown.loc[1, "App (paper)"] == tables.MISSING
    assert list(shown["n"]) == ["2", "0"] and list(shown["raters"]) == ["2", "0"]


def test_response_files_prefer_human_answers_and_validate_them(tmp_path):
    assert responses.response_files(tmp_path) == ([], True)
    synthetic = tmp_path / "synthetic_example.csv"
    _answers([("s", "a1", "app", 2)]).to_csv(synthetic, index=False)
    assert responses.response_files(tmp_path) == ([synthetic], True)
    human = tmp_path / "survey.csv"
    _answers([("r1", "a1", "app", 2)]).to_csv(human, index=False)
    assert responses.response_files(tmp_path) == ([human], False)
    _answers([("r1", "a1", "app", 7)]).to_csv(human, index=False)
    with pytest.raises(ValueError, match="survey.csv row 2: question 'app' with answer '7'"):
        responses.read_responses([human])
    pd.DataFrame({"rater": ["r1"]}).to_csv(human, index=False)
    with pytest.raises(ValueError, match="lacks the column"):
        responses.read_responses([human])


def test_participant_ids_that_look_missing_are_raters_and_twice_given_answers_are_refused(tmp_path):
    rows = [(rater, "a1", "app", a) for rater, a in (("NA", 1), ("null", 5), ("None", 3), ("nan", 3))]
    _answers(rows).to_csv(tmp_path / "survey.csv", index=False)
    answers = responses.read_responses([tmp_path / "survey.csv"])
    assert list(answers["rater"]) == ["NA", "null", "None", "nan"]
    table = table2.table2(answers, _key(), ["A"], 0.95).set_index("model")
    assert table.loc["A", "app_raters"] == 4 and table.loc["A", "app_n"] == 4  # they were dropped as NaN
    _answers(rows[:1]).to_csv(tmp_path / "survey-old.csv", index=False)  # an earlier export kept beside it
    with pytest.raises(
        ValueError,
        match=r"rater NA answered 'app' for image a1 more than once \(in survey-old.csv, "
        r"survey.csv\)",
    ):
        responses.read_responses([tmp_path / "survey.csv", tmp_path / "survey-old.csv"])
    pd.DataFrame(
        [
            {"kit": "k1", "rater": "", "image": "a1", "question": "app", "answer": 2, "submitted_at": "t"},
            {"kit": "k1", "rater": "r1", "image": "a1", "question": "app", "answer": "", "submitted_at": "t"},
        ],
    ).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="row 3: question 'app' with answer 'nan'"):  # the blank answer, not row 2
        responses.read_responses([tmp_path / "bad.csv"])
    pd.DataFrame(
        [{"kit": "k1", "rater": "", "image": "a1", "question": "app", "answer": 2, "submitted_at": "t"}],
    ).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="bad.csv row 2 has no rater"):
        responses.read_responses([tmp_path / "bad.csv"])


def test_a_kit_id_that_looks_like_a_number_stays_text(tmp_path):
    key = pd.DataFrame({"kit": ["001234567890", "12345e678901"], "image": ["0a1b2c3d", "00001234"]})
    key.to_csv(tmp_path / "key.csv", index=False)
    pd.testing.assert_frame_equal(kit.read_key(tmp_path / "key.csv"), key)


def test_an_empty_survey_database_holds_no_answers_and_does_not_freeze_the_kit(tmp_path):
    cfg, dirs, key = build(tmp_path)
    db = tmp_path / "survey.sqlite"
    store = survey.AnswerStore(db)  # what starting the server once leaves behind
    assert not kit.holds_answers(db) and not kit.holds_answers(tmp_path / "none.sqlite")
    cfg.image_indices = [1, 2, 3]
    rebuilt = kit.build_kit(cfg, dirs, tmp_path / "kit", tmp_path / "key" / "key.csv", db)
    assert rebuilt["kit"].iloc[0] != key["kit"].iloc[0]
    store.record(rebuilt["kit"].iloc[0], "p1", rebuilt["image"].iloc[0], {q: 3 for q in QUESTION_KEYS})
    assert kit.holds_answers(db)
    cfg.image_indices = [0, 3, 6]
    with pytest.raises(kit.KitChangedError):
        kit.build_kit(cfg, dirs, tmp_path / "kit", tmp_path / "key" / "key.csv", db)


def test_synthetic_responses_answer_every_image_and_question_and_say_so(tmp_path):
    _, _, key = build(tmp_path)
    answers = responses.synthetic_responses(key, raters=4, seed=0)
    assert len(answers) == 4 * len(key) * 5 and answers["rater"].str.startswith("synthetic-").all()
    assert set(answers["answer"]) <= set(range(1, 6)) and (answers["submitted_at"] == "synthetic").all()
    counts = table2.table2(answers, key, MODELS, 0.95)[[f"{q}_n" for q in QUESTION_KEYS]]
    assert (counts == 4 * 3).all().all()
    raters = table2.table2(answers, key, MODELS, 0.95)[[f"{q}_raters" for q in QUESTION_KEYS]]
    assert (raters == 4).all().all()


def test_the_rater_bootstrap_resamples_raters_with_all_their_answers():
    rng = np.random.default_rng(1)
    leniency = rng.normal(0, 1, size=9)
    answers = pd.Series([3 + leniency[r] + rng.normal(0, 0.5) for r in range(9) for _ in range(4)])
    raters = pd.Series([f"r{r}" for r in range(9) for _ in range(4)])
    low, high = agreement.rater_bootstrap(answers, raters, 0.9, 2000, seed=5)
    # equal answers per rater: the same as scipy's bootstrap of the raters' own means, same draws
    means = answers.groupby(raters).mean().to_numpy()
    reference = stats.bootstrap(
        (means,), np.mean, n_resamples=2000, confidence_level=0.9, method="percentile", rng=np.random.default_rng(5)
    ).confidence_interval
    assert (low, high) == pytest.approx((reference.low, reference.high), rel=1e-12)
    half = cluster_half_width(answers, raters, 0.9)
    assert 0.6 < (high - low) / (2 * half) < 1.2  # close to the clustered interval, far from the naive one
    assert (high - low) > 2 * t_half_width(answers, 0.9) * 1.5
    assert np.isnan(agreement.rater_bootstrap(answers[:4], raters[:4], 0.9, 100, seed=0)).all()  # one rater


def test_krippendorffs_ordinal_alpha_against_a_hand_computed_example():
    # Units rated (1, 1), (2, 3), (3, 3), and a fourth rated once (not pairable, left out). Coincidences:
    # o11 = 2, o23 = o32 = 1, o33 = 2, so n1 = 2, n2 = 1, n3 = 3, n = 6. Ordinal distances
    # (sum of n_g from c to k, minus (n_c + n_k) / 2) squared: d12 = 1.5^2, d13 = 3.5^2, d23 = 2^2.
    # alpha = 1 - (n - 1) sum o d / sum n_c n_k d = 1 - 5 x 8 / (2 x (2 x 2.25 + 6 x 12.25 + 3 x 4)) = 7/9.
    ratings = pd.DataFrame([[1, 2, 3, np.nan], [1, 3, 3, 5]], index=["r1", "r2"], columns=list("abcd"))
    assert agreement.ordinal_alpha(ratings) == pytest.approx(7 / 9)
    assert agreement.ordinal_alpha(pd.DataFrame([[1, 2, 5], [1, 2, 5]])) == pytest.approx(1.0)  # full agreement
    assert np.isnan(agreement.ordinal_alpha(pd.DataFrame([[2, 2], [2, 2]])))  # no spread: undefined
    assert np.isnan(agreement.ordinal_alpha(pd.DataFrame([[1, np.nan], [np.nan, 4]])))  # nothing rated twice
    rows = [("r1", "a1", "app", 1), ("r2", "a1", "app", 1), ("r1", "a2", "app", 2), ("r2", "a2", "app", 3)]
    rows += [("r1", "b1", "app", 3), ("r2", "b1", "app", 3), ("r2", "b2", "app", 5)]
    table = agreement.agreement(_answers(rows)).set_index("question")
    assert table.loc["App", "alpha"] == pytest.approx(7 / 9) and table.loc["App", "images"] == 4
    assert table.loc["App", ["raters", "answers"]].tolist() == [2, 7] and np.isnan(table.loc["Nov", "alpha"])


def test_raters_who_fail_more_attention_checks_than_allowed_are_excluded():
    checks = pd.DataFrame(
        [
            ("k1", r, p, 2, a, "t")
            for r, p, a in [
                ("ok", "check-1", 2),
                ("ok", "check-2", 2),
                ("once", "check-1", 5),
                ("once", "check-2", 2),
                ("twice", "check-1", 1),
                ("twice", "check-2", 3),
                ("early", "check-1", 2),
            ]
        ],
        columns=responses.CHECK_COLUMNS,
    )
    assert responses.excluded_raters(checks, 0) == ["once", "twice"]
    assert responses.excluded_raters(checks, 1) == ["twice"] and responses.excluded_raters(checks, 2) == []
    assert responses.excluded_raters(checks.iloc[:0], 0) == []


def test_answer_shares_count_each_models_answers_per_question_and_the_figure_has_a_panel_each():
    key = pd.DataFrame({"kit": "k", "image": ["a", "b"], "model": ["m1", "m2"]})
    answers = pd.DataFrame(
        {
            "kit": "k",
            "rater": ["r1", "r2", "r3", "r1", "r2"],
            "image": ["a", "a", "a", "b", "b"],
            "question": "app",
            "answer": [1, 1, 4, 5, 5],
        }
    )
    shares = table2.answer_shares(answers, key, ["m2", "m1"])
    assert list(shares.itertuples(index=False, name=None)) == [
        ("m2", "app", 5, 2, 1.0),
        ("m1", "app", 1, 2, pytest.approx(2 / 3)),
        ("m1", "app", 4, 1, pytest.approx(1 / 3)),
    ]
    fig = result_plots.answer_distributions(shares, [("app", "App"), ("nov", "Nov")], "t")
    assert len(fig.axes) == 2 and len(fig.axes[0].patches) == 2 * 5  # a bar per model, a segment per answer
    plt.close(fig)
