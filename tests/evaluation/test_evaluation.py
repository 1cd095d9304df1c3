"""The evaluation protocol: prompts and seeds, reusable image sets, scores, tables and Figure 1."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from diffusers import PNDMScheduler
from PIL import Image
from safetensors.torch import save_file

from clipcreate_lib import config, tables
from clipcreate_lib.ddpo import weights
from clipcreate_lib.evaluation import generation, results, scoring
from clipcreate_lib.figures import result_plots
from clipcreate_lib.models import clip_space, loaders
from clipcreate_lib.styles import classifiers


@pytest.fixture(scope="module")
def pipe():
    return loaders.load_stable_diffusion(config.load("tiny"))


def _settings(**overrides):
    return config.load("tiny", evaluation={"steps": 2, "batch_size": 4, **overrides}).evaluation


def test_the_24_prompts_are_the_papers_in_order():
    assert len(generation.PROMPTS) == 24 and len(set(generation.PROMPTS)) == 24
    assert (
        generation.PROMPTS[0] == "painting of a man "
        and generation.PROMPTS[13] == "art "
        and generation.PROMPTS[20] == "drawing of a city"
    )
    assert [generation.prompt(i) for i in (0, 24, 49)] == [
        generation.PROMPTS[0],
        generation.PROMPTS[0],
        generation.PROMPTS[1],
    ]


def _pixels(out_dir, manifest):
    return np.stack([np.asarray(Image.open(out_dir / f), dtype=np.int16) for f in manifest["file"]])


def test_a_partial_set_is_completed_to_the_images_of_an_uninterrupted_run(pipe, tmp_path, capsys):
    made_from = {"model": "base", "profile": "tiny"}
    whole = generation.generate(pipe, _settings(images=6), tmp_path / "whole", made_from, progress=False)
    assert list(whole["index"]) == list(range(6)) and list(whole["seed"]) == list(range(6))
    assert list(whole["prompt"]) == generation.PROMPTS[:6]
    generation.generate(pipe, _settings(images=3, batch_size=2), tmp_path / "parts", made_from, progress=False)
    first = {f: (tmp_path / "parts" / f).stat().st_mtime_ns for f in ["images/00000.png", "images/00002.png"]}
    parts = generation.generate(pipe, _settings(images=6, batch_size=3), tmp_path / "parts", made_from, progress=False)
    assert {f: (tmp_path / "parts" / f).stat().st_mtime_ns for f in first} == first  # reused, not remade
    # Each image has its own seeded generator, so batching changes at most float rounding (<= 1/255).
    assert np.abs(_pixels(tmp_path / "whole", whole) - _pixels(tmp_path / "parts", parts)).max() <= 1
    assert len(pd.read_csv(tmp_path / "parts" / generation.MANIFEST)) == 6
    # A smaller set is the first images of the stored one.
    assert list(
        generation.generate(pipe, _settings(images=2), tmp_path / "parts", made_from, progress=False)["index"]
    ) == [0, 1]
    assert "making them again" not in capsys.readouterr().out


def test_a_set_made_with_other_settings_is_remade_not_mixed(pipe, tmp_path, capsys):
    made_from = {"model": "base", "profile": "tiny"}
    old = generation.generate(pipe, _settings(images=2), tmp_path, made_from, progress=False)
    before = _pixels(tmp_path, old)
    new = generation.generate(pipe, _settings(images=2, steps=3), tmp_path, made_from, progress=False)
    assert "made with other steps; making them again" in capsys.readouterr().out
    assert not np.array_equal(before, _pixels(tmp_path, new))
    provenance = json.loads((tmp_path / (generation.MANIFEST + ".json")).read_text())
    assert provenance["steps"] == 3 and provenance["prompts"] == generation.PROMPTS


def test_every_model_must_use_the_ddim_scheduler(tmp_path):
    other = loaders.load_stable_diffusion(config.load("tiny"))
    other.scheduler = PNDMScheduler.from_config(other.scheduler.config)
    with pytest.raises(TypeError, match="uses DDIM for every model, but the pipeline has PNDMScheduler"):
        generation.generate(other, _settings(images=1), tmp_path, {"model": "base"}, progress=False)
    assert not (tmp_path / generation.MANIFEST).exists()


def test_weights_record_names_what_is_missing_or_from_another_profile(tmp_path):
    with pytest.raises(FileNotFoundError, match="run notebook 04_ddpo"):
        weights.weights_record(tmp_path, "tiny")
    (tmp_path / "lora").mkdir()
    adapter = tmp_path / "lora" / "pytorch_lora_weights.safetensors"
    save_file({"a.weight": torch.ones(2, 3), "b.weight": torch.zeros(3)}, adapter, metadata={"format": "pt", "x": "1"})
    (tmp_path / "trained.json").write_text(json.dumps({"epochs": 3, "profile": "tiny"}))
    record = weights.weights_record(tmp_path, "tiny")
    assert record["epochs"] == 3
    save_file({"b.weight": torch.zeros(3), "a.weight": torch.ones(2, 3)}, adapter, metadata={"x": "1", "format": "pt"})
    assert weights.weights_record(tmp_path, "tiny") == record  # the same weights, written in another order
    save_file({"a.weight": torch.ones(2, 3), "b.weight": torch.full((3,), 1e-8)}, adapter, metadata={"format": "pt"})
    assert weights.weights_record(tmp_path, "tiny")["weights_sha256"] != record["weights_sha256"]
    with pytest.raises(RuntimeError, match="trained for profile 'tiny', not 'paper'"):
        weights.weights_record(tmp_path, "paper")


def test_diversity_by_hand():
    # cos(e1, e2) = 0, cos(e1, e3) = 1, cos(e2, e3) = 0: mean cos 1/3, so diversity 2/3.
    e = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    assert scoring.diversity(e) == pytest.approx(2 / 3)
    assert scoring.diversity(torch.ones(4, 3)) == pytest.approx(0.0)


def test_scores_do_not_depend_on_the_batch_and_match_their_definitions():
    cfg = config.load("tiny")
    clip, processor = loaders.load_clip(cfg)
    aesthetic, image_reward = loaders.load_aesthetic(cfg, clip), loaders.load_image_reward(cfg)
    torch.manual_seed(0)
    centroids = torch.nn.functional.normalize(torch.randn(5, 32), dim=-1)
    kmeans = {"kmeans-x": classifiers.kmeans(centroids)}
    images, prompts = torch.rand(5, 3, 32, 32), generation.PROMPTS[:5]
    table, emb = scoring.score(images, prompts, clip, processor, aesthetic, image_reward, kmeans, batch_size=5)
    again, _ = scoring.score(images, prompts, clip, processor, aesthetic, image_reward, kmeans, batch_size=2)
    assert list(table.columns) == ["ava", "ir", "alignment", "ambiguity_kmeans-x"] and emb.shape == (5, 32)
    pd.testing.assert_frame_equal(table, again, atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        e = clip_space.image_embeddings(images, clip, processor)  # checked against CLIP's processor in test_clip_space
        text = torch.nn.functional.normalize(
            clip.get_text_features(**processor.tokenizer(prompts, padding=True, return_tensors="pt")).pooler_output,
            dim=-1,
        )
        np.testing.assert_allclose(table["alignment"], (e * text).sum(-1).numpy(), atol=1e-4)
        np.testing.assert_allclose(table["ava"], aesthetic(e).numpy(), atol=1e-4)
        logits = 1 / torch.cdist(e, centroids)  # inverse distances; ambiguity = mean log-softmax
        np.testing.assert_allclose(table["ambiguity_kmeans-x"], logits.log_softmax(-1).mean(-1).numpy(), atol=1e-4)
        np.testing.assert_allclose(table["ir"], image_reward(images, prompts).numpy(), atol=1e-5)


def test_table1_and_its_three_files_carry_the_same_numbers(tmp_path):
    scores = {
        "clip-med": pd.DataFrame({"ava": [1.0, 2.0, 3.0], "ir": [0.0, 0.5, 1.0]}),
        "base": pd.DataFrame({"ava": [5.0, 5.0, 5.0], "ir": [-1.0, -1.0, -4.0]}),
    }
    numbers = results.table1(scores)
    assert list(numbers.columns) == ["model", "ava_mean", "ava_std", "ir_mean", "ir_std"]
    assert numbers.iloc[0].tolist() == ["clip-med", 2.0, 1.0, 0.5, 0.5]  # sample std of 1, 2, 3 is 1
    assert numbers.iloc[1]["ir_mean"] == -2.0 and numbers.iloc[1]["ir_std"] == pytest.approx(math.sqrt(3))
    tables.write(
        numbers,
        results.table1_display(numbers),
        tmp_path / "table1",
        r"Table I. A caption_with % signs, ~ ^ and a \ backslash.",
        "tab:t",
    )
    csv = pd.read_csv(tmp_path / "table1.csv")
    md = tables.read_markdown(tmp_path / "table1.md")
    assert list(md.columns) == ["model", "AVA (ours)", "AVA (paper)", "IR (ours)", "IR (paper)"]
    for row, shown in zip(csv.itertuples(), md.itertuples()):
        assert shown.model == row.model
        assert (
            shown[2] == f"{row.ava_mean:.2f} ({row.ava_std:.2f})"
            and shown[4] == f"{row.ir_mean:.2f} ({row.ir_std:.2f})"
        )
    assert md.iloc[0]["AVA (paper)"] == "5.44 (0.41)" and md.iloc[0]["IR (paper)"] == "0.91 (0.89)"
    assert md.iloc[1]["AVA (paper)"] == tables.MISSING  # the paper has no base row
    assert (tmp_path / "table1.md").read_text().startswith("Table I. A caption_with % signs")
    tex = (tmp_path / "table1.tex").read_text()
    assert r"A caption\_with \% signs, \textasciitilde{} \textasciicircum{} and a \textbackslash{} backslash." in tex
    assert r"clip-med & 2.00 (1.00) & 5.44 (0.41) & 0.50 (0.50)" in tex
    assert r"base & 5.00 (0.00) & -- & -2.00 (1.73) & --" in tex


def test_the_proxy_table_has_every_classifier_diversity_and_alignment():
    scores = {
        "m": pd.DataFrame(
            {
                "alignment": [0.1, 0.3],
                "ambiguity_clip-full": [-3.5, -3.4],
                "ambiguity_disc-med": [-2.4, -2.6],
                "ava": [0, 0],
                "ir": [0, 0],
            }
        )
    }
    numbers = results.proxies(scores, {"m": torch.tensor([[1.0, 0.0], [0.0, 1.0]])})
    assert numbers.iloc[0].to_dict() == pytest.approx(
        {
            "model": "m",
            "ambiguity_clip-full": -3.45,
            "ambiguity_disc-med": -2.5,
            "diversity": 1.0,
            "alignment_mean": 0.2,
            "alignment_std": math.sqrt(0.02),
        }
    )
    display = results.proxies_display(numbers)
    assert display.iloc[0].tolist() == ["m", "-3.450", "-2.500", "1.000", "0.200 (0.141)"]


def test_figure1_has_a_panel_per_row_and_model():
    models_ = ["disc-full", "clip-med", "base"]
    images = {m: [np.zeros((8, 8, 3), np.uint8)] * 2 for m in models_}
    fig = result_plots.figure1(images, ["painting of a man\n(seed 0)", "art\n(seed 13)"], "tiny")
    assert len(fig.axes) == 2 * 3
    assert [ax.get_title() for ax in fig.axes[:3]] == models_  # the first row carries the model names
    assert [fig.axes[i].get_ylabel() for i in (0, 3)] == ["painting of a man\n(seed 0)", "art\n(seed 13)"]
    assert "pipeline check" in fig._suptitle.get_text()


def test_ambiguity_rise_pairs_images_by_index_against_base_with_a_hand_computed_t_interval():
    base = pd.DataFrame(
        {
            "index": [0, 1, 2, 3],
            "ambiguity_clip-full": [-5.0, -6.0, -7.0, -99.0],
            "ambiguity_kmeans-med": [-3.0, -3.0, -3.0, -3.0],
        }
    )
    # the trained images in another order, and one index base lacks: pairs are (0, 1, 2) by index
    model = pd.DataFrame({"index": [2, 0, 1, 7], "ambiguity_clip-full": [-4.0, -4.0, -4.0, 50.0]})
    rise = results.ambiguity_rise({"base": base, "clip-full": model, "other": pd.DataFrame({"index": [0]})})
    assert list(rise["model"]) == ["clip-full"]  # 'other' has no column of its own classifier
    row = rise.iloc[0]
    # differences 1, 2, 3: mean 2, sd 1, t(0.975, 2 dof) = 4.302653
    half = 4.302653 / math.sqrt(3)
    assert row["images"] == 3 and row["base"] == pytest.approx(-6.0) and row["trained"] == pytest.approx(-4.0)
    assert row["rise"] == pytest.approx(2.0)
    assert (row["low"], row["high"]) == (pytest.approx(2.0 - half, abs=1e-5), pytest.approx(2.0 + half, abs=1e-5))
    with pytest.raises(ValueError, match="'base'"):
        results.ambiguity_rise({"clip-full": model})


def test_the_rise_over_seeds_pairs_each_runs_images_with_base():
    base = pd.DataFrame({"index": [0, 1, 2], "ambiguity_clip-full": [-5.0, -6.0, -7.0]})
    runs = [base.assign(**{"ambiguity_clip-full": base["ambiguity_clip-full"] + shift}) for shift in (1.0, 3.0)]
    table = results.ambiguity_rise({"base": base, "clip-full": runs[0]})
    seeded = results.with_seed_interval(table, {"clip-full": runs}, base, lambda row: f"ambiguity_{row['model']}")
    row = seeded.iloc[0]
    assert row["rise"] == pytest.approx(1.0) and row["seeds"] == 2 and row["seed_rise"] == pytest.approx(2.0)
    assert (row["seed_low"], row["seed_high"]) == (pytest.approx(1.0), pytest.approx(3.0))  # two seeds: [min, max]
    shown = results.ambiguity_rise_display(seeded)
    assert shown["over seeds [95% bootstrap]"][0] == "2.000 [1.000, 3.000]"
