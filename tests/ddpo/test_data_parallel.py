"""One model on two processes (``accelerate launch``, gloo on the CPU) against the same run on one.

Two launches of ``data_parallel_run.py`` (its docstring says what each writes): a run killed half-way
through writing its second checkpoint; then, in the same processes one after the other, its
resumption, an uninterrupted run (its main process slow to publish) and the unsynced variant. The
one-process runs are trained here, beside them."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from clipcreate_lib.ddpo import processes
from clipcreate_lib.ddpo.records import CHECKPOINT, METRICS

sys.path.insert(0, str(Path(__file__).parent))
import data_parallel_run as child  # noqa: E402

LAUNCH = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
LAUNCH += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", child.__file__]
KILL = "writing:checkpoint.pt@2"  # the main process dies with half of epoch 2's checkpoint on disk


def launch(out: Path, *runs: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([*LAUNCH, str(out), *runs], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def finish(process: subprocess.Popen, ok: bool = True) -> None:
    output, _ = process.communicate(timeout=400)  # a hang fails here instead of blocking the suite
    assert (process.returncode == 0) == ok, output.decode()[-3000:]


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    """Every launch done, and the one-process runs trained beside them."""
    out = tmp_path_factory.mktemp("data_parallel")
    killed = launch(out, f"killed:kill={KILL}")
    one = child.tiny_run(out / "one")
    torch.save(child.weights(one), out / "one-initial.pt")
    for epoch in (1, 2):
        one.train(epoch)
        snapshot = {"weights": child.weights(one), "tracker": one.state.tracker.state_dict()}
        torch.save(snapshot, out / f"one-epoch{epoch}.pt")
    finish(killed, ok=False)
    shutil.copytree(out / "killed", out / "killed-then-one")  # to resume on one process
    the_rest = launch(out, "killed", "straight:slow-main", "unsynced:unsynced")  # "killed" resumes
    child.tiny_run(out / "killed-then-one").train()
    finish(the_rest)
    return out


def load(path: Path):
    return torch.load(path, weights_only=False)


def flat(weights: dict) -> torch.Tensor:
    return torch.cat([w.flatten() for w in weights.values()])


def errors(out: Path, run: str, epoch: int) -> tuple[float, float]:
    """Relative errors of ``run``'s weights after ``epoch`` against the one-process run's: against the
    weights, and against what training moved them by (w_one - w_initial)."""
    one, two = (flat(load(out / f"{r}-epoch{epoch}.pt")["weights"]) for r in ("one", run))
    initial = flat(load(out / "one-initial.pt"))
    gap = (two - one).norm()
    return float(gap / one.norm()), float(gap / (one - initial).norm())


def report(out: Path, run: str, rank: int) -> dict:
    return json.loads((out / f"{run}-rank{rank}.json").read_text())


def test_two_processes_train_the_weights_of_one_with_the_whole_batch(out):
    assert torch.equal(load(out / "straight-initial.pt"), flat(load(out / "one-initial.pt")))
    for epoch in (1, 2):
        weights, moved = errors(out, "straight", epoch)
        # what training moved agrees to about the weights' float32 rounding (1.2e-7 at |w| = 1, on
        # steps of about the learning rate, 3e-4): measured 3e-8 and 1.6e-5
        assert weights <= 1e-5 and moved <= 1e-3
    for rank in (0, 1):  # both processes held the same weights after every optimiser step
        assert report(out, "straight", rank)["gaps"] == [0.0] * 4


def test_the_loss_through_the_bare_unet_fails_that_check(out):
    """ddpo-pytorch's bug before its commit 5955244: every process steps with its own gradients."""
    weights, moved = errors(out, "unsynced", 1)
    assert weights > 1e-5 and moved > 0.5  # measured 2.3e-3 and 1.1: the steps are others
    gaps = report(out, "unsynced", 1)["gaps"]
    assert len(gaps) == 4 and all(g > 0 for g in gaps)  # and the processes' weights drift apart


def test_the_stat_tracker_sees_the_whole_epoch(out):
    one, two = (load(out / f"{run}-epoch1.pt")["tracker"] for run in ("one", "straight"))
    assert one == two and sum(map(len, one.values())) == 8  # epoch 1: the same samples, bit for bit
    one, two = (load(out / f"{run}-epoch2.pt")["tracker"] for run in ("one", "straight"))
    assert one.keys() == two.keys()
    for prompt in one:
        assert one[prompt] == pytest.approx(two[prompt], rel=1e-5)


def test_only_the_main_process_writes_and_the_others_wait_for_it(out):
    main, other = report(out, "straight", 0), report(out, "straight", 1)
    assert main["writes"].count(CHECKPOINT) == 2 and main["writes"].count("trained.json") == 1
    assert other["writes"] == []
    assert main["published_on_return"] and other["published_on_return"]  # it waited out the slow publish


def test_a_two_process_run_killed_and_resumed_ends_bitwise_equal(out):
    assert not any(p.name.startswith(".") for p in (out / "killed").iterdir())  # the temporary is gone
    straight, killed = (load(out / run / CHECKPOINT) for run in ("straight", "killed"))
    assert straight["epoch"] == killed["epoch"] == 2
    assert all(torch.equal(straight["weights"][n], killed["weights"][n]) for n in straight["weights"])
    assert torch.equal(straight["rng"]["noise"], killed["rng"]["noise"]) and straight["tracker"] == killed["tracker"]
    assert (out / "straight" / METRICS).read_bytes() == (out / "killed" / METRICS).read_bytes()


def test_a_two_process_run_resumed_on_one_process_ends_close(out):
    runs = ("straight", "killed-then-one")
    straight, switched = (load(out / run / CHECKPOINT) for run in runs)
    assert switched["epoch"] == 2 and straight["history"][0] == switched["history"][0]  # epoch 1: two processes'
    assert torch.equal(straight["rng"]["order"], switched["rng"]["order"])  # the same prompts and shuffling
    assert torch.equal(straight["rng"]["noise"], switched["rng"]["noise"])  # the same noise
    gap = (flat(straight["weights"]) - flat(switched["weights"])).norm()
    assert gap <= 1e-5 * (flat(straight["weights"]) - flat(load(out / "one-initial.pt"))).norm()


def test_a_process_samples_its_share_of_the_batches_and_its_slice_of_each_train_batch():
    assert processes.batch_share(8, 4, 2) == range(4, 6)
    with pytest.raises(ValueError, match=r"sample_batches \(6\) must be a multiple of the number of processes \(4\)"):
        processes.batch_share(6, 4, 0)
    rows = torch.arange(10, 16)
    assert [processes.row_slice(rows, 4, i)[0].tolist() for i in range(4)] == [[10, 11], [12, 13], [14], [15]]
    assert processes.row_slice(rows, 4, 2)[1] == 4 * 1 / 6  # N times its share: DDP's mean is the batch's
    whole, one = processes.row_slice(rows, 1, 0)
    assert torch.equal(whole, rows) and one == 1.0  # one process: the batch, its loss as it is
    mine, weight = processes.row_slice(rows[:2], 4, 3)  # more processes than rows: one row, weighed 0
    assert mine.tolist() == [10] and weight == 0.0
