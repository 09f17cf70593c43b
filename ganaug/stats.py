"""Paired statistics over classifier seeds: per-arm summaries, the headline (best GAN arm against the best
non-GAN arm, both chosen on validation, compared on test) and the gain guard (the same comparison on
validation, which decides whether the synthetic dataset is written)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from .arms import uses_gan

Results = dict[str, list[dict[str, Any]]]  # arm -> one row per seed: {"seed", "test": metrics, "validation": ...}


def paired_ci(diffs: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean of paired differences and its t-interval; (mean, nan, nan) with a single pair."""
    d = np.asarray(diffs, dtype=np.float64)
    mean = float(d.mean()) if d.size else float("nan")
    if d.size < 2:
        return mean, float("nan"), float("nan")
    from scipy import stats

    half = float(stats.t.ppf(0.5 + level / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size))
    return mean, mean - half, mean + half


def seed_ci(diffs: Sequence[float], seeds: Sequence[Hashable], level: float = 0.95) -> tuple[float, float, float]:
    """Mean of paired differences and their t-interval over classifier seeds: ``seeds[i]`` is the classifier seed of
    ``diffs[i]``, and the differences of one classifier seed (one per GAN seed) are averaged before the interval.

    With several GAN seeds, each baseline run meets one GAN row per GAN seed; those differences share the baseline
    run and the classifier seed, so they are not independent, and an interval that counted them as separate pairs
    came out too narrow (the 90:1 pair recipe's headline: [+1.78, +2.12] over 10 pairs, [+1.64, +2.25] over its 5
    classifier seeds). Averaged per classifier seed, each one counts once. The interval is about the GANs that were
    trained: their seeds move the mean, not the spread, and two GAN seeds cannot say how a newly trained GAN would
    do (the reports show each GAN seed's own mean for that). With one GAN seed it is ``paired_ci``."""
    if len(diffs) != len(seeds):
        raise ValueError(f"{len(diffs)} differences but {len(seeds)} seeds: give one classifier seed per difference")
    groups: dict[Hashable, list[float]] = {}
    for seed, d in zip(seeds, diffs, strict=True):
        groups.setdefault(seed, []).append(float(d))
    return paired_ci([float(np.mean(v)) for v in groups.values()], level)


def new_gan_ci(d: np.ndarray, level: float = 0.95) -> tuple[float, float, float, float]:
    """Mean of a (GAN seed × classifier seed) table of differences and a t-interval that treats the GAN seeds, too, as
    drawn at random: the interval for a newly trained GAN, not for these ones. Two-way crossed random effects
    (d = μ + GAN + seed + residual), variance of the mean (MS_GAN + MS_seed − MS_residual) / (G C) with
    Satterthwaite's degrees of freedom; where MS_GAN ≤ MS_residual (no GAN-seed effect seen) it is ``seed_ci``'s
    MS_seed / (G C) on C − 1. Returns (mean, low, high, degrees of freedom)."""
    from scipy import stats

    g, c = d.shape
    mean = float(d.mean())
    by_gan, by_seed = d.mean(1), d.mean(0)
    ms_gan = c * float(((by_gan - mean) ** 2).sum()) / (g - 1)
    ms_seed = g * float(((by_seed - mean) ** 2).sum()) / (c - 1)
    resid = d - by_gan[:, None] - by_seed[None, :] + mean
    ms_res = float((resid**2).sum()) / ((g - 1) * (c - 1))
    if ms_gan <= ms_res:
        var, df = ms_seed / (g * c), float(c - 1)
    else:
        total = ms_gan + ms_seed - ms_res
        var = total / (g * c)
        df = total**2 / (ms_gan**2 / (g - 1) + ms_seed**2 / (c - 1) + ms_res**2 / ((g - 1) * (c - 1)))
    half = float(stats.t.ppf(0.5 + level / 2, df)) * math.sqrt(var)
    return mean, mean - half, mean + half, df


def gan_seed_table(results: Results, arm: str, other: str, split: str, metric: str) -> np.ndarray | None:
    """Differences ``arm − other`` as a (GAN seed × classifier seed) table, for ``new_gan_ci``; None unless ``arm``
    has two or more GAN seeds and every (GAN seed, classifier seed) pair ran exactly once, with a finite result."""
    return _gan_seed_table(*_differences(results, arm, other, split, metric))


def _gan_seed_table(matched: list[tuple[dict, dict]], d: list[float]) -> np.ndarray | None:
    cells = [
        ((a["gan_seed"], a["seed"]), x) for (a, _), x in zip(matched, d, strict=True) if a.get("gan_seed") is not None
    ]
    by_pair = dict(cells)
    gans, seeds = sorted({g for g, _ in by_pair}), sorted({s for _, s in by_pair})
    if len(gans) < 2 or len(seeds) < 2 or len(cells) != len(by_pair) or len(by_pair) != len(gans) * len(seeds):
        return None  # too few seeds, a pair that did not run, or one that ran twice
    table = np.array([[by_pair[g, s] for s in seeds] for g in gans])
    return None if np.isnan(table).any() else table


def welch_ci(a: Any, b: Any, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``a`` minus mean of ``b`` and Welch's t-interval (unequal variances, Welch-Satterthwaite degrees of
    freedom). Nothing is paired, so a baseline run that meets the rows of several GAN seeds counts once; (mean,
    nan, nan) when either side has fewer than two values."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    mean = float(x.mean() - y.mean()) if x.size and y.size else float("nan")
    if x.size < 2 or y.size < 2:
        return mean, float("nan"), float("nan")
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    if vx + vy == 0:
        return mean, mean, mean
    from scipy import stats

    df = (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1))
    half = float(stats.t.ppf(0.5 + level / 2, df) * math.sqrt(vx + vy))
    return mean, mean - half, mean + half


def pairs(rows: list[dict[str, Any]], other: list[dict[str, Any]]) -> list[tuple[dict, dict]]:
    """Rows of two arms matched on the classifier seed, and on the GAN seed where both have one: every GAN seed's
    row of a GAN arm meets the other arm's row of the same classifier seed, so the pairs are the (GAN seed,
    classifier seed) pairs; the pairs of one classifier seed share its run of the other arm, so intervals over
    them run over classifier seeds (``seed_ci``). Rows without seeds pair in order."""
    if not all("seed" in r for r in rows + other):
        return list(zip(rows, other, strict=True))
    return [
        (a, b)
        for a in rows
        for b in other
        if a["seed"] == b["seed"] and (a.get("gan_seed") is None or b.get("gan_seed") in (None, a["gan_seed"]))
    ]


def paired(results: Results, arm: str, other: str, split: str, metric: str) -> tuple[list[float], float, float, float]:
    """Differences ``arm − other`` of ``split`` ``metric`` over the paired runs (``pairs``), their mean and 95 %
    t-interval over classifier seeds (``seed_ci``: a classifier seed's pairs, one per GAN seed, count once)."""
    matched, d = _differences(results, arm, other, split, metric)
    return (d, *_seed_ci(matched, d))


def _differences(
    results: Results, arm: str, other: str, split: str, metric: str
) -> tuple[list[tuple[dict, dict]], list[float]]:
    """The paired rows of ``arm`` and ``other`` (``pairs``) and each pair's ``split`` ``metric`` difference."""
    matched = pairs(results[arm], results[other])
    return matched, [a[split][metric] - b[split][metric] for a, b in matched]


def _seed_ci(matched: list[tuple[dict, dict]], d: list[float]) -> tuple[float, float, float]:
    return seed_ci(d, [a.get("seed", i) for i, (a, _) in enumerate(matched)])


def summarize(results: Results, minority: list[int], metric: str, has_validation: bool) -> dict[str, Any]:
    """Per-arm means and spreads on test and validation, gains over ``real`` on test, and the headline."""
    summary: dict[str, Any] = {}
    for arm, rows in results.items():
        entry: dict[str, Any] = {}
        for split in ("test", "validation"):
            if not rows or split not in rows[0]:
                continue
            for m in ("accuracy", "balanced_accuracy", "macro_f1"):
                entry[f"{split}_{m}_mean"], entry[f"{split}_{m}_std"] = _mean_std([row[split][m] for row in rows])
            if minority:
                recall = [float(np.mean([row[split]["per_class_recall"][c] for c in minority])) for row in rows]
                entry[f"{split}_minority_recall_mean"], entry[f"{split}_minority_recall_std"] = _mean_std(recall)
            entry[f"{split}_per_class_recall_mean"] = np.mean(
                [row[split]["per_class_recall"] for row in rows], 0
            ).tolist()
        summary[arm] = entry
    gains = {}
    if "real" in results:
        for arm in results:
            if arm != "real":
                d, mean, lo, hi = paired(results, arm, "real", "test", metric)
                gains[arm] = {"metric": metric, "mean": mean, "ci95": [lo, hi], "diffs": d}
    return {"arms": summary, "gains_vs_real_test": gains, "headline": headline(results, metric, has_validation)}


def _mean_std(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _best(results: Results, arms: list[str], split: str, metric: str) -> str:
    return max(arms, key=lambda a: float(np.mean([row[split][metric] for row in results[a]])))


def headline(results: Results, metric: str, has_validation: bool) -> dict[str, Any]:
    """Best GAN arm vs best non-GAN arm, both chosen on validation (never on test), compared on test."""
    split = "validation" if has_validation else "test"
    gan = [a for a in results if uses_gan(a)]
    base = [a for a in results if not uses_gan(a)]
    if not gan or not base:
        return {}
    best_gan, best_base = _best(results, gan, split, metric), _best(results, base, split, metric)
    matched, d = _differences(results, best_gan, best_base, "test", metric)  # walked once for all three
    mean, lo, hi = _seed_ci(matched, d)
    out = {
        "metric": metric,
        "chosen_on": split,
        "best_gan_arm": best_gan,
        "best_baseline_arm": best_base,
        "test_diff_mean": mean,
        "test_diff_ci95": [lo, hi],
        "diffs": d,
    }
    by_gan = _per_gan_seed(matched, d)
    if len(by_gan) > 1:  # the GAN seed's own effect, which the interval over classifier seeds does not carry
        out["test_diff_per_gan_seed"] = by_gan
        table = _gan_seed_table(matched, d)
        if table is not None:  # the interval for a newly trained GAN: the GAN seed random as well
            _, new_lo, new_hi, df = new_gan_ci(table)
            out["test_diff_ci95_new_gan"], out["new_gan_df"] = [new_lo, new_hi], df
    return out


def _per_gan_seed(matched: list[tuple[dict, dict]], d: list[float]) -> dict[str, float]:
    """Mean difference of each GAN seed's pairs (keys are the GAN seeds as strings, as JSON keeps them); empty when
    the GAN arm's rows have no GAN seed."""
    by_gan: dict[str, list[float]] = {}
    for (a, _), x in zip(matched, d, strict=True):
        if a.get("gan_seed") is not None:
            by_gan.setdefault(str(a["gan_seed"]), []).append(x)
    return {g: float(np.mean(v)) for g, v in by_gan.items()}


def class_weights(labels: Any, metric: str) -> tuple[list[np.ndarray], list[float]]:
    """Indices of each class's images and each class's weight in ``metric`` (equal for balanced accuracy)."""
    y = np.asarray(labels)
    classes = [np.nonzero(y == c)[0] for c in np.unique(y)]
    if metric == "balanced_accuracy":
        return classes, [1 / len(classes)] * len(classes)
    return classes, [len(i) / len(y) for i in classes]


def class_weighted_mean(values: Any, labels: Any, metric: str = "balanced_accuracy") -> float:
    """Per-image ``values`` (correctness, or a difference of it) averaged as ``metric`` weighs the classes."""
    v = np.asarray(values, dtype=np.float64)
    classes, weights = class_weights(labels, metric)
    return float(sum(w * v[i].mean() for w, i in zip(weights, classes, strict=True)))


def balanced_accuracy_from_correct(correct: Any, labels: Any) -> float:
    """Balanced accuracy from per-image correctness (1/0) and the images' labels."""
    return class_weighted_mean(correct, labels)


def interval_from_draws(point: float, draws: np.ndarray, per_class: float, resamples: int) -> dict[str, Any]:
    se = float(draws.std(ddof=1))
    lo, hi = np.quantile(draws, [0.025, 0.975])
    # SE shrinks as 1/sqrt(images): the per-class size at which this effect would be the smallest detectable one
    needed = math.ceil(per_class * (2.8 * se / abs(point)) ** 2) if point and se else None
    return {
        "mean": point,
        "ci95": [float(lo), float(hi)],
        "se": se,
        "mde": 2.8 * se,
        "per_class_needed_for_this_effect": needed,
        "resamples": resamples,
    }


def image_bootstrap(
    diff: Any, labels: Any, metric: str = "balanced_accuracy", resamples: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """Stratified bootstrap over images of a per-image difference (e.g. correctness of arm A minus arm B, each
    averaged over seeds): the interval of the metric's difference from the images' sampling noise alone.
    ``mde`` is the smallest effect the split detects with 80 % power at the 5 % level (2.8 standard errors)."""
    d = np.asarray(diff, dtype=np.float64)
    classes, weights = class_weights(labels, metric)
    rng = np.random.default_rng(seed)
    point = class_weighted_mean(d, labels, metric)
    draws = np.zeros(resamples)
    for w, idx in zip(weights, classes, strict=True):  # resample images within each class
        picks = rng.integers(0, len(idx), size=(resamples, len(idx)))
        draws += w * d[idx][picks].mean(1)
    return interval_from_draws(point, draws, len(d) / len(classes), resamples)


def bootstrap_paired(
    results: Results, arm: str, other: str, labels: Any, metric: str, resamples: int = 2000, seed: int = 0
) -> dict[str, float] | None:
    """``image_bootstrap`` of ``arm − other`` on the validation images, every image's correctness averaged over
    the seeds first. None when per-image results or a supported metric (accuracy, balanced_accuracy) are
    missing."""
    if metric not in ("accuracy", "balanced_accuracy"):
        return None
    if not all("validation_correct" in row for row in results[arm] + results[other]):
        return None
    a = np.mean([row["validation_correct"] for row in results[arm]], axis=0)
    b = np.mean([row["validation_correct"] for row in results[other]], axis=0)
    return image_bootstrap(a - b, labels, metric, resamples, seed)


def guard_level(gan_arms: int) -> float:
    """Two-sided level of the guard's t-interval when it picked the best of ``gan_arms`` GAN arms on the split it
    tests them on: 95 % (2.5 % one-sided) for one or two arms, then Bonferroni at 5 % one-sided over the arms
    (1 − 0.1 / k), so the chance that the best of k arms passes when none helps stays under 5 % however the
    arms are correlated. Without it the choice lifted the null pass rate up to 7.5 % with 3-4 equal, independent
    GAN arms and one baseline; with it the highest measured is 4.2 % (benchmarks/results/guard-selection.md)."""
    if gan_arms < 1:
        raise ValueError(f"gan_arms must be at least 1, got {gan_arms}")
    return 1 - 2 * min(0.025, 0.05 / gan_arms)


def gain_guard(
    results: Results, against: str, metric: str, has_validation: bool, labels: Any = None, gan_arm: str = ""
) -> dict[str, Any]:
    """Does the best GAN arm (or ``gan_arm``, fixed beforehand) beat ``against`` ("real" or "best_baseline") on
    validation beyond noise?

    The decision is Welch's t-interval of the difference between the two arms' runs (``welch_ci``): it passes
    when the interval's lower end is above zero, at the level ``guard_level`` gives for the number of GAN arms it
    chose among (one when ``gan_arm`` names the arm). Welch, not a paired interval: with several GAN seeds each
    baseline run meets one row per GAN seed, and the paired interval over those dependent pairs passed 5.4 % of
    null comparisons, Welch's 1.4-1.7 %; with one GAN arm and equal seed counts Welch's passes 0.7-3.3 %
    (benchmarks/results/guard-selection.md). An interval over the runs' seeds was chosen on measured error rates
    (benchmarks/results/guard-calibration.md, 90:1, 50 validation images per class): the paired one passed
    0.8-2.5 %, where a bootstrap over the validation images alone passes up to 13 % and one over seeds and images
    together is safe but weaker still. With ``labels`` (the validation labels) the verdict also carries the
    bootstrap over validation images (``bootstrap_paired``): the smallest effect the split can detect, and the
    validation size the observed effect would need. With one run of either
    arm there is no interval and no measured error rate, so the guard does not decide (``decided`` and ``passed``
    False: the dataset is written only on request) and says to add seeds."""
    gan = [a for a in results if uses_gan(a)]
    if not has_validation:
        return {"decided": False, "passed": False, "reason": "no validation rows"}
    if not gan:
        return {"decided": False, "passed": True, "reason": "no GAN arm in the recipe"}
    if gan_arm and gan_arm not in gan:
        return {"decided": False, "passed": False, "reason": f"guard.gan_arm = {gan_arm!r} is not a GAN arm of the run"}
    best_gan = gan_arm or _best(results, gan, "validation", metric)
    if against == "real":
        if "real" not in results:
            return {
                "decided": False,
                "passed": False,
                "reason": "guard.against = 'real' but the recipe has no real arm",
            }
        other = "real"
    else:
        base = [a for a in results if not uses_gan(a)]
        if not base:
            return {"decided": False, "passed": False, "reason": "no baseline arm to compare with"}
        other = _best(results, base, "validation", metric)
    a, b = ([row["validation"][metric] for row in results[arm]] for arm in (best_gan, other))
    k = 1 if gan_arm else len(gan)
    level = guard_level(k)
    mean, lo95, hi95 = welch_ci(a, b)
    _, lo, hi = welch_ci(a, b, level)
    has_ci = not math.isnan(lo)
    passed = has_ci and mean > 0 and lo > 0
    chosen = f", the best of {k} GAN arms" if k > 1 else (", the recipe's GAN arm" if gan_arm else "")
    interval = f" (Welch {level * 100:.4g} % CI{chosen}: {lo * 100:+.2f} to {hi * 100:+.2f})" if has_ci else ""
    if passed:
        verdict = f"{best_gan} beats {other} on validation {metric} by {mean * 100:+.2f} points{interval}"
    elif not has_ci:
        verdict = (
            f"not decided: with fewer than two runs of {best_gan} or {other} no interval can tell {best_gan} - "
            f"{other} = {mean * 100:+.2f} points on validation {metric} from seed noise; give the recipe two or "
            "more seeds (or write the dataset anyway with --write-anyway)"
        )
    else:
        verdict = (
            f"the synthetic data does NOT beat {other} beyond seed noise on validation {metric}: "
            f"{best_gan} - {other} = {mean * 100:+.2f} points{interval}"
        )
    boot = bootstrap_paired(results, best_gan, other, labels, metric) if labels is not None else None
    if boot is not None:
        verdict += (
            f"; bootstrap over the validation images {boot['mean'] * 100:+.2f} points "
            f"[{boot['ci95'][0] * 100:+.2f}, {boot['ci95'][1] * 100:+.2f}], smallest detectable effect "
            f"{boot['mde'] * 100:.2f} points"
        )
        needed = boot["per_class_needed_for_this_effect"]
        if needed and abs(boot["mean"]) < boot["mde"]:
            verdict += (
                f" (too small a split for this effect: about {needed} validation images per class would resolve it)"
            )
    return {
        "decided": has_ci,  # one run of an arm: no interval, so no decision (and nothing written unless asked)
        "passed": bool(passed),
        "bootstrap": boot,
        "best_gan_arm": best_gan,
        "against": other,
        "metric": metric,
        "val_diff_mean": mean,
        "val_diff_ci95": [lo95, hi95],
        "level": level,  # of the interval that decides: 95 % unless it chose among 3 or more GAN arms
        "val_diff_ci_decision": [lo, hi],
        "verdict": verdict,
    }
