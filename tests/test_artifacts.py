import numpy as np
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
