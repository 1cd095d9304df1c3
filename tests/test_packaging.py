"""environment.yml installs what pyproject.toml declares, and the runner's pin on torch holds."""

import tomllib

import yaml

from clipcreate_lib import paths


def test_environment_yml_installs_the_project_with_the_same_python():
    env = yaml.safe_load((paths.REPO / "environment.yml").read_text())
    project = tomllib.loads((paths.REPO / "pyproject.toml").read_text())["project"]
    deps = env["dependencies"]
    assert "python=3.11" in deps and project["requires-python"] == ">=3.11"  # conda pins the tested minimum
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict))
    extras = sorted(project["optional-dependencies"])
    assert extras == ["dev", "notebooks", "parity"]
    assert pip_section == ["-e .[notebooks,dev,parity]"]  # every extra, as run_tests.sh installs them
    assert 'CLIPCREATE_EXTRAS="notebooks,dev,parity"' in (paths.REPO / "run_tests.sh").read_text()


def test_torch_is_pinned_to_the_local_cpu_wheel():
    project = tomllib.loads((paths.REPO / "pyproject.toml").read_text())["project"]
    assert "torch==2.13.0" in project["dependencies"]
    assert not any(d.startswith("torchvision") for d in project["dependencies"])
