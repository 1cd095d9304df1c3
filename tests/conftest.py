import pytest

from clipcreate_lib import config, paths

# The longest test files, started first so that run_tests.sh's two processes end together: the
# notebooks in order (minutes), then the kill-and-resume runs.
LONGEST_FIRST = ("tests/test_notebooks.py", "tests/test_kill_resume.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        path = item.nodeid.split("::")[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order inside a file and among the rest is kept


@pytest.fixture
def tiny_cfg():
    return config.load("tiny")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Send the code under test's data/ and figures/ to a temporary folder, as profile tiny's."""
    monkeypatch.setenv("CLIPCREATE_WORKDIR", str(tmp_path))
    monkeypatch.setenv(paths.PROFILE_VARIABLE, "tiny")
    return tmp_path
