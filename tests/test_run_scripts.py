"""The runner's argument errors: one line, exit code 2, before any set-up work."""
import json
import os
import subprocess

from clipcreate_lib import paths


def run_all(*args, env=None):
    return subprocess.run([str(paths.REPO / "run_all.sh"), *args], capture_output=True, text=True, timeout=300,
                          env=env)


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


def test_a_failing_notebook_stops_the_run_with_one_line_naming_it(tmp_path):
    """Notebook 02 on an empty work folder fails (no datasets yet): one line names the notebook and
    the executed copy holding the traceback, which does hold it."""
    result = run_all("--only", "02", env={**os.environ, "CLIPCREATE_WORKDIR": str(tmp_path)})
    assert result.returncode == 1
    executed = tmp_path / "build" / "executed" / "tiny" / "02_centroids.ipynb"
    assert result.stderr.strip() == (f"FAILED: notebooks/02_centroids.py; the traceback is in {executed} "
                                      f"(log: {tmp_path}/build/logs/tiny/02_centroids.log)")
    errors = [o for c in json.loads(executed.read_text())["cells"] for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors and "run notebooks/01_data.py first" in errors[0]["evalue"]
