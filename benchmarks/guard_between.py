"""The gain guard between two different arms with no effect: how often a 50-per-class validation split makes it
pass one of them.

``guard_calibration.py`` measures nulls of one arm against itself under disjoint seeds: both sides are scored on
the same validation images, so only the classifiers' seed noise is in them. Two different arms can also differ in
which images they get right, and a small split can favour one by chance. Here two finished
``pair_variants.py --dev`` runs (same seeds, each with its ``gan+elastic`` arm) stand for the two arms; their
development split (the recipe's validation rows plus the rare classes' unused pool images, 495 of each rare digit
at 90:1) is the large held-out set. Each draw takes ``--per-class`` images of every class from it (all of a class
that has no more), scores both arms' runs on those images only, and applies each rule to "B beats A" and to
"A beats B". Where the two arms tie on the whole development split and on test, every pass is a false one.

    python benchmarks/guard_between.py --a runs/pv/dev-base-s0 runs/pv/dev-base-s1 \\
        --b runs/pv/dev-morph-pair-s0 runs/pv/dev-morph-pair-s1 --name "morph then pair GAN vs the shipped recipe"
    python benchmarks/guard_between.py --a runs/pv/dev-base-s0 --b runs/pv/dev-morph-only-s0 --tag effect \
        --name "morph only vs the shipped recipe (development -0.47, test -0.63)"
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks._common import machine_record, md_table, results_dir, write_results  # noqa: E402
from benchmarks.guard_calibration import decide  # noqa: E402

ARM = "gan+elastic"
RULES = ("seed-t", "image-bootstrap", "both")  # both: seed-t and image-bootstrap each clear zero


def pooled(run_dirs: list[str]) -> tuple[dict[tuple[int, int], np.ndarray], dict[str, Any]]:
    """(GAN seed, classifier seed) -> the arm's per-image development correctness, over the runs; and the first
    run's report (its recipe rebuilds the split's labels)."""
    rows, first = {}, None
    for d in run_dirs:
        report = json.loads((Path(d) / "report.json").read_text())
        first = first or report
        for r in report["results"][ARM]:
            rows[(r["gan_seed"], r["seed"])] = np.asarray(r["validation_correct"], dtype=np.float64)
    return rows, first


def development_labels(report: dict[str, Any]) -> np.ndarray:
    from benchmarks.pair_variants import dev_splits
    from ganaug.recipe import recipe_from_dict

    recipe = recipe_from_dict({k: v for k, v in report["recipe"].items() if k != "path"})
    return np.asarray(dev_splits(recipe.data, recipe.experiment).val.labels)


def measure(a, b, labels: np.ndarray, per_class: int, draws: int, resamples: int, seed: int) -> dict[str, Any]:
    keys = sorted(set(a) & set(b))
    if len(keys) < 2:
        raise SystemExit(f"the two runs share {len(keys)} (GAN seed, classifier seed) pairs; need 2 or more")
    ca, cb = np.stack([a[k] for k in keys]), np.stack([b[k] for k in keys])
    if ca.shape[1] != labels.size:
        raise SystemExit(f"the runs hold {ca.shape[1]} development images, the split {labels.size}: not a --dev run")
    rng = np.random.default_rng(seed)
    by_class = [np.nonzero(labels == c)[0] for c in np.unique(labels)]
    passes = {(rule, side): 0 for rule in RULES for side in ("b_over_a", "a_over_b")}
    for _ in range(draws):
        idx = np.concatenate([rng.choice(rows, min(per_class, rows.size), replace=False) for rows in by_class])
        x, y, lab = ca[:, idx], cb[:, idx], labels[idx]
        s = int(rng.integers(2**31))
        for side, (p, q) in (("b_over_a", (y, x)), ("a_over_b", (x, y))):
            t = decide("seed-t", p, q, lab, s, resamples)
            boot = decide("image-bootstrap", p, q, lab, s, resamples)
            for rule, ok in zip(RULES, (t, boot, t and boot), strict=True):
                passes[(rule, side)] += ok
    return {"pairs": len(keys), "rates": {f"{r}/{s}": n / draws for (r, s), n in passes.items()}}


def main(argv=None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--a", nargs="+", required=True, help="run directories of arm A (pair_variants.py --dev)")
    p.add_argument("--b", nargs="+", required=True, help="run directories of arm B, the same seeds")
    p.add_argument("--name", required=True, help="what B and A are, for the table")
    p.add_argument("--per-class", type=int, default=50, help="validation images per class in each draw")
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    p.add_argument("--tag", default="", help="results guard-between[-TAG].json/.md")
    args = p.parse_args(argv)
    a, report = pooled(args.a)
    b, _ = pooled(args.b)
    labels = development_labels(report)
    res = {
        "machine": machine_record(),
        "name": args.name,
        "a": args.a,
        "b": args.b,
        "per_class": args.per_class,
        "draws": args.draws,
        **measure(a, b, labels, args.per_class, args.draws, args.resamples, args.seed),
    }
    rate = lambda rule, side: f"{100 * res['rates'][f'{rule}/{side}']:.1f} %"  # noqa: E731
    rows = [[f"`{rule}`", rate(rule, "b_over_a"), rate(rule, "a_over_b")] for rule in RULES]
    md = "\n".join(
        [
            "# The gain guard between two different arms",
            "",
            f"{args.name}: `{ARM}` of {args.b} (B) and of {args.a} (A), {res['pairs']} (GAN seed, classifier seed) "
            f"pairs; {args.draws} draws of {args.per_class} development images per class (all of a class with "
            "fewer); pass rate of each rule.",
            "",
            md_table(["rule", "passes B over A", "passes A over B"], rows),
        ]
    )
    out = results_dir(args.out, False)
    js, mdp = write_results(out, "guard-between" + (f"-{args.tag}" if args.tag else ""), res, md)
    print(md)
    print(f"wrote {js} and {mdp}")
    return res


if __name__ == "__main__":
    main()
