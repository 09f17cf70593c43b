"""Error rates of the gain guard: how often it passes synthetic data that does not help, and how often it passes
data that does, for each candidate decision rule, at the recipe's seed counts.

The recipe (default: the balance recipe, 90:1) is run once with ``--seeds`` classifier seeds of two arms,
``elastic`` (the best non-GAN arm there) and ``gan+elastic``, on one GAN (the balance recipe's cached GAN in
``runs/balance-mnist/gan`` is reused when present). Every run keeps its per-image validation correctness. Then,
for seed-subset sizes ``--subset`` (3 = the shipped recipe):

* **null** comparisons: an arm against itself under disjoint seed sets (A's seeds against B's seeds, paired in
  order), for both arms: the guard must pass at most 5 % of them;
* **power**: ``gan+elastic`` against ``elastic`` on the same seeds (as the recipe pairs them), while the test
  split over all seeds says how large the true effect is.

Subsets are drawn at random (``--draws``, seeded) from the same pool of seeds, so draws are not independent:
the rates are estimates for this pool, and the report gives the pool size next to them.

Rules compared (each passes when the lower end of its 95 % interval is above zero):

* ``seed-t``: t-interval over the per-seed differences of validation balanced accuracy (the guard until now);
* ``image-bootstrap``: stratified bootstrap over validation images of the seed-averaged per-image difference
  (``ganaug.stats.bootstrap_paired``), which carries the images' sampling noise but not the seeds';
* ``two-way-bootstrap``: seeds (paired) and images (stratified by class) resampled together
  (``bootstrap_two_way`` below; it lost, so it is not in the library).

Run::

    .venv/bin/python benchmarks/guard_calibration.py              # 20 seeds x 2 arms, ~20 min on 2 cores
    .venv/bin/python benchmarks/guard_calibration.py --smoke      # plumbing check; writes results/smoke/
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks._common import REPO, SMOKE_BANNER, machine_line, machine_record, md_table, results_dir, write_results  # noqa: E402
from ganaug.stats import class_weighted_mean, class_weights, interval_from_draws  # noqa: E402

BASE, GAN = "elastic", "gan+elastic"


def bootstrap_two_way(
    diff: Any, labels: Any, metric: str = "balanced_accuracy", resamples: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """Bootstrap of a seeds × images difference (seed i of arm A paired with seed i of arm B) that resamples the
    seeds (paired, with replacement) and the images (stratified by class) together, so the interval carries
    both the classifier's seed noise and the validation images' sampling noise."""
    d = np.asarray(diff, dtype=np.float64)
    if d.ndim != 2:
        raise ValueError(f"diff must be seeds x images, got shape {d.shape}")
    n_seeds = d.shape[0]
    classes, weights = class_weights(labels, metric)
    rng = np.random.default_rng(seed)
    point = class_weighted_mean(d.mean(0), labels, metric)
    seed_weights = rng.multinomial(n_seeds, [1 / n_seeds] * n_seeds, size=resamples) / n_seeds  # R x seeds
    per_image = seed_weights @ d  # R x images: each resample's seed-averaged difference per image
    draws = np.zeros(resamples)
    rows = np.arange(resamples)[:, None]
    for w, idx in zip(weights, classes, strict=True):
        picks = idx[rng.integers(0, len(idx), size=(resamples, len(idx)))]
        draws += w * per_image[rows, picks].mean(1)
    return interval_from_draws(point, draws, d.shape[1] / len(classes), resamples)


def run_pool(args) -> tuple[dict[str, Any], np.ndarray, float]:
    """Run the recipe with ``args.seeds`` seeds of the two arms; returns (results, validation labels, the run's
    wall seconds)."""
    from ganaug.experiment import build_splits
    from ganaug.recipe import load_recipe
    from ganaug.runner import run_recipe

    out = REPO / "runs" / ("guard-calibration-smoke" if args.smoke else "guard-calibration")
    sets = [f"seeds={list(range(args.seeds))}", f'arms=["{BASE}", "{GAN}"]', f'output_dir="{out}"']
    if args.smoke:
        sets += ["gan.steps=20", "classifier.steps=20", "experiment.validation_per_class=10"]
    recipe = load_recipe(args.recipe, sets)
    labels = np.asarray(build_splits(recipe.data, recipe.experiment).val.labels)
    previous = out / "report.json"
    if args.reuse and previous.exists():  # the pool of a finished run with the same recipe: analysis only
        report = json.loads(previous.read_text())
        old = report["recipe"]  # keys the library added since that run take their defaults
        if all(old.get(k, v) == v for k, v in recipe.to_dict().items() if k != "path"):
            return report["results"], labels, report["timings"]["total_s"]
        print(f"{previous} was made by another recipe: running the pool again")
    cached = REPO / "runs" / "balance-mnist" / "gan"
    if (
        not args.smoke
        and Path(args.recipe).name == "balance-mnist.toml"
        and cached.exists()
        and not (out / "gan").exists()
    ):
        shutil.copytree(cached, out / "gan")  # reused only if its cache key matches (same settings and data)
    report = run_recipe(recipe, write_anyway=True, progress=not args.quiet)
    return report["results"], labels, report["timings"]["total_s"]


def _correct(rows: list[dict[str, Any]], idx) -> np.ndarray:
    return np.asarray([rows[i]["validation_correct"] for i in idx], dtype=np.float64)


def decide(rule: str, a: np.ndarray, b: np.ndarray, labels: np.ndarray, seed: int, resamples: int) -> bool:
    """(passed, point estimate) of ``rule`` on per-seed per-image correctness ``a`` and ``b`` (seeds paired)."""
    from ganaug.stats import balanced_accuracy_from_correct, image_bootstrap, paired_ci

    if rule == "seed-t":
        score = balanced_accuracy_from_correct
        d = [score(x, labels) - score(y, labels) for x, y in zip(a, b, strict=True)]
        mean, lo, _ = paired_ci(d)
        return bool(mean > 0 and lo > 0)
    if rule == "image-bootstrap":
        r = image_bootstrap(a.mean(0) - b.mean(0), labels, resamples=resamples, seed=seed)
    else:
        r = bootstrap_two_way(a - b, labels, resamples=resamples, seed=seed)
    return bool(r["ci95"][0] > 0)


RULES = ("seed-t", "image-bootstrap", "two-way-bootstrap")


def calibrate(results: dict[str, Any], labels: np.ndarray, args) -> dict[str, Any]:
    rng = np.random.default_rng(args.seed)
    n = args.seeds
    out: dict[str, Any] = {}
    for s in args.subset:
        if 2 * s > n:
            continue
        cell: dict[str, Any] = {}
        draws = {"null_" + arm: [] for arm in (BASE, GAN)} | {"power": []}
        for _ in range(args.draws):
            perm = rng.permutation(n)
            for arm in (BASE, GAN):
                draws["null_" + arm].append((_correct(results[arm], perm[:s]), _correct(results[arm], perm[s : 2 * s])))
            pick = rng.permutation(n)[:s]
            draws["power"].append((_correct(results[GAN], pick), _correct(results[BASE], pick)))
        for kind, pairs in draws.items():
            cell[kind] = {}
            for rule in RULES:
                passed = [decide(rule, a, b, labels, int(rng.integers(2**31)), args.resamples) for a, b in pairs]
                cell[kind][rule] = float(np.mean(passed))
        out[str(s)] = cell
    return out


def test_effect(results: dict[str, Any]) -> dict[str, Any]:
    from ganaug.stats import paired

    d, mean, lo, hi = paired(results, GAN, BASE, "test", "balanced_accuracy")
    dv, mv, lov, hiv = paired(results, GAN, BASE, "validation", "balanced_accuracy")
    return {"test": {"mean": mean, "ci95": [lo, hi], "diffs": d}, "validation": {"mean": mv, "ci95": [lov, hiv]}}


def markdown(res: dict[str, Any], smoke: bool) -> str:
    e = res["effect"]
    lines = [
        "# Gain guard calibration",
        SMOKE_BANNER if smoke else "",
        f"Machine: {machine_line(res['machine'])}",
        "",
        f"Recipe `{res['recipe']}`, one GAN, {res['seeds']} classifier seeds of `{BASE}` and `{GAN}`; "
        f"{res['draws']} random seed subsets per cell (drawn from that pool, so not independent); "
        f"{res['validation_images']} validation images. "
        f"The pool's run took {res['pool_seconds'] / 60:.1f} min on this machine.",
        "",
        f"True effect, all {res['seeds']} seeds: `{GAN}` − `{BASE}` test balanced accuracy "
        f"{100 * e['test']['mean']:+.2f} points "
        f"[{100 * e['test']['ci95'][0]:+.2f}, {100 * e['test']['ci95'][1]:+.2f}]; "
        f"validation {100 * e['validation']['mean']:+.2f} [{100 * e['validation']['ci95'][0]:+.2f}, "
        f"{100 * e['validation']['ci95'][1]:+.2f}].",
        "",
    ]
    rows = []
    for s, cell in res["calibration"].items():
        for rule in RULES:
            rows.append(
                [
                    s,
                    f"`{rule}`",
                    f"{100 * cell[f'null_{BASE}'][rule]:.1f} %",
                    f"{100 * cell[f'null_{GAN}'][rule]:.1f} %",
                    f"{100 * cell['power'][rule]:.1f} %",
                ]
            )
    lines.append(
        md_table(
            ["seeds", "rule", f"null pass rate (`{BASE}` vs itself)", f"null pass rate (`{GAN}` vs itself)", "power"],
            rows,
        )
    )
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recipe", default=str(REPO / "recipes" / "balance-mnist.toml"))
    p.add_argument("--seeds", type=int, default=20, help="classifier seeds per arm in the pool")
    p.add_argument("--subset", type=int, nargs="+", default=[3, 5], help="seeds per guard decision")
    p.add_argument("--draws", type=int, default=1000, help="random subsets per cell")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples per decision")
    p.add_argument("--out", default=None)
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--reuse", action="store_true", help="analyse the pool of the last run (its report.json) again")
    p.add_argument("--smoke", action="store_true", help="tiny sizes; writes to <out>/smoke/")
    a = p.parse_args(argv)
    if a.smoke:
        a.seeds, a.subset, a.draws = 4, [2], 20
    return a


def main(argv=None) -> dict[str, Any]:
    args = parse_args(argv)
    t0 = time.perf_counter()
    results, labels, pool_seconds = run_pool(args)
    res = {
        "machine": machine_record(),
        "recipe": Path(args.recipe).name,
        "seeds": args.seeds,
        "draws": args.draws,
        "validation_images": int(labels.size),
        "effect": test_effect(results),
        "calibration": calibrate(results, labels, args),
        "per_seed": {arm: [r["validation"]["balanced_accuracy"] for r in results[arm]] for arm in (BASE, GAN)},
    }
    res["pool_seconds"] = pool_seconds
    res["analysis_seconds"] = time.perf_counter() - t0
    out = results_dir(args.out, args.smoke)
    js, md = write_results(out, "guard-calibration", res, markdown(res, args.smoke))
    print(f"wrote {js} and {md}")
    return res


if __name__ == "__main__":
    main()
