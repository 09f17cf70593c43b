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

The null comparisons above set one arm against one arm. ``ganaug run`` decides after a choice: it picks the best
of the recipe's GAN arms and the best of its non-GAN arms on the same validation split it then tests them on, and
the best of k noisy arms looks better than any one of them. ``selection_nulls`` measures the whole decision on the
pool's per-seed validation scores: k "GAN arms" and m baselines, each the same arm under its own disjoint seeds
(independent copies: the most a choice among k can inflate), the best of each picked on the per-seed mean, then
the paired seed-t rule (the guard until December 5) and the guard's rule now (Welch's interval at the level
``ganaug.stats.guard_level`` sets for k) on that pair. ``shared_baseline`` measures the design of a recipe with
two GAN seeds, where each baseline run meets a row of every GAN seed. Both write ``guard-selection.{json,md}``;
``--selection-from`` computes them from a committed ``guard-calibration.json`` (its ``per_seed`` scores)
without running the pool.

Run::

    .venv/bin/python benchmarks/guard_calibration.py              # 20 seeds x 2 arms, ~20 min on 2 cores
    .venv/bin/python benchmarks/guard_calibration.py --smoke      # plumbing check; writes results/smoke/
    .venv/bin/python benchmarks/guard_calibration.py --selection-from benchmarks/results/guard-calibration.json \
        --subset 3 5 10                                           # guard-selection.md as committed
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


def selection_nulls(
    scores: Any, subsets: list[int], gan_arms: list[int], base_arms: list[int], draws: int = 4000, seed: int = 0
) -> list[dict[str, Any]]:
    """Null pass rates of the guard's whole decision on one arm's per-seed validation ``scores``: for every
    (seeds per arm s, GAN arms k, baselines m) with (k + m) s ≤ len(scores), ``draws`` random splits of the seeds
    into k + m disjoint groups of s; the group with the highest mean among the first k plays the chosen GAN arm,
    the highest among the other m the chosen baseline, paired in order. Each cell gives the pass rate of the
    paired 95 % t-interval (the guard until December 5) and of the guard's rule (Welch's interval,
    ``ganaug.stats.welch_ci``, at the level ``ganaug.stats.guard_level`` sets for k); both pass when the
    interval's lower end is above zero."""
    from scipy import stats

    from ganaug.stats import guard_level, welch_ci

    x = np.asarray(scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    rows = []
    for s in subsets:
        if s < 2:
            continue
        for k in gan_arms:
            for m in base_arms:
                if (k + m) * s > x.size:
                    continue
                groups = x[np.argsort(rng.random((draws, x.size)), axis=1)[:, : (k + m) * s]].reshape(draws, k + m, s)
                pick = np.arange(draws)
                best_gan = groups[pick, groups[:, :k].mean(2).argmax(1)]
                best_base = groups[pick, k + groups[:, k:].mean(2).argmax(1)]
                d = best_gan - best_base
                se = d.std(1, ddof=1) / np.sqrt(s)
                q = float(stats.t.ppf(0.975, s - 1))
                level = guard_level(k)
                lo = np.array([welch_ci(g, b, level)[1] for g, b in zip(best_gan, best_base, strict=True)])
                rows.append(
                    {
                        "seeds": s,
                        "gan_arms": k,
                        "baselines": m,
                        "null_pass_rate_plain_95": float(np.mean(d.mean(1) - q * se > 0)),
                        "null_pass_rate_guard": float(np.mean(lo > 0)),
                    }
                )
    return rows


def power_by_level(
    gan_scores: Any, base_scores: Any, subsets: list[int], gan_arms: list[int], draws: int = 4000, seed: int = 0
) -> list[dict[str, Any]]:
    """Pass rate of the guard's rule at the pool's real effect (``gan_scores`` against ``base_scores`` on random
    subsets of s seeds) at the level it uses for a recipe with k GAN arms, when this arm is the one validation
    picks."""
    from ganaug.stats import guard_level, welch_ci

    g, b = np.asarray(gan_scores, dtype=np.float64), np.asarray(base_scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    rows = []
    for s in subsets:
        if not 2 <= s <= g.size:
            continue
        picks = [rng.permutation(g.size)[:s] for _ in range(draws)]
        for k in gan_arms:
            passed = [welch_ci(g[i], b[i], guard_level(k))[1] > 0 for i in picks]
            rows.append({"seeds": s, "gan_arms": k, "pass_rate": float(np.mean(passed))})
    return rows


def shared_baseline(
    per_seed: dict[str, list[float]], gan_seeds: int = 2, seeds: int = 5, draws: int = 4000, seed: int = 0
) -> dict[str, Any]:
    """The design of a recipe with ``gan_seeds``: every GAN arm has a row per (GAN seed, classifier seed), every
    baseline a row per classifier seed, so each baseline run meets ``gan_seeds`` GAN rows. Null pass rates (one
    arm's seeds split into gan_seeds x seeds "GAN" rows and ``seeds`` baseline rows) of the paired t-interval over
    those gan_seeds x seeds pairs (the guard until December 5), of a paired interval over the classifier seeds
    (GAN rows averaged first) and of Welch's interval (the guard now), all at 95 %; and their pass rates at the
    pool's real effect (``gan+elastic``: one GAN seed's rows on the baseline's classifier seeds, the other's on
    other seeds)."""
    rng = np.random.default_rng(seed)
    n_gan = gan_seeds * seeds
    out: dict[str, Any] = {"gan_seeds": gan_seeds, "seeds": seeds, "draws": draws, "null": {}}
    for arm, v in per_seed.items():
        x = np.asarray(v, dtype=np.float64)
        if n_gan + seeds <= x.size:
            picks = (rng.permutation(x.size)[: n_gan + seeds] for _ in range(draws))
            out["null"][arm] = _pass_rates((x[i[:n_gan]].reshape(gan_seeds, seeds), x[i[n_gan:]]) for i in picks)
    if BASE in per_seed and GAN in per_seed and n_gan <= len(per_seed[GAN]):
        g, b = np.asarray(per_seed[GAN]), np.asarray(per_seed[BASE])
        picks = (rng.permutation(g.size)[:n_gan] for _ in range(draws))
        out["power"] = _pass_rates((g[i].reshape(gan_seeds, seeds), b[i[:seeds]]) for i in picks)
    return out


def _pass_rates(draws) -> dict[str, float]:
    """Pass rate of each rule of the shared-baseline design over ``draws`` of (GAN rows as GAN seeds x classifier
    seeds, baseline rows per classifier seed); each rule passes when its 95 % interval's lower end is above zero."""
    from ganaug.stats import paired_ci, welch_ci

    passes = [
        {
            "pairs": paired_ci((g - b).ravel())[1] > 0,
            "per_classifier_seed": paired_ci(g.mean(0) - b)[1] > 0,
            "welch": welch_ci(g.ravel(), b)[1] > 0,
        }
        for g, b in draws
    ]
    return {rule: float(np.mean([p[rule] for p in passes])) for rule in passes[0]}


def selection_report(per_seed: dict[str, list[float]], args, source: str, machine: dict[str, Any]) -> dict[str, Any]:
    """``selection_nulls`` on every arm of the pool, and on a large pool of independent normal scores (the
    t-interval's own model, free of the finite pool's dependence between draws)."""
    pools = dict(per_seed) | {"normal": np.random.default_rng(args.seed).standard_normal(1000).tolist()}
    res: dict[str, Any] = {"machine": machine, "source": source, "draws": args.selection_draws, "arms": {}}
    for i, (arm, scores) in enumerate(pools.items()):
        res["arms"][arm] = {
            "pool_seeds": len(scores),
            "cells": selection_nulls(scores, args.subset, [1, 2, 3, 4], [1, 2, 3], args.selection_draws, args.seed + i),
        }
    if BASE in per_seed and GAN in per_seed:
        res["power"] = power_by_level(per_seed[GAN], per_seed[BASE], args.subset, [1, 2, 3, 4], args.selection_draws)
    res["shared_baseline"] = shared_baseline(per_seed, draws=args.selection_draws, seed=args.seed)
    return res


def selection_markdown(res: dict[str, Any], smoke: bool) -> str:
    from ganaug.stats import guard_level

    arms = list(res["arms"])
    cells = {arm: {(c["seeds"], c["gan_arms"], c["baselines"]): c for c in res["arms"][arm]["cells"]} for arm in arms}
    keys = sorted(set().union(*cells.values()))

    def rates(c: dict[str, Any] | None) -> str:
        return (
            "—" if c is None else f"{100 * c['null_pass_rate_plain_95']:.1f} → {100 * c['null_pass_rate_guard']:.1f} %"
        )

    rows = [
        [s, k, m, f"{100 * guard_level(k):.4g} %"] + [rates(cells[a].get((s, k, m))) for a in arms] for s, k, m in keys
    ]
    pool = ", ".join(f"{res['arms'][a]['pool_seeds']} seeds of `{a}`" for a in arms if a != "normal")
    heads = [f"`{a}`" if a != "normal" else "independent normal scores" for a in arms]
    return "\n".join(
        [
            "# Gain guard: null pass rate of the whole decision, arm choice included",
            SMOKE_BANNER if smoke else "",
            f"Machine of the pool: {machine_line(res['machine'])}",
            "",
            f"Pool: {pool}, validation balanced accuracy per seed, from {res['source']}. Each cell: "
            f"{res['draws']} random splits of one arm's seeds into k + m disjoint groups of s seeds; the best of the "
            "first k plays the GAN arm the guard picks on validation, the best of the other m the baseline it "
            "picks, and the seed-t rule decides on that pair. Every arm is the same arm, so each pass is a false "
            "pass. Independent copies are the worst case for the choice; a recipe's real GAN arms share their "
            "synthetic rows and seeds. Each rate is the paired 95 % interval's (the guard until December 5) → the "
            "guard's (Welch's interval at the level k sets: `ganaug.stats.guard_level`). The last column draws from "
            "1,000 independent normal scores (the t-interval's own model: 2.5 % with one arm each); a pool of 20 "
            "seeds cannot fill the larger cells (—), and its draws overlap.",
            "",
            md_table(
                ["seeds per arm (s)", "GAN arms (k)", "baselines (m)", "guard's level"]
                + [f"null pass rate, {h}" for h in heads],
                rows,
            ),
        ]
        + _power_lines(res)
        + _shared_lines(res)
    )


def _shared_lines(res: dict[str, Any]) -> list[str]:
    sb = res.get("shared_baseline")
    if not sb or not sb["null"]:
        return []
    names = {
        "pairs": f"paired over the {sb['gan_seeds'] * sb['seeds']} (GAN seed, classifier seed) pairs (until now)",
        "per_classifier_seed": f"paired over the {sb['seeds']} classifier seeds, GAN rows averaged first",
        "welch": "Welch, all rows (the guard now)",
    }
    arms = list(sb["null"])
    rows = [
        [names[r]]
        + [f"{100 * sb['null'][a][r]:.1f} %" for a in arms]
        + ([f"{100 * sb['power'][r]:.1f} %"] if "power" in sb else [])
        for r in names
    ]
    return [
        "",
        f"A recipe with {sb['gan_seeds']} GAN seeds and {sb['seeds']} classifier seeds: each baseline run meets one "
        f"row of every GAN seed. 95 % intervals, {sb['draws']} draws:",
        "",
        md_table(
            ["interval"]
            + [f"null pass rate, `{a}`" for a in arms]
            + ([f"pass rate at the real effect (`{GAN}` − `{BASE}`)"] if "power" in sb else []),
            rows,
        ),
    ]


def _power_lines(res: dict[str, Any]) -> list[str]:
    if not res.get("power"):
        return []
    cells = {(r["seeds"], r["gan_arms"]): r["pass_rate"] for r in res["power"]}
    ks = sorted({k for _, k in cells})
    rows = [[s] + [f"{100 * cells[(s, k)]:.1f} %" for k in ks] for s in sorted({s for s, _ in cells})]
    return [
        "",
        f"What the level costs: pass rate at the pool's real effect (`{GAN}` against `{BASE}` on the same seeds, "
        "random subsets), when that arm is the one validation picks among k GAN arms:",
        "",
        md_table(["seeds"] + [f"k = {k}" for k in ks], rows),
    ]


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
    p.add_argument("--selection-draws", type=int, default=4000, help="random seed splits per selection cell")
    p.add_argument(
        "--selection-from",
        default=None,
        metavar="JSON",
        help="a guard-calibration.json: compute the selection nulls from its per-seed scores, run nothing",
    )
    a = p.parse_args(argv)
    if a.smoke:
        a.seeds, a.subset, a.draws = 4, [2], 20
    return a


def main(argv=None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.selection_from:
        src = json.loads(Path(args.selection_from).read_text())
        sel = selection_report(src["per_seed"], args, f"`{Path(args.selection_from).name}`", src["machine"])
        js, md = write_results(
            results_dir(args.out, args.smoke), "guard-selection", sel, selection_markdown(sel, args.smoke)
        )
        print(f"wrote {js} and {md}")
        return sel
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
    sel = selection_report(res["per_seed"], args, "this run's pool", res["machine"])
    js2, md2 = write_results(out, "guard-selection", sel, selection_markdown(sel, args.smoke))
    print(f"wrote {js}, {md}, {js2} and {md2}")
    return res


if __name__ == "__main__":
    main()
