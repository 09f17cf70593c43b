"""Does the pair GAN's gain depend on how long the classifier trains? (issue 12)

Every table of this project trains its classifier for 1,000 steps of 64 images, cosine-decayed. This probe trains the
same classifiers for 3,000 steps, with the same GANs (copied in from the 1,000-step runs, so only the classifiers
train again), the same splits and seeds, and reports ``gan+elastic − elastic`` at both budgets beside the real-data
ceiling (``classical`` on all 450 images per class) at each: a gain that grows only because every arm trained on
more real data grows with it closes no more of the gap.

The runs (git-ignored directories; ``--set classifier.jobs=2`` runs two classifiers at a time)::

    # 90:1, the shipped pair recipe: the development split decides (rule fixed in advance: the higher mean of
    # gan+elastic − elastic there), the recipe's own split reports validation and test
    PV="python benchmarks/pair_variants.py --set classifier.steps=3000"
    $PV --dev --out runs/pv/dev-steps3k-s0 --set 'gan_seeds=[0]'
    $PV --out runs/pv/test-steps3k-s0 --set 'gan_seeds=[0]'
    $PV --out runs/pv/test-steps3k-s1 --set 'gan_seeds=[1]'
    $PV --out runs/pv/test-steps3k-nongan --set 'arms=["classical","elastic","stroke"]'   # the non-GAN arms
    # the ceiling at each budget, on this machine
    python benchmarks/gains.py --regimes full --without-arms real --out runs/budget-results --tag steps1k
    G="python benchmarks/gains.py --classifier-steps 3000 --out runs/budget-results --tag steps3k"
    $G --regimes full --without-arms real
    # the other regimes of the pair table, GAN seed 0 (the pair table's GANs copied into runs/bench/pair-steps3k/)
    $G --provider pair --regimes imb10 low10 low20 low50 --gan-seeds 0 --without-arms real oversample \\
        class_weighted smote classical stroke gan gan+classical gan+stroke gan+filter

then ``python benchmarks/budget.py`` writes ``benchmarks/results/classifier-budget.{json,md}`` from their reports and
the 1,000-step ones (``runs/pv/{dev,test}-base-s*``, ``runs/bench/pair/<regime>``: the pair table's run). The
shipped pair recipe trains its classifier for 3,000 steps since this probe (``recipes/balance-mnist-pair.toml``):
``--set classifier.steps=1000`` remakes the 1,000-step ``pair_variants.py`` runs; it fills the rare digits to four times
the majority count since the probe after this one and takes three quarters of them from the label GAN since the one
after that, so its runs above (90:1 and 9:1) need ``--set synthetic.target_scale=2.0 --set synthetic.mix_share=0.5``
too.
Each regime is compared on the (GAN seed, classifier seed) pairs both budgets ran.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from statistics import mean
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._common import machine_record, write_results  # noqa: E402
from benchmarks.pair_variants import arm_scores  # noqa: E402
from ganaug.stats import headline, seed_ci  # noqa: E402

# regime -> (label, 1,000-step run directories, 3,000-step run directories), relative to the repository
RUNS: dict[str, tuple[str, list[str], list[str]]] = {
    "imb100-dev": ("90:1, development split", ["runs/pv/dev-base-s0"], ["runs/pv/dev-steps3k-s0"]),
    "imb100": (
        "90:1",
        ["runs/pv/test-base-s0", "runs/pv/test-base-s1"],
        ["runs/pv/test-steps3k-s0", "runs/pv/test-steps3k-s1"],
    ),
    **{
        r: (label, [f"runs/bench/pair/{r}"], [f"runs/bench/pair-steps3k/{r}"])
        for r, label in (
            ("imb10", "9:1"),
            ("low10", "10 per class"),
            ("low20", "20 per class"),
            ("low50", "50 per class"),
        )
    },
}
# 90:1: the non-GAN arms at both budgets (1,000: the pair table's run; 3,000: runs/pv/test-steps3k-nongan), so the
# best non-GAN arm is chosen on validation at each budget
BASELINES = {1000: "runs/bench/pair/imb100", 3000: "runs/pv/test-steps3k-nongan"}
BASELINE_ARMS = ("classical", "elastic", "stroke")
# the ceiling at each budget, measured on the machine of the runs above (``--tag steps1k`` / ``steps3k``)
CEILINGS = {1000: "runs/budget-results/gains-steps1k.json", 3000: "runs/budget-results/gains-steps3k.json"}
ARMS = ("elastic", "gan+elastic")


def arm_runs(run_dirs: list[str], split: str) -> dict[str, dict[tuple[int, int], float]]:
    """``pair_variants.arm_scores`` of ``run_dirs`` (relative to the repository) on one split."""
    return arm_scores([str(REPO / d) for d in run_dirs], (split,))[split]


def ceiling(path: str) -> float:
    """Points of test balanced accuracy of ``classical`` in the ``full`` regime of a gains results file."""
    arms = json.loads((REPO / path).read_text())["regimes"]["full"]["summary"]["arms"]
    return 100 * arms["classical"]["test_balanced_accuracy_mean"]


def compare(short: list[str], long: list[str], split: str, ceilings: dict[int, float] | None) -> dict[str, Any]:
    """Both budgets of one regime on their common pairs: arm means, Δ = gan+elastic − elastic with its interval,
    the share of the gap to the ceiling it closes, and the paired change of Δ from 1,000 to 3,000 steps."""
    a, b = arm_runs(short, split), arm_runs(long, split)
    keys = sorted(set(a["gan+elastic"]) & set(b["gan+elastic"]))
    if not keys:
        raise SystemExit(f"no (GAN seed, classifier seed) pair ran at both budgets in {short} and {long}")
    row: dict[str, Any] = {"pairs": [list(k) for k in keys]}
    seeds = [k[1] for k in keys]  # the intervals run over classifier seeds (ganaug.stats.seed_ci)
    deltas = {}
    for steps, runs in ((1000, a), (3000, b)):
        d = [runs["gan+elastic"][k] - runs["elastic"][k] for k in keys]
        deltas[steps] = d
        cell = {arm: mean(runs[arm][k] for k in keys) for arm in ARMS}
        cell["delta"] = list(seed_ci(d, seeds))
        if ceilings:
            cell["ceiling"] = ceilings[steps]
            cell["gap_closed"] = cell["delta"][0] / (ceilings[steps] - cell["elastic"])
        row[str(steps)] = cell
    row["delta_change"] = list(seed_ci([y - x for x, y in zip(deltas[1000], deltas[3000], strict=True)], seeds))
    return row


def baselines(dirs: dict[int, str], gan_dirs: dict[int, list[str]]) -> dict[str, Any]:
    """Per budget: validation and test means of the non-GAN arms, the one validation picks and ``gan+elastic``
    minus it on test, paired by classifier seed over every GAN seed of ``gan_dirs`` (``ganaug.stats.headline``)."""

    def results(d: str) -> dict[str, list[dict[str, Any]]]:
        return json.loads((REPO / d / "report.json").read_text())["results"]

    out: dict[str, Any] = {}
    for steps, d in dirs.items():
        res = {arm: runs for arm, runs in results(d).items() if arm in BASELINE_ARMS}
        res["gan+elastic"] = [r for g in gan_dirs[steps] for r in results(g)["gan+elastic"]]
        h = headline(res, "balanced_accuracy", has_validation=True)
        means = {
            arm: {s: mean(100 * r[s]["balanced_accuracy"] for r in res[arm]) for s in ("validation", "test")}
            for arm in BASELINE_ARMS
        }
        ci = [100 * h["test_diff_mean"], *(100 * x for x in h["test_diff_ci95"])]
        out[str(steps)] = {"arms": means, "best": h["best_baseline_arm"], "gan_elastic_minus_best": ci}
    return out


def _ci(m: float, lo: float, hi: float) -> str:
    return f"{m:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def markdown(rows: dict[str, dict[str, Any]], base: dict[str, Any] | None = None) -> str:
    """The table of ``compare``'s rows per regime, then ``baselines``' table where given."""
    lines = [
        "# The classifier's step budget: 1,000 against 3,000 steps",
        "",
        "Written by `benchmarks/budget.py` (its docstring lists the runs). Points of balanced accuracy; Δ is "
        "`gan+elastic − elastic` over the (GAN seed, classifier seed) pairs, with a paired 95 % t-interval over the "
        "classifier seeds (a seed's pairs averaged first, `ganaug.stats.seed_ci`); the "
        "ceiling is `classical` on all 450 images per class at the same budget (5 classifier seeds); gap closed "
        "is Δ over (ceiling − `elastic`). The development row is the choice; the others are test.",
        "",
        "| regime | pairs | `elastic` 1k → 3k | `gan+elastic` 1k → 3k | Δ at 1,000 | Δ at 3,000 | Δ 3k − 1k (paired) "
        "| ceiling 1k → 3k | gap closed 1k → 3k |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        s, l_ = row["1000"], row["3000"]
        ceil = f"{s['ceiling']:.2f} → {l_['ceiling']:.2f}" if "ceiling" in s else "—"
        gap = f"{100 * s['gap_closed']:.0f} % → {100 * l_['gap_closed']:.0f} %" if "gap_closed" in s else "—"
        lines.append(
            f"| {RUNS[name][0]} | {len(row['pairs'])} | {s['elastic']:.2f} → {l_['elastic']:.2f} "
            f"| {s['gan+elastic']:.2f} → {l_['gan+elastic']:.2f} | {_ci(*s['delta'])} | {_ci(*l_['delta'])} "
            f"| {_ci(*row['delta_change'])} | {ceil} | {gap} |"
        )
    if base:
        lines += [
            "",
            "90:1, the non-GAN arms at each budget (test; validation in brackets), the one validation picks and "
            "`gan+elastic` minus it on test (10 pairs):",
            "",
            "| steps | " + " | ".join(f"`{a}`" for a in BASELINE_ARMS) + " | picked | `gan+elastic` − picked |",
            "|---|" + "---|" * (len(BASELINE_ARMS) + 2),
        ]
        for steps, cell in base.items():
            arms = " | ".join(
                f"{cell['arms'][a]['test']:.2f} ({cell['arms'][a]['validation']:.2f})" for a in BASELINE_ARMS
            )
            lines.append(f"| {steps} | {arms} | `{cell['best']}` | {_ci(*cell['gan_elastic_minus_best'])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"), help="directory of the results")
    ap.add_argument("--regimes", nargs="+", choices=list(RUNS), default=list(RUNS))
    a = ap.parse_args()
    ceilings = {steps: ceiling(path) for steps, path in CEILINGS.items()}
    rows = {}
    for r in a.regimes:
        dev = r.endswith("-dev")  # the development split's validation scores; no ceiling on that split
        rows[r] = compare(RUNS[r][1], RUNS[r][2], "validation" if dev else "test", None if dev else ceilings)
    base = baselines(BASELINES, {1000: RUNS["imb100"][1], 3000: RUNS["imb100"][2]}) if "imb100" in rows else None
    payload = {"machine": machine_record(), "ceilings": ceilings, "regimes": rows, "baselines": base}
    text = markdown(rows, base)
    for path in write_results(Path(a.out), "classifier-budget", payload, text):
        print("wrote", path)
    print(text)


if __name__ == "__main__":
    main()
