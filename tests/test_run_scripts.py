"""The runner's and the set-up's errors: one line, a clear exit code, before any work that could be lost."""

import json
import os
import subprocess

from clipcreate_lib import paths


def run_all(*args, env=None):
    return subprocess.run([str(paths.REPO / "run_all.sh"), *args], capture_output=True, text=True, timeout=300, env=env)


def test_unknown_profile_is_one_line():
    result = run_all("--profile", "huge")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "unknown profile 'huge'" in result.stderr.lower() and "tiny" in result.stderr


def test_unknown_notebook_number_is_one_line():
    for flag in ("--only", "--from"):
        for number in ("99", "0.", "1"):  # "0." once passed as a pattern and ran nothing, exit 0
            result = run_all(flag, number)
            assert result.returncode == 2
            assert f"unknown notebook number '{number}'" in result.stderr and "01" in result.stderr
            assert len(result.stderr.strip().splitlines()) == 1


def test_from_and_only_together_are_refused():
    result = run_all("--only", "01", "--from", "02")  # ran nothing and said "all done"
    assert result.returncode == 2 and "give --from or --only, not both" in result.stderr


def test_unknown_option():
    result = run_all("--fast")
    assert result.returncode == 2 and "unknown option '--fast'" in result.stderr


def test_a_failing_notebook_stops_the_run_with_one_line_naming_it_and_its_error(tmp_path):
    """Notebook 02 on an empty work folder fails (no datasets yet): one line names the notebook, the
    error's own sentence and the executed copy holding the traceback, which does hold it."""
    result = run_all("--only", "02", env={**os.environ, "CLIPCREATE_WORKDIR": str(tmp_path)})
    assert result.returncode == 1
    executed = tmp_path / "build" / "tiny" / "02_centroids.ipynb"
    missing = tmp_path / "data" / "tiny" / "datasets" / "full"
    assert result.stderr.strip() == (
        f"FAILED: notebooks/02_centroids.py: FileNotFoundError: {missing} does not exist; run notebooks/01_data.py "
        f"first (./run_all.sh --only 01). (traceback: {executed}; log: {tmp_path}/build/tiny/logs/02_centroids.log)"
    )
    errors = [
        o
        for c in json.loads(executed.read_text())["cells"]
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert errors and "run notebooks/01_data.py first" in errors[0]["evalue"]


def bootstrap_in(tmp_path, fake_python: str, free_mb: int):
    """Source a copy of scripts/bootstrap.sh in a scratch repository whose .venv python is
    ``fake_python`` and whose disk, as `df` reports it, has ``free_mb`` MB free."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "bootstrap.sh").write_text((paths.REPO / "scripts" / "bootstrap.sh").read_text())
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'scratch'\n")
    tools = tmp_path / "tools"
    tools.mkdir()
    for path, text in (
        (tmp_path / ".venv" / "bin" / "python", fake_python),
        (
            tools / "df",
            f"#!/bin/sh\necho 'Filesystem 1M-blocks Used Available Capacity Mounted'\n"
            f"echo '/dev/x 250000 1000 {free_mb} 1% /'\n",
        ),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)
    env = {**os.environ, "PATH": f"{tools}:{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", "-c", f"source {tmp_path}/scripts/bootstrap.sh"], capture_output=True, text=True, timeout=60, env=env
    )


def test_bootstrap_refuses_a_nearly_full_disk_before_installing(tmp_path):
    result = bootstrap_in(tmp_path, '#!/bin/sh\ntouch "$(dirname "$0")/ran"\n', free_mb=199)
    assert result.returncode == 1
    assert "needs about 3000 MB free" in result.stderr and "only 199 MB are" in result.stderr
    assert not (tmp_path / ".venv" / "bin" / "ran").exists()  # pip never started


def test_bootstrap_names_pips_error_when_the_install_fails(tmp_path):
    pip_fails = (
        "#!/bin/sh\necho 'WARNING: a location is ignored'\n"
        "echo 'ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device'\n"
        "exit 1\n"
    )
    result = bootstrap_in(tmp_path, pip_fails, free_mb=50000)
    assert result.returncode == 1
    assert "No space left on device" in result.stderr and "install.log" in result.stderr
    assert not (tmp_path / ".venv" / ".clipcreate-deps").exists()  # no stamp: the next run installs again
