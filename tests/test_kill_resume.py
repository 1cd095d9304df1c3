"""Kill and resume for real: training processes SIGKILLed at every point of the checkpoint protocol,
each resumed in a new process, end bitwise equal to an uninterrupted run, with nothing left behind.

The runs are ``scripts/kill_resume.py``'s (the script behind the README's claim), with small settings;
these tests check its report and, on their own, the weights, the optimiser and the logs it compared."""

import importlib.util
import json
import subprocess
import sys

import torch

from clipcreate_lib import paths

SCRIPT = paths.REPO / "scripts" / "kill_resume.py"
SMALL = {
    "ddpo": [
        "ddpo.sample_batches=1",
        "ddpo.sample_batch_size=2",
        "ddpo.train_batch_size=2",
        "ddpo.sample_steps=4",
        "ddpo.timesteps_per_pass=4",
        "ddpo.stat_buffer_size=8",
        "ddpo.stat_min_count=4",  # the tracker turns per-prompt within the run
        "ddpo.lr_warmup_steps=6",  # and the warm-up spans kills
    ],
    "can": ["can.generator_channels=32", "can.batch_size=4", "can.max_steps_per_epoch=3"],
}
# mid-epoch, start-up, a half-written temporary, just before and just after the rename, the end
KILLS = {
    "ddpo": "step@3,writing:checkpoint.pt@3,before-rename:checkpoint.pt@2,after-rename:checkpoint.pt@4,startup,"
    "reward@5,after-rename:checkpoint.pt@last,before-rename:lora@1",
    "can": "step@5,writing:checkpoint.pt@2,before-rename:checkpoint.pt@1,after-rename:checkpoint.pt@2,startup,"
    "writing:losses.csv@1,after-rename:checkpoint.pt@last",
}


def kill_and_resume(kind, epochs, tmp_path):
    sets = [f"--set={item}" for item in SMALL[kind]]
    command = [sys.executable, str(SCRIPT), kind, f"--epochs={epochs}", f"--kills={KILLS[kind]}", *sets]
    command += [f"--workdir={tmp_path}", f"--report={tmp_path / 'report.json'}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((tmp_path / "report.json").read_text())


def checkpoints(tmp_path):
    return [torch.load(tmp_path / run / "checkpoint.pt", weights_only=False) for run in ("straight", "killed")]


def check_kills(report, kills):
    assert [k["kill"] for k in report["kills"]] == [*kills.split(","), None]
    assert [k["ended"] for k in report["kills"]] == ["killed"] * len(kills.split(",")) + ["finished"]
    epochs = [k["epochs"] for k in report["kills"]]
    assert epochs == sorted(epochs) and len(set(epochs)) >= 4  # resumed at several epochs
    for kill in report["kills"]:  # the interrupted writes did leave their temporaries, for a while
        if (kill["kill"] or "").startswith(("writing:", "before-rename:")):
            assert any(name.startswith(".") for name in kill["left"]), kill
    assert report["equal"] and report["differences"] == [] and report["left_at_end"] == []


def test_a_ddpo_run_killed_at_every_point_of_the_protocol_ends_bitwise_equal(tmp_path):
    report = kill_and_resume("ddpo", 20, tmp_path)
    check_kills(report, KILLS["ddpo"])
    straight, killed = checkpoints(tmp_path)
    assert straight["epoch"] == killed["epoch"] == 20
    assert all(torch.equal(straight["weights"][n], killed["weights"][n]) for n in straight["weights"])
    moments = [c["optimizer"]["state"] for c in (straight, killed)]
    assert all(torch.equal(moments[0][i]["exp_avg_sq"], moments[1][i]["exp_avg_sq"]) for i in moments[0])
    assert torch.equal(straight["rng"]["noise"], killed["rng"]["noise"])
    assert straight["tracker"] == killed["tracker"]
    for name in ("metrics.csv", "trained.json"):
        assert (tmp_path / "straight" / name).read_bytes() == (tmp_path / "killed" / name).read_bytes()


def test_a_can_run_killed_at_every_point_of_the_protocol_ends_bitwise_equal(tmp_path):
    report = kill_and_resume("can", 8, tmp_path)
    check_kills(report, KILLS["can"])
    straight, killed = checkpoints(tmp_path)
    assert len(straight["losses"]) == len(killed["losses"]) == 8
    for net in ("generator", "discriminator"):
        assert all(torch.equal(straight[net][n], killed[net][n]) for n in straight[net]), net
    assert torch.equal(straight["torch_rng"], killed["torch_rng"]) and torch.equal(straight["rng"], killed["rng"])
    assert (tmp_path / "straight" / "losses.csv").read_bytes() == (tmp_path / "killed" / "losses.csv").read_bytes()


def test_the_comparison_names_every_difference_down_to_one_bit(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))  # its child's module, beside it
    spec = importlib.util.spec_from_file_location("kill_resume", SCRIPT)
    kill_resume = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kill_resume)
    a = {"w": torch.tensor([1.0, 2.0, 3.0, 4.0]), "h": [{"r": float("nan"), "e": 1}], "s": (1, 2)}
    nudged = torch.tensor([1.0, 2.0, 3.0, 4.0])
    nudged.view(torch.int32)[2] += 1  # the last bit of one value
    assert kill_resume.differences(a, {**a}, "c") == []  # NaN equals NaN here
    assert kill_resume.differences(a, {**a, "w": nudged}, "c") == ["c.w: 1 of 4 values differ (max abs 2.4e-07)"]
    assert kill_resume.differences(a, {**a, "w": a["w"].double()}, "c") == ["c.w: differs"]
    assert kill_resume.differences(a, {**a, "h": [{"r": float("nan"), "e": 1.0}]}, "c") == ["c.h[0].e: 1 against 1.0"]
    assert kill_resume.differences(a, {**a, "s": (1,)}, "c") == ["c.s: 2 against 1 items"]
    assert kill_resume.differences(a, {"w": a["w"]}, "c") == ["c: keys ['h', 's'] in one only"]
