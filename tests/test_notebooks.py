"""Every notebook driven the way run_all.sh drives it: jupytext -> papermill with the profile and
the overrides as its two parameters, in order, each rerun where reuse is what it should do."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import papermill
import pytest
import torch
from scipy import stats

from clipcreate_lib import artifacts, config, paths, tables
from clipcreate_lib.ddpo import records, runs
from clipcreate_lib.evaluation import generation
from clipcreate_lib.guidance import runs as guidance_runs
from clipcreate_lib.models import loaders
from clipcreate_lib.study import questions, survey, table2
from clipcreate_lib.styles import can


def _execute(name, tmp_path, **overrides):
    source = paths.NOTEBOOKS / f"{name}.py"
    notebook = tmp_path / f"{name}.ipynb"
    subprocess.run(
        [sys.executable, "-m", "jupytext", "--quiet", "--to", "ipynb", str(source), "-o", str(notebook)], check=True
    )
    out = tmp_path / f"{name}.out.ipynb"
    papermill.execute_notebook(
        str(notebook),
        str(out),
        parameters={"profile": "tiny", "overrides": overrides},
        kernel_name="python3",
        progress_bar=False,
    )
    return "".join(
        "".join(o.get("text", "")) for c in json.loads(out.read_text())["cells"] for o in c.get("outputs", [])
    )


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    import os

    tmp_path = tmp_path_factory.mktemp("notebooks")
    old = os.environ.get("CLIPCREATE_WORKDIR")
    os.environ["CLIPCREATE_WORKDIR"] = str(tmp_path)
    small = {"data": {"images_per_style": 8}, "centroids": {"k_range": [2, 5, 10], "n_init": 1}}
    try:
        logs = [
            _execute("01_data", tmp_path, **small),
            _execute("02_centroids", tmp_path, **small),
            _execute("01_data", tmp_path, **small),
        ]
        yield tmp_path, logs
    finally:
        if old is None:
            os.environ.pop("CLIPCREATE_WORKDIR")
        else:
            os.environ["CLIPCREATE_WORKDIR"] = old


def test_notebook_01_writes_the_datasets_and_the_mediums_table(executed):
    root, logs = executed
    mediums = pd.read_csv(root / "figures" / "tiny" / "mediums.csv")
    assert list(mediums.columns) == ["style", "fraction", "n_images"] and len(mediums) == 10
    assert (mediums["n_images"] == 8).all() and mediums["fraction"].is_monotonic_decreasing
    for name in ("full", "mediums"):
        assert (root / "data" / "tiny" / "datasets" / name / "dataset_info.json").exists()
    captions = pd.read_csv(root / "data" / "tiny" / "datasets" / "captions.csv")
    assert len(captions) == 27 * 8
    assert (root / "figures" / "tiny" / "mediums_fractions.png").stat().st_size > 0
    assert "unreadable images skipped this run: 0" in logs[0]
    assert "reusing" in logs[2]  # the second run of 01 did not rebuild the dataset


def test_notebook_02_writes_centroids_and_text_embeddings(executed):
    root, _ = executed
    centroids = root / "data" / "tiny" / "centroids"
    assert np.load(centroids / "full.npy").shape == (27, 32)
    assert np.load(centroids / "mediums.npy").shape == (10, 32)
    assert np.load(centroids / "text_full.npy").shape == (27, 32)
    assert np.load(centroids / "text_mediums.npy").shape == (10, 32)
    labels_full = json.loads((centroids / "labels_full.json").read_text())
    chosen = set(pd.read_csv(root / "figures" / "tiny" / "mediums.csv")["style"])
    assert json.loads((centroids / "labels_mediums.json").read_text()) == [s for s in labels_full if s in chosen]
    inertia = pd.read_csv(centroids / "kmeans_inertia.csv")
    # k_range plus the chosen k (27 full, 10 mediums), each fitted once
    assert list(inertia[inertia["dataset"] == "full"]["k"]) == [2, 5, 10, 27]
    assert list(inertia[inertia["dataset"] == "mediums"]["k"]) == [2, 5, 10]
    assert (root / "figures" / "tiny" / "kmeans_elbow.png").stat().st_size > 0


def test_a_bad_parameter_stops_the_notebook_with_the_key_named(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIPCREATE_WORKDIR", str(tmp_path))
    with pytest.raises(papermill.PapermillExecutionError, match="key 'data.n_mediums' must be an integer"):
        _execute("01_data", tmp_path, data={"n_mediums": "ten"})
    assert not (tmp_path / "data").exists()  # nothing at all was written


@pytest.fixture(scope="module")
def executed_can(executed):
    """Notebook 03 on the data of ``executed``, twice: the second run must reuse the first."""
    root, _ = executed
    short = {"can": {"epochs": 1, "max_steps_per_epoch": 2, "batch_size": 8, "generator_channels": 64}}
    return root, [_execute("03_can", root, **short), _execute("03_can", root, **short)]


def test_notebook_03_saves_eval_mode_discriminators_with_the_labels_of_02(executed_can):
    root, logs = executed_can
    for name in ("full", "mediums"):
        target = root / "data" / "tiny" / "can" / name / "discriminator.pt"
        disc, labels = can.load_discriminator(target)
        assert labels == json.loads((root / "data" / "tiny" / "centroids" / f"labels_{name}.json").read_text())
        assert (disc.image_size, disc.n_styles, disc.training) == (64, len(labels), False)
        assert artifacts.read_made_from(target)["profile"] == "tiny"
        assert list(pd.read_csv(root / "data" / "tiny" / "can" / name / "losses.csv")["epoch"]) == [1]
        assert f"{name}: 0 of 1 epochs came from the checkpoint" in logs[0]
        assert f"{name}: 1 of 1 epochs came from the checkpoint" in logs[1]
    for figure in ("can_samples.png", "can_losses.png"):
        assert (root / "figures" / "tiny" / figure).stat().st_size > 0


@pytest.fixture(scope="module")
def executed_ddpo(executed_can):
    """Notebook 04 on the classifiers of 01-03: all six models for one epoch, then one of them
    continued to a second epoch from its checkpoint, and trained again with a second seed."""
    root, _ = executed_can
    one_epoch = {"ddpo": {"epochs": 1, "sample_batches": 1}}
    longer = {
        "ddpo": {"epochs": 2, "sample_batches": 1, "models": ["clip-med"], "seeds": [0, 1]},
        "draft": {"epochs": 2},
    }
    return root, [_execute("04_ddpo", root, **one_epoch), _execute("04_ddpo", root, **longer)]


def test_notebook_04_trains_all_six_models_and_resumes_one(executed_ddpo):
    root, logs = executed_ddpo
    for name in ("disc-full", "clip-full", "kmeans-full", "disc-med", "clip-med", "kmeans-med"):
        folder = root / "data" / "tiny" / "ddpo" / name
        metrics = pd.read_csv(folder / "metrics.csv")
        assert list(metrics["epoch"]) == ([1, 2] if name == "clip-med" else [1])
        n_classes = 27 if name.endswith("full") else 10
        assert (metrics["ambiguity_mean"] <= -np.log(n_classes) + 1e-6).all()  # -CE(p, U) <= -log N
        assert np.isfinite(metrics[["reward_mean", "utility_mean", "loss"]].to_numpy()).all()
        assert (folder / "lora" / "pytorch_lora_weights.safetensors").stat().st_size > 0
        assert f"{name}: 1 epochs" in logs[0]
    assert "clip-med: 2 epochs" in logs[1] and "from epoch 2" in logs[1]
    other_seed = pd.read_csv(root / "data" / "tiny" / "ddpo_seeds" / "clip-med-seed1" / "metrics.csv")
    assert list(other_seed["epoch"]) == [1, 2]
    assert not other_seed["ambiguity_mean"].equals(
        pd.read_csv(root / "data/tiny/ddpo/clip-med/metrics.csv")["ambiguity_mean"]
    )
    assert (root / "figures" / "tiny" / "ddpo_rewards.png").stat().st_size > 0
    assert (root / "figures" / "tiny" / "ddpo_samples.png").stat().st_size > 0
    kept = records.load_samples(root / "data" / "tiny" / "ddpo" / "clip-med")  # 1 epoch, then resumed to 2
    assert sorted(kept) == [1, 2] and kept[2].shape == (4, 32, 32, 3) and kept[2].dtype == torch.uint8
    draft = root / "data" / "tiny" / "draft" / "clip-full"  # tiny's DRaFT model: 1 epoch, then resumed to 2
    assert list(pd.read_csv(draft / "metrics.csv")["epoch"]) == [1, 2]
    assert json.loads((draft / "trained.json").read_text())["method"] == "draft"
    assert "clip-full by DRaFT-1: 1 epochs" in logs[0] and "clip-full by DRaFT-1: 2 epochs" in logs[1]


@pytest.fixture(scope="module")
def executed_eval(executed_ddpo):
    """Notebook 05 on the models of 04: 24 images each made by two worker processes, then 30 here (the
    first 24 reused), with clip-med's run of a second seed."""
    root, _ = executed_ddpo
    small = {"steps": 2, "batch_size": 12, "figure_images": [0, 9, 18]}
    first = _execute("05_evaluation", root, evaluation={**small, "images": 24, "processes": 2})
    stamps = {f: f.stat().st_mtime_ns for f in (root / "data" / "tiny" / "eval").glob("*/images/*.png")}
    second = _execute("05_evaluation", root, evaluation={**small, "images": 30}, ddpo={"seeds": [0, 1]})
    return root, [first, second], stamps


def test_notebook_05_writes_table1_the_proxies_and_figure1(executed_eval, tmp_path):
    root, logs, stamps = executed_eval
    rows = ["disc-full", "clip-full", "kmeans-full", "disc-med", "clip-med", "kmeans-med", "base"]
    table = pd.read_csv(root / "figures" / "tiny" / "table1.csv")
    assert list(table.columns) == ["model", "ava_mean", "ava_std", "ir_mean", "ir_std"]
    assert list(table["model"]) == rows and np.isfinite(table.iloc[:, 1:].to_numpy()).all()
    shown = tables.read_markdown(root / "figures" / "tiny" / "table1.md")
    assert list(shown["AVA (ours)"]) == [f"{m:.2f} ({s:.2f})" for m, s in zip(table["ava_mean"], table["ava_std"])]
    assert "30 images per model" in (root / "figures" / "tiny" / "table1.md").read_text()
    assert "not the paper's result" in (root / "figures" / "tiny" / "table1.tex").read_text()
    proxies = pd.read_csv(root / "figures" / "tiny" / "table1_proxies.csv")
    assert list(proxies["model"]) == rows and len([c for c in proxies if c.startswith("ambiguity_")]) == 6 + 6
    assert (proxies["ambiguity_clip-full"] <= -np.log(27) + 1e-6).all()
    for name in rows:
        scores = pd.read_csv(root / "data" / "tiny" / "eval" / name / "scores.csv")
        assert list(scores["index"]) == list(range(30)) and (scores["seed"] == scores["index"]).all()
        assert scores["prompt"][25] == scores["prompt"][1]
    rise = pd.read_csv(root / "figures" / "tiny" / "ambiguity_rise.csv").set_index("model")
    assert list(rise.index) == rows[:-1] and (rise["images"] == 30).all()
    base = pd.read_csv(root / "data" / "tiny" / "eval" / "base" / "scores.csv")
    for name in rows[:-1]:  # each model against base under its own classifier, recomputed from scores.csv
        own = pd.read_csv(root / "data" / "tiny" / "eval" / name / "scores.csv")[f"ambiguity_{name}"]
        assert rise.loc[name, "rise"] == pytest.approx((own - base[f"ambiguity_{name}"]).mean(), abs=1e-5)
        assert rise.loc[name, "low"] < rise.loc[name, "rise"] < rise.loc[name, "high"]
    assert len(stamps) == 7 * 24 and "making 7 sets, 2 at a time in worker processes" in logs[0]
    assert "disc-full with seed 1 is not trained" in logs[1]
    seeds = rise["seeds"].to_dict()
    assert seeds == {name: 2 if name == "clip-med" else 1 for name in rows[:-1]}
    other = pd.read_csv(root / "data" / "tiny" / "eval_seeds" / "clip-med-seed1" / "scores.csv")["ambiguity_clip-med"]
    main = pd.read_csv(root / "data" / "tiny" / "eval" / "clip-med" / "scores.csv")["ambiguity_clip-med"]
    expected = ((main - base["ambiguity_clip-med"]).mean() + (other - base["ambiguity_clip-med"]).mean()) / 2
    assert rise.loc["clip-med", "seed_rise"] == pytest.approx(expected, abs=1e-5)
    cfg = config.load("tiny", evaluation={"steps": 2, "images": 2})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a worker: the same order of summation in every kernel
    try:  # the images the workers made are the images this process makes
        here = generation.generate_model(cfg, "base", None, tmp_path, progress=False)
    finally:
        torch.set_num_threads(threads)
    for file in here["file"]:
        assert (tmp_path / file).read_bytes() == (root / "data" / "tiny" / "eval" / "base" / file).read_bytes()
    assert all(f.stat().st_mtime_ns == t for f, t in stamps.items())  # the second run reused the first's images
    assert "clip-med: 24 images (2 DDPO epochs)" in logs[0] and "base: 30 images (0 DDPO epochs)" in logs[1]
    for name in ("figure1.png", "figure1.pdf"):
        assert (root / "figures" / "tiny" / name).stat().st_size > 0


def test_notebook_05_judges_every_rise_with_held_out_classifiers_and_draws_the_results(executed_eval):
    root, logs, _ = executed_eval
    figures_dir = root / "figures" / "tiny"
    for dataset, chance in (("full", 1 / 27), ("mediums", 1 / 10)):  # the judge sees the styles
        accuracy = float(logs[1].split(f"judge probe on {dataset}: held-out accuracy ")[1].split()[0])
        assert accuracy > 2 * chance
    judged = pd.read_csv(figures_dir / "judges.csv")
    columns = ["model", "judge", "held_out", "base", "trained", "rise", "low", "high", "images"]
    assert list(judged.columns) == columns + ["seeds", "seed_rise", "seed_low", "seed_high"]  # over seeds too
    assert len(judged) == 6 * 4 and set(judged["judge"]) == {"own", "text", "kmeans", "probe"}
    rise = pd.read_csv(figures_dir / "ambiguity_rise.csv").set_index("model")
    own = judged[judged["judge"] == "own"].set_index("model")
    assert own["rise"].to_dict() == pytest.approx(rise["rise"].to_dict())  # the same comparison, twice
    assert (judged["seeds"] == np.where(judged["model"] == "clip-med", 2, 1)).all()  # every judge, over seeds
    base = pd.read_csv(root / "data" / "tiny" / "eval" / "base" / "scores.csv")
    model = pd.read_csv(root / "data" / "tiny" / "eval" / "kmeans-med" / "scores.csv")
    column = "ambiguity_judge-probe-med"  # recomputed from the saved per-image scores
    row = judged[(judged["model"] == "kmeans-med") & (judged["judge"] == "probe")].iloc[0]
    assert row["rise"] == pytest.approx((model[column] - base[column]).mean(), abs=1e-6)
    assert "likely reward hacking" in (figures_dir / "judges.md").read_text()
    proxies = pd.read_csv(figures_dir / "table1_proxies.csv")
    assert ((proxies["vendi"] >= 1) & (proxies["vendi"] <= 30)).all()
    assert proxies["memorised"].between(0, 1).all() and (proxies["novelty"] >= 0).all()
    for name in ("ambiguity_rise.png", "transfer.png", "score_distributions.png"):
        assert (figures_dir / name).stat().st_size > 0


def test_notebook_06_builds_the_kit_and_table2_from_synthetic_then_human_answers(executed_eval):
    root, _, _ = executed_eval
    rows = ["disc-full", "clip-full", "kmeans-full", "disc-med", "clip-med", "kmeans-med"]
    stale = root / "data" / "tiny" / "user_study" / "responses" / "synthetic_example.csv"  # of a kit built before
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("kit,rater,image,question,answer,submitted_at\nold0kit,synthetic-00,abc,app,3,synthetic\n")
    log = _execute("06_user_study", root)
    key = pd.read_csv(root / "data" / "tiny" / "user_study" / "key" / "key.csv")
    assert len(key) == 30 and sorted(set(key["index"])) == [0, 5, 10, 15, 20] and set(key["model"]) == set(rows)
    assert not any(m in (root / "data" / "tiny" / "user_study" / "kit" / "study.json").read_text() for m in rows)
    table = pd.read_csv(root / "figures" / "tiny" / "table2.csv")
    assert list(table.columns[:6]) == ["model", "app", "nov", "sur", "amb", "com"] and list(table["model"]) == rows
    assert (table["app_n"] == 25 * 5).all() and (table["app_raters"] == 25).all()  # 25 synthetic raters x 5 images
    for suffix in ("md", "tex"):
        assert "NOT human data" in (root / "figures" / "tiny" / f"table2.{suffix}").read_text()
    assert "no human responses: wrote a synthetic example" in log
    assert (root / "figures" / "tiny" / "table2.png").stat().st_size > 0
    assert (root / "figures" / "tiny" / "table2_answers.png").stat().st_size > 0

    store = survey.AnswerStore(root / "data" / "tiny" / "user_study" / "survey.sqlite")  # three raters answer by hand
    for rater, answer in (("h1", 2), ("h2", 4), ("h3", 3)):
        for image in key["image"][:7]:
            store.record(key["kit"][0], rater, image, {q: answer for q in questions.QUESTION_KEYS})
        store.record_check(key["kit"][0], rater, "check-1", 2, 5 if rater == "h3" else 2)  # h3 fails it
    log = _execute("06_user_study", root)
    assert "survey answers exported" in log and "105 answers from 3 raters in survey.csv" in log
    assert "1 raters excluded (more than 0 failed); 2 raters kept" in log
    table = pd.read_csv(root / "figures" / "tiny" / "table2.csv").set_index("model")
    counted = key["model"][:7].value_counts()
    assert table["com_n"].to_dict() == {m: 2 * counted.get(m, 0) for m in rows}
    assert table["com_raters"].to_dict() == {m: 2 if counted.get(m, 0) else 0 for m in rows}
    assert (
        "1 raters excluded for failing more than 0 of 2 attention checks"
        in (root / "figures" / "tiny" / "table2.md").read_text()
    )
    alphas = pd.read_csv(root / "figures" / "tiny" / "table2_agreement.csv")
    assert list(alphas["question"]) == [q.name for q in questions.QUESTIONS] and (alphas["raters"] == 2).all()
    assert (alphas["alpha"] < 0).all()  # h1 says 2 and h2 says 4 to every image: they never agree
    assert "NOT human data" not in (root / "figures" / "tiny" / "table2.md").read_text()
    shown = tables.read_markdown(root / "figures" / "tiny" / "table2.md")
    assert list(shown["App (paper)"]) == [f"{v:.3f}" for v in table2.PAPER_TABLE2["app"]]


def test_notebook_07_writes_table3_the_sweep_and_the_guidance_grid(executed_eval, tmp_path):
    root, _, _ = executed_eval
    protocol = {"steps": 2, "batch_size": 12, "images": 30}
    log = _execute("07_guidance", root, evaluation=protocol, guidance={"processes": 2})
    figures_dir, data = root / "figures" / "tiny", root / "data" / "tiny"
    table = pd.read_csv(figures_dir / "table3.csv")
    required = ["method", "classifier", "dataset", "ambiguity_rise", "ambiguity_rise_low", "ambiguity_rise_high"]
    required += ["ava_mean", "ir_mean", "diversity", "alignment", "seconds_per_image", "unet_evals_per_image"]
    assert set(required) <= set(table.columns)
    assert list(table["method"]) == ["base"] + ["ddpo"] * 6 + ["onestep"] * 6 + ["doodl"] * 6
    assert list(table["images"]) == [30] * 7 + [3] * 6 + [2] * 6 and table["subset"].iloc[-1] == "images 0-1"
    row = table[(table["method"] == "onestep") & (table["classifier"] == "kmeans-med")].iloc[0]
    guided = pd.read_csv(data / "guidance" / "onestep-kmeans-med" / "scores.csv")
    base = pd.read_csv(data / "eval" / "base" / "scores.csv").iloc[:3]
    rise = guided["ambiguity_kmeans-med"] - base["ambiguity_kmeans-med"]  # paired on (prompt, seed)
    assert row["ambiguity_rise"] == pytest.approx(rise.mean(), abs=1e-6)
    assert row["ambiguity_rise_low"] < row["ambiguity_rise"] < row["ambiguity_rise_high"]
    probe = guided["ambiguity_judge-probe-med"] - base["ambiguity_judge-probe-med"]  # the held-out judges too
    assert row["judge_probe_rise"] == pytest.approx(probe.mean(), abs=1e-6)
    assert table["judge_text_low"].iloc[1:].notna().all() and np.isnan(table["judge_text_low"].iloc[0])
    assert "held-out judges agreeing" in (figures_dir / "table3.md").read_text()
    assert (table["unet_evals_per_image"].iloc[7:] > 0).all() and (table["unet_backwards_per_image"].iloc[7:] > 0).all()
    assert "not the paper's result" in (figures_dir / "table3.md").read_text()
    assert len(pd.read_csv(figures_dir / "guidance_sweep.csv")) == 4
    assert int(log.split("largest pixel difference ")[1].split(" ")[0]) <= 1  # scale 0 redraws notebook 05's images
    for name in ("guidance_grid.png", "guidance_sweep.png"):
        assert (figures_dir / name).stat().st_size > 0
    assert "making 13 guided sets, 2 at a time in worker processes" in log
    paths.use_profile("tiny")
    cfg = config.load("tiny", evaluation=protocol)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a worker
    try:  # the DOODL images the workers made are the images this process makes
        clip, processor = loaders.load_clip(cfg)
        job = guidance_runs.GuidedSet("doodl", "kmeans-med", 2, tmp_path)
        here = guidance_runs.make_set(cfg, job, loaders.load_stable_diffusion(cfg), clip, processor, progress=False)
    finally:
        torch.set_num_threads(threads)
    for file in here["file"]:
        assert (tmp_path / file).read_bytes() == (data / "guidance" / "doodl-kmeans-med" / file).read_bytes()


def test_notebook_08_searches_both_cans_and_audits_the_search_random_z_and_every_model(executed_eval):
    root, _, _ = executed_eval
    small = {"starts": 4, "steps": 4, "population": 4, "generations": 2, "random_samples": 8, "grid_images": 2}
    _execute("08_latent_search", root, search=small)
    figures_dir = root / "figures" / "tiny"
    summary = pd.read_csv(figures_dir / "latent_search.csv")
    assert len(summary) == 2 * 2 * 4 and set(summary["method"]) == {"random z", "starts", "gradient", "NSGA-II front"}
    assert list(summary[summary["method"] == "gradient"]["n"]) == [4] * 4
    found = torch.load(root / "data" / "tiny" / "search" / "full.pt", weights_only=True)
    assert torch.allclose(found["gradient"][1]["z"].norm(dim=1), torch.tensor(10.0))  # on the shell, z_dim 100
    assert artifacts.read_made_from(root / "data" / "tiny" / "search" / "full.pt")["queries"] == [
        "a beautiful painting",
        "a beautiful landscape",
    ]
    bias = pd.read_csv(figures_dir / "style_bias.csv", keep_default_na=False)
    required = ["image_set", "classifier", "n", "entropy", "p_value", "top_style", "top_share"]
    assert set(required) <= set(bias.columns) and len(bias) == (2 + 4 + 7) * 6
    models = bias[bias["image_set"].str.startswith("eval: ") & (bias["image_set"] != "eval: base")]
    assert len(models) == 6 * 6 and (models["baseline"] == "eval: base").all() and (models["n"] == 30).all()
    shares = pd.read_csv(figures_dir / "style_bias_shares.csv")
    row = bias.iloc[-1]  # its G-test again, from the long table's counts and reference shares
    cell = shares[(shares["image_set"] == row["image_set"]) & (shares["classifier"] == row["classifier"])]
    observed, expected = cell["count"].to_numpy(), cell["count"].sum() * cell["reference_share"].to_numpy()
    g = 2 * sum(o * np.log(o / e) for o, e in zip(observed, expected) if o > 0)
    assert row["p_value"] == pytest.approx(stats.chi2.sf(g, len(cell) - 1), rel=1e-4, abs=1e-12)
    for name in ("latent_search_pareto.png", "latent_search_grid.png", "style_bias.png"):
        assert (figures_dir / name).stat().st_size > 0


def test_notebook_09_learns_tokens_relearns_a_word_and_sweeps_the_guidance_scale(executed_eval):
    root, _, _ = executed_eval
    tokens = {"probe_images": 2, "audit_images": 4, "sweep_models": ["base", "clip-med"], "sweep_images": 2}
    log = _execute("09_style_tokens", root, evaluation={"steps": 2}, tokens=tokens)
    figures_dir, data = root / "figures" / "tiny", root / "data" / "tiny"
    table = pd.read_csv(figures_dir / "style_tokens.csv")
    assert set(table["style"]) == {"Impressionism", "Ukiyo_e"} and (table["n"] == 2).all()
    assert {"accuracy_token", "accuracy_name", "accuracy_bare", "confidence_token", "gain_over_name"} <= set(
        table.columns
    )
    assert log.count("other rows bitwise unchanged: True") == 2
    assert "reloaded token <ukiyo_e>: largest pixel difference 0 / 255" in log
    assert (data / "tokens" / "ukiyo_e" / "learned_embeds.safetensors").stat().st_size > 0
    sweep = pd.read_csv(figures_dir / "guidance_scale.csv")
    assert list(zip(sweep["model"], sweep["scale"])) == [
        ("base", 1.0),
        ("base", 7.5),
        ("clip-med", 1.0),
        ("clip-med", 7.5),
    ]
    bias = pd.read_csv(figures_dir / "style_bias.csv", keep_default_na=False)
    mine = bias[bias["source"] == "09_style_tokens"]
    assert len(mine) == 2 * 6 and (mine["n"] == 4).all()
    assert (
        mine[mine["image_set"] == "tokens: painting (re-learned)"]["baseline"] == "tokens: painting (as trained)"
    ).all()
    assert "not the paper's result" in (figures_dir / "relearned_word.md").read_text()
    for name in ("style_tokens.png", "style_tokens_losses.png", "guidance_scale.png", "guidance_scale_strip.png"):
        assert (figures_dir / name).stat().st_size > 0


def test_models_trained_in_two_worker_processes_match_those_trained_in_turn(executed_ddpo, tmp_path, monkeypatch):
    root, _ = executed_ddpo
    shutil.copytree(
        root / "data" / "tiny", tmp_path / "data" / "tiny", ignore=shutil.ignore_patterns("eval", "user_study")
    )
    names = ["clip-full", "kmeans-med"]
    for name in names:
        shutil.rmtree(tmp_path / "data" / "tiny" / "ddpo" / name)
    monkeypatch.setenv("CLIPCREATE_WORKDIR", str(tmp_path))  # the workers inherit it, and the profile
    monkeypatch.setenv(paths.PROFILE_VARIABLE, "tiny")
    cfg = config.load("tiny", ddpo={"epochs": 1, "sample_batches": 1, "processes": 2})
    metrics = runs.train_all(cfg, names)
    for name in names:
        in_turn = pd.read_csv(root / "data" / "tiny" / "ddpo" / name / "metrics.csv").iloc[:1]
        measured = [c for c in in_turn.columns if not c.endswith("seconds")]
        np.testing.assert_allclose(
            metrics[name][measured].to_numpy(float), in_turn[measured].to_numpy(float), rtol=1e-6, atol=1e-9
        )
        assert (tmp_path / "data" / "tiny" / "ddpo" / name / "lora" / "pytorch_lora_weights.safetensors").exists()


def test_a_run_with_another_seed_trains_into_its_own_folder(executed_ddpo, tmp_path, monkeypatch):
    root, _ = executed_ddpo
    monkeypatch.setenv("CLIPCREATE_WORKDIR", str(root))
    monkeypatch.setenv(paths.PROFILE_VARIABLE, "tiny")
    cfg = config.load("tiny", ddpo={"epochs": 1, "sample_batches": 1, "seed": 7})
    metrics = runs.train(cfg, "clip-full", progress=False, out_dir=tmp_path / "seed7")
    assert (tmp_path / "seed7" / "metrics.csv").exists() and len(metrics) == 1
    seed0 = pd.read_csv(root / "data" / "tiny" / "ddpo" / "clip-full" / "metrics.csv").iloc[0]
    assert metrics["reward_mean"].iloc[0] != seed0["reward_mean"]  # other sampling noise, other images


def test_every_numbered_notebook_is_executed_by_this_file():
    """Each notebook runs once per test run, here (no second harness executes them)."""
    source = Path(__file__).read_text()
    names = sorted(p.stem for p in paths.NOTEBOOKS.glob("[0-9][0-9]_*.py"))
    assert names and all(f'_execute("{name}"' in source for name in names), names
