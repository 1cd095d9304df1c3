import pytest

from clipcreate_lib import config, paths


@pytest.fixture
def tiny_cfg():
    return config.load("tiny")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Send the code under test's data/ and figures/ to a temporary folder, as profile tiny's."""
    monkeypatch.setenv("CLIPCREATE_WORKDIR", str(tmp_path))
    monkeypatch.setenv(paths.PROFILE_VARIABLE, "tiny")
    return tmp_path
