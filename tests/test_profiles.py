"""Profiles a user owns: a file of their own, `extends` chains, `--set` typed by the field, and the rules
between sections that the notebooks need."""

import dataclasses
import json
import math
import os
import subprocess
import sys

import pytest

from clipcreate_lib import config, paths
from clipcreate_lib.config import ConfigError, profiles


def write(folder, name, text):
    path = folder / name
    path.write_text(text)
    return path


def test_a_profile_of_ones_own_extends_tiny_and_gives_only_what_differs(tmp_path):
    quick = write(tmp_path, "quick.yaml", "extends: tiny\nddpo: {epochs: 1}\n")
    cfg = config.load(str(quick))
    assert cfg.profile == "quick" and cfg.ddpo.epochs == 1  # the name is the file's stem
    tiny = config.load("tiny")
    assert cfg.ddpo.sample_batches == tiny.ddpo.sample_batches and cfg.models == tiny.models


def test_the_shipped_profiles_are_deltas_over_one_set_of_defaults():
    assert config.load("paper") == config.Config(profile="paper")  # the defaults are the paper's
    shaped, paper = config.load("paper-shaped"), config.load("paper")
    assert shaped.models.source == "paper-shaped" and shaped.ddpo == paper.ddpo and shaped.data == paper.data
    mini, tiny = config.load("mini"), config.load("tiny")
    assert mini.models.source == "mini" and mini.data == tiny.data
    assert mini.can == dataclasses.replace(tiny.can, max_steps_per_epoch=20)  # the tiny CAN, trained longer
    for name in ("mini", "paper-shaped"):
        assert "extends:" in paths.params_file(name).read_text()


def test_extends_chains_merge_key_by_key_and_find_files_beside_the_profile(tmp_path):
    write(tmp_path, "base.yaml", "extends: tiny\nddpo: {epochs: 2, seed: 3}\n")
    child = write(tmp_path, "child.yaml", "extends: base.yaml\nddpo: {epochs: 1}\ndata: {n_mediums: 5}\n")
    cfg = config.load(str(child))
    assert (cfg.ddpo.epochs, cfg.ddpo.seed, cfg.data.n_mediums) == (1, 3, 5)
    assert cfg.ddpo.sample_batches == config.load("tiny").ddpo.sample_batches


def test_an_extends_cycle_is_named(tmp_path):
    write(tmp_path, "a.yaml", "extends: b.yaml\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\n")
    with pytest.raises(ConfigError, match="a.yaml extends itself through"):
        config.load(str(tmp_path / "a.yaml"))


@pytest.mark.parametrize(
    "text, needle",
    [
        ("", "is empty; a profile holds at least 'extends: <profile>' or one section"),
        ("- tiny\n", "must hold a mapping of sections, not a list"),
        ("extends: tiny\nddpo: {epochs: 1\n", "line 3 is not valid YAML"),
        ("profile: other\nextends: tiny\n", "says 'profile: other' but its file names it 'mine'"),
        ("extends: nothing\n", "Unknown profile 'nothing'"),
        ("extends: [tiny]\n", "key 'extends' must name a profile"),
        ("extends: tiny\nddpo: 5\n", "'ddpo' must be a mapping of keys, got 5"),
        ("extends: tiny\nddpo: {epochs: 1}\ntrainer: {}\n", "unknown key 'trainer'"),
    ],
)
def test_a_bad_profile_file_is_one_sentence_naming_the_file(tmp_path, text, needle):
    mine = write(tmp_path, "mine.yaml", text)
    with pytest.raises(ConfigError, match=needle):
        config.load(str(mine))


def test_profile_names_are_names_and_paths_are_given_on_purpose(tmp_path):
    with pytest.raises(ConfigError, match="Unknown profile '../params/tiny'"):
        config.load("../params/tiny")  # a name cannot point outside params/
    with pytest.raises(ConfigError, match="The profile file nothing.yaml does not exist"):
        config.load("nothing.yaml")
    assert config.load(str(paths.params_file("tiny"))).profile == "tiny"  # a path, ending in .yaml, on purpose
    weird = write(tmp_path, "my run.yaml", "extends: tiny\n")
    with pytest.raises(ConfigError, match="cannot name its folders"):
        config.load(str(weird))
    assert profiles.available() == sorted(p.stem for p in paths.PARAMS.glob("*.yaml"))


def test_set_types_a_value_as_its_field_is_typed():
    overrides = config.parse_sets(
        [
            "ddpo.epochs=5",
            "models.stable_diffusion=123",
            "ddpo.prompts=[a, b]",
            "data.max_per_style=null",
            "ddpo.learning_rate=1e-4",
            "ddpo.epochs=6",
        ]
    )
    assert overrides == {
        "ddpo": {"epochs": 6, "prompts": ["a", "b"], "learning_rate": 1e-4},
        "models": {"stable_diffusion": "123"},
        "data": {"max_per_style": None},
    }
    cfg = config.load("tiny", overrides)
    assert cfg.ddpo.epochs == 6 and cfg.models.stable_diffusion == "123" and cfg.data.max_per_style is None


@pytest.mark.parametrize(
    "item, needle",
    [
        ("ddpo.epoch=5", "unknown key 'ddpo.epoch'; known keys here are"),
        ("trainer.epochs=5", "unknown section 'trainer'; the sections are"),
        ("ddpo.epochs", "--set takes section.key=value"),
        ("epochs=5", "--set takes section.key=value"),
        ("ddpo.prompts=[a, b", "is not a value YAML can read"),
    ],
)
def test_a_bad_set_is_one_sentence(item, needle):
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[")):
        config.parse_sets([item])


@pytest.mark.parametrize(
    "section, needle",
    [
        ({"ddpo": {"learning_rate": math.nan}}, "key 'ddpo.learning_rate' must be a finite number, got nan"),
        ({"ddpo": {"eta": math.nan}}, "key 'ddpo.eta' must be a finite number"),
        ({"reward": {"utility_weight": math.inf}}, "key 'reward.utility_weight' must be a finite number, got inf"),
        ({"can": {"lr": -1e-3}}, "key 'can.lr' must be above 0, got -0.001"),
        ({"user_study": {"confidence": 1.5}}, "key 'user_study.confidence' must be below 1, got 1.5"),
        ({"user_study": {"confidence": 0.0}}, "key 'user_study.confidence' must be above 0"),
        ({"ddpo": {"eta": 0.0}}, "key 'ddpo.eta' must be above 0, got 0.0"),
        ({"ddpo": {"learning_rate": 0.0}}, "key 'ddpo.learning_rate' must be above 0"),
        ({"ddpo": {"adam_beta2": 1.0}}, "key 'ddpo.adam_beta2' must be below 1, got 1.0"),
        ({"reward": {"kmeans_temperature": 0.0}}, "key 'reward.kmeans_temperature' must be above 0"),
        ({"ddpo": {"seed": -1}}, "key 'ddpo.seed' must be at least 0, got -1"),
        ({"miniature": {"ema_decay": 1.0}}, "key 'miniature.ema_decay' must be below 1"),
        ({"miniature": {"caption_dropout": 1.5}}, "key 'miniature.caption_dropout' must be at most 1"),
        ({"ddpo": {"models": []}}, "key 'ddpo.models' must hold at least one item"),
        ({"ddpo": {"models": ["clip-ful"]}}, "key 'ddpo.models' must be a list of one of"),
        ({"can": {"image_size": 96}}, "key 'can.image_size' must be one of 64, 128, 256, 512, got 96"),
        ({"can": {"image_size": 64.0}}, "key 'can.image_size' must be one of 64, 128, 256, 512, got 64.0"),
        ({"centroids": {"k_range": [math.nan]}}, "key 'centroids.k_range' must be a list of integers"),
        ({"evaluation": {"guidance_scale": -1.0}}, "key 'evaluation.guidance_scale' must be at least 0"),
    ],
)
def test_values_that_would_fail_hours_later_are_refused_by_key(section, needle):
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        config.load("tiny", **section)


@pytest.mark.parametrize(
    "section, needle",
    [
        (
            {"evaluation": {"figure_images": [500]}},
            "'evaluation.figure_images' asks for image 500, but evaluation.images",
        ),
        (
            {"evaluation": {"images": 10, "figure_images": [0]}},
            "'user_study.image_indices' asks for image 20, but evaluation.images makes only 10",
        ),
        ({"user_study": {"image_indices": [0, 0]}}, "'user_study.image_indices' must name each image once"),
        ({"evaluation": {"models": ["base"]}}, "'user_study.models' rates disc-full, which evaluation.models does not"),
        (
            {"ddpo": {"stat_min_count": 20}},
            "'ddpo.stat_min_count' \\(20\\) is more than ddpo.stat_buffer_size \\(16\\)",
        ),
        ({"data": {"n_mediums": 30}}, "'data.n_mediums' is 30, but the embedded data has 27 styles"),
        ({"miniature": {"unet_channels": [32, 60]}}, "'miniature.unet_channels' has 60"),
        ({"miniature": {"caption_dropout": 0.9}}, "add up to 1.1, more than 1"),
        (
            {"ddpo": {"seeds": [1, 2]}},
            "'ddpo.seeds' \\(\\[1, 2\\]\\) must name each seed once and hold ddpo.seed \\(0\\)",
        ),
        ({"ddpo": {"seeds": [0, 1, 1]}}, "'ddpo.seeds' \\(\\[0, 1, 1\\]\\) must name each seed once"),
        ({"tokens": {"strip_image": 2}}, "'tokens.strip_image' asks for image 2, but tokens.sweep_images makes only 2"),
    ],
)
def test_sections_that_disagree_are_refused_before_a_notebook_starts(section, needle):
    cfg = config.load("tiny", **section)  # each is valid on its own, for library code that uses one stage
    with pytest.raises(ConfigError, match=needle):
        config.check_notebooks(cfg)


def test_the_resolved_settings_round_trip_through_their_yaml(tmp_path):
    cfg = config.load("tiny", ddpo={"epochs": 2})
    saved = config.save(cfg, tmp_path / "tiny.yaml")  # every setting, so it loads as the same profile
    assert config.load(str(saved)) == cfg


@pytest.mark.parametrize("deterministic", [False, True])
def test_session_start_sets_up_the_process_as_the_profile_asks(deterministic, tmp_path):
    """In a process of its own: the profile active, one torch thread for the tiny models, and
    deterministic kernels (with cuBLAS's fixed workspace for the processes it starts) only when asked."""
    code = (
        "import json, os, torch\n"
        "from clipcreate_lib import paths, session\n"
        f"session.start('tiny', {{'models': {{'deterministic': {deterministic}}}}})\n"
        "print(json.dumps([paths.active_profile(), torch.get_num_threads(),"
        " torch.are_deterministic_algorithms_enabled(), os.environ.get('CUBLAS_WORKSPACE_CONFIG')]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "CUBLAS_WORKSPACE_CONFIG")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    workspace = ":4096:8" if deterministic else None
    assert json.loads(done.stdout.splitlines()[-1]) == ["tiny", 1, deterministic, workspace]
