"""benchmarks/budget.py: the two budgets of a regime compared on the pairs both ran."""

import json

import pytest

from benchmarks.budget import baselines, compare, markdown


def _run_dir(path, elastic, gan):
    """A run directory whose report holds ``elastic`` {seed: acc} and ``gan`` {(gan seed, seed): acc}."""
    path.mkdir()

    def run(acc, **keys):
        return {**keys, "test": {"balanced_accuracy": acc}, "validation": {"balanced_accuracy": acc - 0.01}}

    results = {
        "elastic": [run(a, seed=s) for s, a in elastic.items()],
        "gan+elastic": [run(a, seed=s, gan_seed=g) for (g, s), a in gan.items()],
    }
    (path / "report.json").write_text(json.dumps({"results": results}))
    return str(path)


def test_compare_pairs_runs_and_measures_the_gap(tmp_path):
    short = _run_dir(tmp_path / "short", {0: 0.90, 1: 0.92}, {(0, 0): 0.91, (0, 1): 0.94})
    # the long run has one more GAN seed: only the pairs both budgets ran are compared
    long = _run_dir(tmp_path / "long", {0: 0.90, 1: 0.92}, {(0, 0): 0.93, (0, 1): 0.96, (1, 0): 0.99, (1, 1): 0.99})
    row = compare([short], [long], "test", {1000: 95.0, 3000: 96.0})
    assert row["pairs"] == [[0, 0], [0, 1]]
    assert row["1000"]["delta"][0] == pytest.approx(1.5)  # (1 + 2) / 2 points
    assert row["3000"]["delta"][0] == pytest.approx(3.5)
    assert row["delta_change"][0] == pytest.approx(2.0)
    assert row["3000"]["elastic"] == pytest.approx(91.0)
    assert row["3000"]["gap_closed"] == pytest.approx(3.5 / (96.0 - 91.0))
    assert row["1000"]["gap_closed"] == pytest.approx(1.5 / (95.0 - 91.0))
    assert compare([short], [long], "validation", None)["1000"]["elastic"] == pytest.approx(90.0)
    assert "| 90:1 | 2 | 91.00 → 91.00 |" in markdown({"imb100": row})


def test_compare_refuses_budgets_without_a_common_pair(tmp_path):
    short = _run_dir(tmp_path / "short", {0: 0.9}, {(0, 0): 0.91})
    long = _run_dir(tmp_path / "long", {0: 0.9}, {(1, 0): 0.93})
    with pytest.raises(SystemExit, match="no \\(GAN seed, classifier seed\\) pair"):
        compare([short], [long], "test", None)


def test_baselines_pick_the_non_gan_arm_on_validation_and_pair_the_gan_arm_with_it(tmp_path):
    def run(seed, val, test):
        return {"seed": seed, "validation": {"balanced_accuracy": val}, "test": {"balanced_accuracy": test}}

    arms = {  # stroke leads on validation and trails elastic on test: validation decides
        "classical": [run(0, 0.80, 0.80), run(1, 0.80, 0.80)],
        "elastic": [run(0, 0.85, 0.90), run(1, 0.85, 0.90)],
        "stroke": [run(0, 0.86, 0.88), run(1, 0.86, 0.89)],
    }
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "report.json").write_text(json.dumps({"results": arms}))
    gan = _run_dir(tmp_path / "gan", {0: 0.9, 1: 0.9}, {(0, 0): 0.91, (0, 1): 0.92, (1, 0): 0.93, (1, 1): 0.94})
    cell = baselines({3000: str(tmp_path / "base")}, {3000: [gan]})["3000"]
    assert cell["best"] == "stroke"
    assert cell["arms"]["stroke"]["test"] == pytest.approx(88.5)
    # (91 - 88) + (92 - 89) + (93 - 88) + (94 - 89) over 4 pairs
    assert cell["gan_elastic_minus_best"][0] == pytest.approx(4.0)
