"""The runner's argument errors: one line, exit code 2, before any set-up work."""
import subprocess

from clipcreate_lib import paths


def run_all(*args):
    return subprocess.run([str(paths.REPO / "run_all.sh"), *args], capture_output=True, text=True, timeout=60)


def test_unknown_profile_is_one_line():
    result = run_all("--profile", "huge")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "unknown profile 'huge'" in result.stderr and "tiny" in result.stderr


def test_unknown_notebook_number_is_one_line():
    for flag in ("--only", "--from"):
        result = run_all(flag, "99")
        assert result.returncode == 2
        assert "unknown notebook number '99'" in result.stderr and "01" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_option():
    result = run_all("--fast")
    assert result.returncode == 2 and "unknown option '--fast'" in result.stderr
