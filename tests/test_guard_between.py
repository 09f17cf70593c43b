"""benchmarks/guard_between.py: the guard's rules between two arms on draws of a large held-out split."""

import numpy as np

from benchmarks.guard_between import measure


def _runs(p_correct: np.ndarray, seeds: int, rng) -> dict[tuple[int, int], np.ndarray]:
    return {(0, s): (rng.random(p_correct.size) < p_correct).astype(np.float64) for s in range(seeds)}


def test_a_clear_effect_passes_one_way_and_identical_arms_never_pass():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 200)
    a = _runs(np.full(labels.size, 0.6), 5, rng)
    b = _runs(np.full(labels.size, 0.95), 5, rng)
    res = measure(a, b, labels, per_class=50, draws=5, resamples=200, seed=0)
    assert res["pairs"] == 5
    rates = res["rates"]
    assert rates["seed-t/b_over_a"] == rates["image-bootstrap/b_over_a"] == rates["both/b_over_a"] == 1.0
    assert rates["seed-t/a_over_b"] == rates["both/a_over_b"] == 0.0
    same = measure(a, a, labels, per_class=50, draws=5, resamples=200, seed=0)["rates"]
    assert all(v == 0.0 for v in same.values())
