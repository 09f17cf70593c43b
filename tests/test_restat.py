"""benchmarks/restat.py: committed intervals recomputed from the runs a results file stores."""

import json

import numpy as np
import pytest

from benchmarks.restat import NOTE, gains_tables, recipe_reports
from ganaug.report import markdown
from ganaug.stats import paired_ci, summarize


def _report():
    def row(seed, acc, gan_seed=None):
        m = {"balanced_accuracy": acc, "accuracy": acc, "macro_f1": acc, "per_class_recall": [acc, acc]}
        r = {"seed": seed, "test": m, "validation": m}
        return r if gan_seed is None else {**r, "gan_seed": gan_seed}

    results = {
        "elastic": [row(s, a) for s, a in enumerate([0.90, 0.93, 0.91])],
        "gan+elastic": [row(s, a + d, g) for g, d in ((0, 0.01), (1, 0.03)) for s, a in enumerate([0.90, 0.93, 0.92])],
    }
    old = summarize(results, [], "balanced_accuracy", True)
    # the interval as it was made before: every (GAN seed, classifier seed) pair counted as a separate pair
    old["headline"]["test_diff_ci95"] = list(paired_ci(old["headline"]["diffs"])[1:])
    old["headline"].pop("test_diff_per_gan_seed")
    return {
        "recipe": {
            "name": "r",
            "seeds": [0, 1, 2],
            "arms": list(results),
            "classifier": {"steps": 1, "batch_size": 2},
            "guard": {"metric": "balanced_accuracy"},
        },
        "data": {"test_rows": 3, "train_class_counts": [], "validation_class_counts": [], "minority_classes": []},
        "gan": {"seeds": [0, 1]},
        "guard": {"verdict": "v"},
        "timings": {},
        "results": results,
        **old,
    }


def test_recipe_report_intervals_are_recomputed_and_its_markdown_patched_once(tmp_path):
    report = _report()
    folder = tmp_path / "recipe-r"
    folder.mkdir()
    (folder / "report.json").write_text(json.dumps(report))
    (folder / "report.md").write_text(markdown(report))
    old_ci = report["headline"]["test_diff_ci95"]
    assert recipe_reports(check=True, root=tmp_path) == [folder / "report.json"]
    assert json.loads((folder / "report.json").read_text()) == report  # --check writes nothing
    recipe_reports(check=False, root=tmp_path)
    new = json.loads((folder / "report.json").read_text())
    per_seed = [0.02, 0.02, 0.03]  # each classifier seed's two GAN seeds averaged
    assert new["headline"]["test_diff_ci95"] == pytest.approx(list(paired_ci(per_seed)[1:]))
    assert new["headline"]["test_diff_ci95"] != pytest.approx(old_ci)
    assert new["headline"]["test_diff_per_gan_seed"] == pytest.approx({"0": 0.04 / 3, "1": 0.1 / 3})
    text = (folder / "report.md").read_text()
    assert NOTE in text and "per GAN seed 0 / 1: +1.33 / +3.33; for a newly trained GAN " in text
    from ganaug.stats import new_gan_ci

    _, lo, hi, _ = new_gan_ci(np.array([[0.01, 0.01, 0.02], [0.03, 0.03, 0.04]]))  # GAN seed × classifier seed
    assert new["headline"]["test_diff_ci95_new_gan"] == pytest.approx([lo, hi])
    assert f"for a newly trained GAN {100 * lo:+.2f} to {100 * hi:+.2f})." in text
    assert f"{100 * old_ci[0]:+.2f} to" not in text
    assert recipe_reports(check=True, root=tmp_path) == []  # done once, nothing left to change


def test_new_gan_interval_covers_a_random_gan_where_the_interval_for_these_gans_does_not():
    from ganaug.stats import new_gan_ci, seed_ci

    rng = np.random.default_rng(1)
    seeds = [c for _ in range(2) for c in range(5)]
    covered = {"these": 0, "new": 0}
    for _ in range(2000):  # true mean 0; each GAN seed shifts its row (sd 1), classifier seeds (sd 1), residual 0.5
        d = rng.standard_normal((2, 1)) + rng.standard_normal((1, 5)) + 0.5 * rng.standard_normal((2, 5))
        _, lo, hi = seed_ci(d.ravel(), seeds)
        covered["these"] += lo <= 0 <= hi
        _, lo, hi, _ = new_gan_ci(d)
        covered["new"] += lo <= 0 <= hi
    assert covered["these"] / 2000 < 0.85  # a GAN seed's own effect is not in the interval for these GANs
    assert covered["new"] / 2000 > 0.93
    # no GAN-seed effect: the two intervals are the same
    d = np.array([[0.1, 0.3, 0.2, 0.5, 0.4], [0.2, 0.2, 0.3, 0.4, 0.5]])
    assert new_gan_ci(d)[1:3] == pytest.approx(seed_ci(d.ravel(), seeds)[1:])
    assert new_gan_ci(d)[3] == 4


def test_new_gan_interval_by_hand_on_a_two_by_three_table():
    from scipy import stats

    from ganaug.stats import new_gan_ci

    # GAN means 2 and 3, classifier-seed means 1.5, 3, 3: MS_GAN 1.5, MS_seed 1.5, MS_residual 0.5
    mean, lo, hi, df = new_gan_ci(np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 3.0]]))
    assert mean == pytest.approx(2.5)
    assert df == pytest.approx(2.5**2 / (1.5**2 / 1 + 1.5**2 / 2 + 0.5**2 / 2))
    half = stats.t.ppf(0.975, df) * np.sqrt(2.5 / 6)  # (MS_GAN + MS_seed - MS_residual) / (G C)
    assert (lo, hi) == pytest.approx((2.5 - half, 2.5 + half))


def test_gains_tables_are_recomputed_in_their_json_and_markdown(tmp_path):
    report = _report()
    summary = {
        "arms": {a: {"gain_vs_real_test": None} for a in report["results"]},
        "headline": dict(report["headline"]),
        "guard": None,
    }
    res = {"regimes": {"imb100": {"report": report, "summary": summary}}}
    (tmp_path / "gains-x.json").write_text(json.dumps(res))
    old_ci = report["headline"]["test_diff_ci95"]
    (tmp_path / "gains-x.md").write_text(f"# t\n\n| imb100 | [{100 * old_ci[0]:+.2f}, {100 * old_ci[1]:+.2f}] |\n")
    assert gains_tables(check=False, root=tmp_path) == [tmp_path / "gains-x.json"]
    new = json.loads((tmp_path / "gains-x.json").read_text())["regimes"]["imb100"]
    ci = new["report"]["headline"]["test_diff_ci95"]
    assert new["summary"]["headline"]["test_diff_ci95"] == ci == pytest.approx(list(paired_ci([0.02, 0.02, 0.03])[1:]))
    text = (tmp_path / "gains-x.md").read_text()
    assert f"| imb100 | [{100 * ci[0]:+.2f}, {100 * ci[1]:+.2f}] |" in text and NOTE in text
    assert gains_tables(check=True, root=tmp_path) == []
