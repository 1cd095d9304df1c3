import os

import numpy as np
import pandas as pd
import pytest

from clipcreate_lib import artifacts


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "centroids.npy"
    artifacts.save_npy(target, np.arange(3))

    def fail(handle):
        handle.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        artifacts.atomic_write(target, fail)
    assert np.array_equal(np.load(target), np.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["centroids.npy"]


def test_provenance_decides_reuse(tmp_path):
    target = tmp_path / "emb.npy"
    made_from = {"clip": "tiny-seed0", "rows": 3, "cap": None}
    assert not artifacts.is_current(target, made_from)
    artifacts.save_npy(target, np.zeros(3))
    assert not artifacts.is_current(target, made_from)  # no provenance yet: rebuild
    artifacts.mark_made_from(target, made_from)
    assert artifacts.is_current(target, made_from)
    assert not artifacts.is_current(target, {**made_from, "rows": 4})
    assert artifacts.read_made_from(target) == made_from
    artifacts.forget_made_from(target)  # before a rewrite: an interrupted one is not taken as current
    assert not artifacts.is_current(target, made_from) and target.exists()
    artifacts.forget_made_from(target)  # nothing to forget is fine


def test_atomic_files_and_staging_folders_get_the_ordinary_modes_the_umask_allows(tmp_path):
    mask = os.umask(0o027)
    try:
        artifacts.save_json(tmp_path / "record.json", {"a": 1})
        staging = artifacts.staging_dir(tmp_path / "kit")
    finally:
        os.umask(mask)
    assert (tmp_path / "record.json").stat().st_mode & 0o777 == 0o640  # 0o666 narrowed, not mkstemp's 0o600
    assert staging.stat().st_mode & 0o777 == 0o750 and staging.parent == tmp_path and not any(staging.iterdir())


def test_reuse_or_rebuild_loads_while_the_record_holds_and_rebuilds_otherwise(tmp_path):
    target, built = tmp_path / "emb.npy", []

    def rebuild():
        built.append(1)
        return artifacts.save_npy(target, np.full(2, len(built)))

    def load():
        return target

    for made_from, expected_reuse, expected_builds in (
        ({"rows": 2}, False, 1),
        ({"rows": 2}, True, 1),
        ({"rows": 3}, False, 2),
    ):
        _, reused = artifacts.reuse_or_rebuild(target, made_from, rebuild, load)
        assert (reused, len(built), artifacts.read_made_from(target)) == (expected_reuse, expected_builds, made_from)

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        artifacts.reuse_or_rebuild(target, {"rows": 4}, interrupted, load)
    assert not artifacts.is_current(target, {"rows": 3})  # the record went before the rebuild began


def test_required_provenance_names_the_notebook_and_the_value(tmp_path):
    target = tmp_path / "centroids.npy"
    with pytest.raises(FileNotFoundError, match="centroids.npy is missing; run notebook 02_centroids first"):
        artifacts.require_made_from(target, "02_centroids")
    artifacts.save_npy(target, np.zeros(1))
    artifacts.mark_made_from(target, {"clip": "tiny-seed0"})
    made_from = artifacts.require_made_from(target, "02_centroids")
    artifacts.require_value(target, made_from, "clip", "tiny-seed0", "02_centroids")
    with pytest.raises(RuntimeError, match="made for clip 'tiny-seed0', not 'mini-abc'; rerun notebook 02"):
        artifacts.require_value(target, made_from, "clip", "mini-abc", "02_centroids")


def test_remove_temporaries_deletes_only_what_an_interrupted_write_of_the_named_files_left(tmp_path):
    stale_files = [".checkpoint.pt.0123456789ab.tmp", ".checkpoint.pt.ba9876543210"]
    stale_folders = [".lora.abcdef012345", ".lora.old"]  # a staging folder, one moved aside
    kept_files = [
        "checkpoint.pt",
        ".other.csv.0123456789ab.tmp",  # another file's
        ".checkpoint.pt.not-hex-here.tmp",
        ".checkpoint.pt.0123456789ab.tmp.bak",
    ]
    for name in stale_files + kept_files:
        (tmp_path / name).write_text("x")
    for name in [*stale_folders, "lora"]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "inside").write_text("x")
    removed = artifacts.remove_temporaries(tmp_path, ("checkpoint.pt", "lora"))
    assert sorted(p.name for p in removed) == sorted(stale_files + stale_folders)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*kept_files, "lora"])
    assert artifacts.remove_temporaries(tmp_path / "missing", ("lora",)) == []


def test_repair_csv_writes_only_a_missing_or_disagreeing_log(tmp_path):
    table = pd.DataFrame({"epoch": [1, 2], "loss": [0.5, 0.25]})
    path = tmp_path / "losses.csv"
    assert artifacts.repair_csv(path, table) and pd.read_csv(path).equals(table)  # missing: written
    assert not artifacts.repair_csv(path, table)  # the same bytes: left alone
    path.write_text("epoch,loss\n1,0.5\n")  # a kill between the checkpoint and its log
    assert artifacts.repair_csv(path, table) and path.read_bytes() == table.to_csv(index=False).encode()
    assert [p.name for p in tmp_path.iterdir()] == ["losses.csv"]
