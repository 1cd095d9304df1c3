"""The front door: run_all.sh checks every setting before any notebook runs, each profile writes to
folders of its own, and a running notebook's output reaches the terminal as it comes."""

import os
import subprocess

import pytest

from clipcreate_lib import paths


def run_all(*args, env):
    return subprocess.run([str(paths.REPO / "run_all.sh"), *args], capture_output=True, text=True, timeout=600, env=env)


PROFILE_FILES = {
    "other-name.yaml": "profile: tiny\nextends: tiny\n",
    "empty.yaml": "",
    "listed.yaml": "- tiny\n",
    "broken.yaml": "extends: tiny\nddpo: {epochs: 1\n",
    "orphan.yaml": "extends: nothing\n",
    "loop.yaml": "extends: loop.yaml\n",
    "flat.yaml": "extends: tiny\nddpo: 5\n",
    "typo.yaml": "extends: tiny\nddpo: {epoch: 1}\n",
}
BAD = [
    (["--set", "ddpo.epoch=5"], "unknown key 'ddpo.epoch'"),
    (["--set", "trainer.epochs=1"], "unknown section 'trainer'"),
    (["--set", "ddpo.epochs=five"], "key 'ddpo.epochs' must be an integer, got 'five'"),
    (["--set", "data.n_mediums=true"], "key 'data.n_mediums' must be an integer, got True"),
    (["--set", "ddpo.epochs=0"], "key 'ddpo.epochs' must be at least 1, got 0"),
    (["--set", "ddpo.learning_rate=nan"], "key 'ddpo.learning_rate' must be a finite number, got nan"),
    (["--set", "ddpo.eta=nan"], "key 'ddpo.eta' must be a finite number, got nan"),
    (["--set", "ddpo.eta=1.5"], "key 'ddpo.eta' must be at most 1, got 1.5"),
    (["--set", "ddpo.eta=0"], "key 'ddpo.eta' must be above 0, got 0"),
    (["--set", "reward.utility_weight=inf"], "key 'reward.utility_weight' must be a finite number, got inf"),
    (["--set", "can.lr=-0.001"], "key 'can.lr' must be above 0, got -0.001"),
    (["--set", "user_study.confidence=1.5"], "key 'user_study.confidence' must be below 1, got 1.5"),
    (["--set", "ddpo.lr_warmup_steps=-1"], "key 'ddpo.lr_warmup_steps' must be at least 0, got -1"),
    (["--set", "evaluation.figure_images=[0, -1]"], "key 'evaluation.figure_images' must be at least 0"),
    (["--set", "evaluation.figure_images=[500]"], "'evaluation.figure_images' asks for image 500"),
    (["--set", "data.match=fuzzy"], "key 'data.match' must be one of 'word', 'substring', got 'fuzzy'"),
    (["--set", "data.medium_words=[art, 3]"], "key 'data.medium_words' must be a list of strings"),
    (["--set", "ddpo.prompts=[]"], "key 'ddpo.prompts' must hold at least one item"),
    (["--set", "ddpo.models=[clip-ful]"], "key 'ddpo.models' must be a list of one of"),
    (["--set", "can.image_size=96"], "key 'can.image_size' must be one of 64, 128, 256, 512, got 96"),
    (["--set", "ddpo.adam_beta2=1"], "key 'ddpo.adam_beta2' must be below 1, got 1"),
    (["--set", "reward.kmeans_temperature=0"], "key 'reward.kmeans_temperature' must be above 0"),
    (["--set", "ddpo.seed=-1"], "key 'ddpo.seed' must be at least 0, got -1"),
    (["--set", "evaluation.models=[base]"], "'user_study.models' rates disc-full"),
    (["--set", "ddpo.stat_min_count=20"], "'ddpo.stat_min_count' (20) is more than ddpo.stat_buffer_size (16)"),
    (["--set", "user_study.image_indices=[0, 0]"], "'user_study.image_indices' must name each image once"),
    (["--set", "ddpo.epochs"], "--set takes section.key=value"),
    (["--set", "epochs=5"], "--set takes section.key=value"),
    (["--set", "ddpo.prompts=[a, b"], "is not a value YAML can read"),
    (["--set", ""], "--set needs a value"),
    (["--profile", "huge"], "Unknown profile 'huge'"),
    (["--profile", "../params/tiny"], "Unknown profile '../params/tiny'"),
    (["--profile", "nowhere.yaml"], "The profile file nowhere.yaml does not exist"),
    (["--profile", ""], "--profile needs a value"),
    (["--only", ""], "--only needs a value"),
    (["--from", ""], "--from needs a value"),
    (["--only", "99"], "unknown notebook number '99'"),
    (["--profile", "{dir}/other-name.yaml"], "says 'profile: tiny' but its file names it 'other-name'"),
    (["--profile", "{dir}/empty.yaml"], "empty.yaml is empty"),
    (["--profile", "{dir}/listed.yaml"], "must hold a mapping of sections, not a list"),
    (["--profile", "{dir}/broken.yaml"], "broken.yaml line 3 is not valid YAML"),
    (["--profile", "{dir}/orphan.yaml"], "Unknown profile 'nothing'"),
    (["--profile", "{dir}/loop.yaml"], "loop.yaml extends itself through"),
    (["--profile", "{dir}/flat.yaml"], "'ddpo' must be a mapping of keys, got 5"),
    (["--profile", "{dir}/typo.yaml"], "unknown key 'ddpo.epoch'"),
]


@pytest.mark.parametrize("args, needle", BAD, ids=[f"{i:02d}" for i in range(len(BAD))])
def test_a_bad_setting_is_one_sentence_before_any_notebook_and_leaves_nothing(tmp_path, args, needle):
    profiles, work, tmp = (tmp_path / name for name in ("profiles", "work", "tmp"))
    for folder in (profiles, work, tmp):
        folder.mkdir()
    for name, text in PROFILE_FILES.items():
        (profiles / name).write_text(text)
    env = {**os.environ, "CLIPCREATE_WORKDIR": str(work), "TMPDIR": str(tmp)}
    result = run_all(*[a.format(dir=profiles) for a in args], env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], result.stderr
    assert "01_data" not in result.stdout  # no notebook started
    assert list(work.iterdir()) == [] and list(tmp.iterdir()) == []  # and nothing was written


def test_profiles_live_apart_and_a_profile_of_ones_own_streams_its_progress(tmp_path):
    """tiny, then a profile of one's own that extends it with other settings, then tiny again, in one
    work folder with nothing deleted by hand: all three succeed, and the first tiny's dataset is reused."""
    work = tmp_path / "work"
    mine = tmp_path / "mine.yaml"
    mine.write_text("extends: tiny\ndata: {images_per_style: 6}\n")
    env = {**os.environ, "CLIPCREATE_WORKDIR": str(work)}
    tiny = ["--only", "01", "--set", "data.images_per_style=4"]
    first = run_all(*tiny, env=env)
    assert first.returncode == 0, first.stderr
    full = work / "data" / "tiny" / "datasets" / "full" / "dataset_info.json"
    stamp = full.stat().st_mtime_ns
    second = run_all("--profile", str(mine), "--only", "01", env=env)
    assert second.returncode == 0, second.stderr
    third = run_all(*tiny, env=env)
    assert third.returncode == 0, third.stderr
    assert "full: 108 images" in first.stdout and "full: 162 images" in second.stdout  # 27 styles x 4, x 6
    assert "reusing" in third.stdout and full.stat().st_mtime_ns == stamp
    assert (work / "data" / "mine" / "datasets" / "full").is_dir()
    assert "images_per_style: 6" in (work / "figures" / "mine" / "settings.yaml").read_text()
    # the notebook's own output, printed lines and text progress bars, reached the terminal as it ran
    assert "[mine] 01_data ..." in second.stdout and "images: 100%" in second.stdout and "img/s" in second.stdout
    log = (work / "build" / "mine" / "logs" / "01_data.log").read_text()
    assert "full: 162 images" in log and (work / "build" / "mine" / "01_data.ipynb").exists()


def test_an_offline_hub_reaches_the_terminal_as_the_errors_own_sentence(tmp_path):
    env = {**os.environ, "CLIPCREATE_WORKDIR": str(tmp_path), "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    result = run_all("--profile", "paper", "--only", "01", env=env)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("FAILED: notebooks/01_data.py: RuntimeError: Could not open the dataset 'huggan/wikiart'")
    assert "Download it once where the Hugging Face hub is reachable" in line and "traceback:" in line
