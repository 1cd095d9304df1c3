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


@pytest.mark.parametrize("section, value, needle", [
    ({"data": {"n_mediums": "ten"}}, None, "key 'data.n_mediums' must be an integer"),
    ({"data": {"streaming": 1}}, None, "key 'data.streaming' must be true or false"),
    ({"data": {"n_mediums": True}}, None, "key 'data.n_mediums' must be an integer"),
    ({"data": {"match": "fuzzy"}}, None, "key 'data.match' must be one of 'word', 'substring'"),
    ({"data": {"medium_words": ["art", 3]}}, None, "key 'data.medium_words' must be a list of a string"),
    ({"data": {"max_per_style": 2.5}}, None, "key 'data.max_per_style' must be an integer or null"),
    ({"centroids": {"k_ful": 3}}, None, "unknown key 'centroids.k_ful'"),
    ({"models": {"device": "tpu"}}, None, "key 'models.device' must be one of"),
])
def test_bad_values_are_rejected_with_the_key_named(section, value, needle):
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(").replace(")", r"\)")):
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
