import re

import pytest

from clipcreate_lib import config
from clipcreate_lib.config import ConfigError


def test_both_profiles_load_and_differ_where_they_should():
    tiny, paper = config.load("tiny"), config.load("paper")
    assert (tiny.profile, paper.profile) == ("tiny", "paper")
    assert tiny.models.source == "tiny" and paper.models.source == "pretrained"
    assert paper.models.stable_diffusion == "stabilityai/stable-diffusion-2-base"
    assert paper.models.clip == "openai/clip-vit-large-patch14"
    assert tiny.data.source == "embedded" and paper.data.source == "wikiart"
    assert paper.data.dataset_id == "huggan/wikiart"
    assert paper.data.medium_words == tiny.data.medium_words == ["painting", "drawing", "art"]


def test_paper_yaml_matches_the_dataclass_defaults():
    # The dataclass defaults are documented as the paper's settings; the file must not drift from them.
    assert config.load("paper") == config.Config(profile="paper")


def test_overrides_merge_over_the_file():
    cfg = config.load("tiny", data={"n_mediums": 5}, centroids=None)
    assert cfg.data.n_mediums == 5
    assert cfg.data.source == "embedded"  # the rest of the section is the file's


@pytest.mark.parametrize(
    "section, needle",
    [
        ({"data": {"n_mediums": "ten"}}, "key 'data.n_mediums' must be an integer"),
        ({"data": {"streaming": 1}}, "key 'data.streaming' must be true or false"),
        ({"data": {"n_mediums": True}}, "key 'data.n_mediums' must be an integer"),
        ({"data": {"match": "fuzzy"}}, "key 'data.match' must be one of 'word', 'substring'"),
        ({"data": {"medium_words": ["art", 3]}}, "key 'data.medium_words' must be a list of strings"),
        ({"data": {"max_per_style": 2.5}}, "key 'data.max_per_style' must be an integer or null"),
        ({"centroids": {"k_ful": 3}}, "unknown key 'centroids.k_ful'"),
        ({"models": {"device": "tpu"}}, "key 'models.device' must be one of"),
        ({"data": {"n_mediums": 0}}, "key 'data.n_mediums' must be at least 1, got 0"),
        ({"data": {"max_per_style": -5}}, "key 'data.max_per_style' must be at least 1"),
        ({"centroids": {"k_range": [2, 0]}}, "key 'centroids.k_range' must be at least 1, got [2, 0]"),
        ({"ddpo": {"lr_warmup_steps": -1}}, "key 'ddpo.lr_warmup_steps' must be at least 0, got -1"),
        ({"ddpo": {"clip_range": -1e-4}}, "key 'ddpo.clip_range' must be above 0"),
        ({"ddpo": {"eta": 1.5}}, "key 'ddpo.eta' must be at most 1, got 1.5"),
        ({"evaluation": {"eta": -0.1}}, "key 'evaluation.eta' must be at least 0"),
        ({"evaluation": {"figure_images": [0, -1]}}, "key 'evaluation.figure_images' must be at least 0, got [0, -1]"),
        ({"data": {"medium_words": []}}, "key 'data.medium_words' must hold at least one item, got []"),
        ({"ddpo": {"prompts": []}}, "key 'ddpo.prompts' must hold at least one item"),
        ({"ddpo": {"seeds": [0, -1]}}, "key 'ddpo.seeds' must be at least 0"),
    ],
)
def test_bad_values_are_rejected_with_the_key_named(section, needle):
    with pytest.raises(ConfigError, match=re.escape(needle)):
        config.load("tiny", **section)


def test_unknown_top_level_key_and_unknown_profile():
    with pytest.raises(ConfigError, match="unknown key 'trainer'"):
        config.from_dict({"profile": "x", "trainer": {}})
    with pytest.raises(ConfigError, match="Unknown profile 'huge'"):
        config.load("huge")
    with pytest.raises(ConfigError, match="Parameter 'data' must be a mapping"):
        config.load("tiny", data=[1, 2])


def test_max_per_style_accepts_null_and_int():
    assert config.load("tiny", data={"max_per_style": None}).data.max_per_style is None
    assert config.load("tiny", data={"max_per_style": 500}).data.max_per_style == 500


def test_every_profile_has_a_file_and_mini_pretrains_with_the_measured_settings():
    for profile in config.available_profiles():
        assert config.load(profile).profile == profile
    mini = config.load("mini")
    assert mini.models.source == "mini" and mini.data.source == "embedded"
    assert mini.miniature == config.MiniatureConfig()  # the settings benchmarks/mini_quality.py measured
    assert mini.ddpo.processes == 2 and mini.ddpo.epochs > config.load("tiny").ddpo.epochs
