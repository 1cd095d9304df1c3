import pytest

from clipcreate_lib import config


@pytest.fixture
def tiny_cfg():
    return config.load("tiny")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Send data/ and figures/ of the code under test to a temporary folder."""
    monkeypatch.setenv("CLIPCREATE_WORKDIR", str(tmp_path))
    return tmp_path
