import numpy as np
import pytest

from clipcreate_lib import centroids


def _blobs():
    centres = np.array([[5.0, 0.0], [0.0, 5.0], [-5.0, -5.0]])
    rng = np.random.default_rng(0)
    points = np.concatenate([c + 0.1 * rng.standard_normal((40, 2)) for c in centres])
    return centres, points.astype(np.float32)


def test_centroids_recover_hand_placed_clusters():
    truth, points = _blobs()
    _, fitted = centroids.sweep(points, [3], seed=0, n_init=4, what="blobs")
    found = fitted[3]
    assert found.shape == (3, 2) and found.dtype == np.float32
    order = [int(np.argmin(np.linalg.norm(found - c, axis=1))) for c in truth]
    assert sorted(order) == [0, 1, 2]
    assert np.abs(found[order] - truth).max() < 0.05


def test_inertia_falls_with_k_and_matches_its_definition():
    _, points = _blobs()
    curve, fitted = centroids.sweep(points, [3, 1, 2, 2], seed=0, n_init=4, what="blobs")
    assert list(curve["k"]) == [1, 2, 3] and sorted(fitted) == [1, 2, 3]
    assert curve["inertia"].is_monotonic_decreasing
    one = ((points - points.mean(0)) ** 2).sum()
    assert curve["inertia"].iloc[0] == pytest.approx(one, rel=1e-4)
    assert np.allclose(fitted[1][0], points.mean(0), atol=1e-4)


def test_k_larger_than_the_data_is_a_clear_error():
    _, points = _blobs()
    with pytest.raises(ValueError, match="full: k = 500 is larger than the 120 images to cluster"):
        centroids.sweep(points, [2, 500], seed=0, n_init=1, what="full")
    with pytest.raises(ValueError, match="k must be at least 1, got 0"):
        centroids.check_k(0, 120, "full")
