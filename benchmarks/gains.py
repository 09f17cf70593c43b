"""Downstream gains: does GAN augmentation beat honest baselines on small / imbalanced MNIST?

One recipe per regime is built as a dict and run with ``ganaug.recipe.recipe_from_dict`` +
``ganaug.runner.run_recipe(recipe, write_anyway=True, progress=False)``. The Runner draws the training set from
mnist-mini train, trains the GAN on that training set alone, trains one SmallCNN per arm and seed with the same
budget, and evaluates every arm on the untouched real 10k test set. Validation rows come from the unused part
of the pool (``experiment.validation = "pool"``, 50 per class, set aside BEFORE the training rows are drawn,
so majority classes keep 450).

Regimes (``--regimes``):

* ``imb10`` / ``imb100``: digits 5-9 cut to 50 / 5 images (0-4 keep 450); synthetic mode ``balance`` (fill
  every class up to the majority); arms real, oversample, class_weighted, smote, classical, elastic, gan,
  gan+classical, gan+elastic, gan+filter. GAN batch 128.
* ``low10`` / ``low20`` / ``low50``: 10 / 20 / 50 images per class; synthetic mode ``augment`` with
  ``--low-ratio`` (default 5.0: synthetic rows = 5 × real); arms real, classical, elastic, gan,
  gan+classical, gan+elastic, gan+filter (oversampling, class weights and SMOTE do nothing on balanced
  data). GAN batch 64 (as in ``recipes/lowdata-mnist.toml``). ``elastic`` is the classical arm with an
  elastic distortion on top of its affine, the strongest non-GAN arm at 90:1.
* ``full``: all 450 per class, the real-data ceiling: arms real and classical only (no GAN).

The GAN arms' provider (``--provider``): ``label`` (default), the label-conditioned GAN with the mixing chosen
per regime below; or ``pair``, the shipped pair recipe of the regime's kind, whole (its ``[gan]``,
``[synthetic]`` and ``real_share``, not tuned per regime): ``recipes/balance-mnist-pair.toml`` for imb10 and
imb100 (its ``mix_with`` partner is the regime's own label-GAN recipe, written next to the run as
``mix-recipe.toml``), ``recipes/lowdata-mnist-pair.toml`` for low10/20/50 (every digit filled to 450 rows, as
that recipe does at 20 per class). ``pair`` writes ``gains-pair[-<tag>]``; ``--reuse-baselines TAG`` copies the
non-GAN classifier runs of ``runs/bench/TAG/<regime>`` in first (their cache keys hold no GAN setting, so the
label run's baselines are reused exactly and only the GAN arms train). The committed ``gains-pair.md`` ran when the
90:1 pair recipe filled its rare digits to twice the majority count, half of them from each GAN; it fills them to
four times since, three quarters from the label GAN, so its two imbalance rows are remade with ``--regimes imb10
imb100 --set synthetic.target_scale=2.0 --set synthetic.mix_share=0.5`` (the low-data recipe has neither setting).

The seeds (``--seeds``) are the classifier seeds (initialisation, batches, the gan+filter judge); the GAN seeds
(``--gan-seeds``, default 0 1) train one GAN each, and every GAN arm runs once per (GAN seed, classifier seed)
pair. Its intervals run over the classifier seeds, each seed's pairs averaged first (``ganaug.stats.seed_ci``: a
baseline run meets one row per GAN seed, so its pairs are not independent); the headline also gives each GAN seed's
own mean difference, the GAN's seed noise that two GAN seeds can show but not bound. The
training subset (``experiment.seed``) is fixed at 0 within a regime; vary it with
``--set experiment.seed=1 --tag draw1``.

Output (``benchmarks/results/gains[-<tag>].json/.md/.png``): for each regime and arm the mean ± std over
seeds of test accuracy, balanced accuracy and minority-class recall (mean recall over digits 5-9, imbalance
regimes), taken from the Runner's report (``arms``); the gain of every arm over ``real`` (``gains_vs_real_test``);
and the headline: the best GAN arm vs the best non-GAN arm, both chosen on VALIDATION balanced accuracy, as a
paired test difference with a 95 % t-interval over classifier seeds (``headline``, computed by the Runner with
``ganaug.stats.seed_ci``). The JSON holds every full report, the recipes, and wall times. Run directories
go to ``runs/bench/<tag>/<regime>`` (git-ignored; the Runner reuses a GAN there when recipe and data match:
``--fresh`` retrains).

Regimes run in parallel, one process with one torch thread each (``--jobs``, default one per CPU core): the
small models use two cores better that way than one process with two threads. A GAN trained with one thread ends
with other weights than one trained with two (same seed and CPU, measured), so a regime's GAN arms are reproduced
by a run with the same threads per regime, not by ``ganaug run`` of its recipe in a two-thread process; its
non-GAN arms, trained in single-threaded workers either way, are reproduced exactly. Results are written after
every regime (marked PARTIAL until all are in), and every finished classifier run is cached in its regime's
run directory, so the same command after a stop resumes where it was: a resumed regime says how many runs it
reused, and its wall time covers only the rest. The cache key holds the library versions and the CPU's instruction
sets (``ganaug.checkpoint.cpu_isa``), so a run resumed on another CPU trains its classifiers again rather than
mixing two machines' classifier runs in one table. ``--keep-finished`` takes the regimes the results JSON already
holds from a run of the same settings, library versions and CPU instruction sets, so a table too long for one
sitting is built in parts (each part commits its PARTIAL JSON; a kept regime says when it ran).

Run (from the repository root, on a quiet machine)::

    .venv/bin/python benchmarks/gains.py --dry-run           # print the plan and a time estimate
    .venv/bin/python benchmarks/gains.py --quick             # imb100 + low20, 3 seeds (~14 min on 2 cores)
    .venv/bin/python benchmarks/gains.py                     # all regimes, 5 classifier x 2 GAN seeds
    # measured December 5 on an AVX-512/AMX CPU, two regimes at a time: imb100 65 min, low20 74 min, full 4 min;
    # all six 2 h 24 (low50 ran in a third process beside them, 52 min; the --dry-run estimate, 140 min, assumes a
    # quiet machine); a December 2 run on a slower machine took about 3 h 15
    .venv/bin/python benchmarks/gains.py --set gan.diffaug=translation,cutout --tag diffaug
    .venv/bin/python benchmarks/gains.py --smoke             # plumbing check, < 60 s; writes results/smoke/
    .venv/bin/python benchmarks/gains.py --provider pair --reuse-baselines default   # the pair GAN's arms
    # the pair table of the README (benchmarks/readme_table.py): every regime, the issue's three GAN arms; it
    # takes about 6 core-hours on an AVX-512/AMX CPU and about 25 on a slow AVX2 one, so it may be built in parts: each
    # run keeps the regimes already in gains-pair.json from the same settings and CPU
    .venv/bin/python benchmarks/gains.py --provider pair --without-arms gan+stroke gan+filter --keep-finished
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (  # noqa: E402
    REPO,
    SMOKE_BANNER,
    atomic_write,
    configure,
    guard_word,
    machine_line,
    machine_record,
    md_table,
    pm,
    results_dir,
    save_figure,
    toml_text,
    write_results,
)
from ganaug.arms import ARMS, GAN_ARMS  # noqa: E402
from ganaug.recipe import apply_override  # noqa: E402
from ganaug.report import _pts  # noqa: E402

NAME = "gains"
MINORITY = [5, 6, 7, 8, 9]
IMB_ARMS = list(ARMS)  # every arm
LOW_ARMS = [a for a in ARMS if a not in ("oversample", "class_weighted", "smote")]  # nothing to rebalance
FULL_ARMS = ["real", "classical"]
# How GAN arms mix real and synthetic rows, per regime, chosen on validation balanced accuracy:
# imb100 (recipes/balance-mnist.toml) real_share 0.5 among 0.25/0.5/0.75 with gan.real_augment 0.25; low20
# (recipes/lowdata-mnist.toml) 0.75 among 0/0.5/0.75; imb10 0.75 among 0.25/0.5/0.75 (gan.real_augment 0.25
# carried), low10 and low50 0.75 among 0/0.5/0.75 (results/gains-rs-<regime>-<value>.md, ABLATIONS.md).
IMB_MIXING = {"gan": {"real_augment": 0.25}, "classifier": {"real_share": 0.5}}
IMB10_MIXING = {"gan": {"real_augment": 0.25}, "classifier": {"real_share": 0.75}}
LOW_MIXING = {"classifier": {"real_share": 0.75}}
REGIMES: dict[str, dict[str, Any]] = {
    "imb10": {
        "experiment": {"kind": "imbalance", "minority_classes": MINORITY, "minority_count": 50},
        "arms": IMB_ARMS,
        "mixing": IMB10_MIXING,
    },
    "imb100": {
        "experiment": {"kind": "imbalance", "minority_classes": MINORITY, "minority_count": 5},
        "arms": IMB_ARMS,
        "mixing": IMB_MIXING,
    },
    "low10": {"experiment": {"kind": "per_class", "per_class": 10}, "arms": LOW_ARMS, "mixing": LOW_MIXING},
    "low20": {"experiment": {"kind": "per_class", "per_class": 20}, "arms": LOW_ARMS, "mixing": LOW_MIXING},
    "low50": {"experiment": {"kind": "per_class", "per_class": 50}, "arms": LOW_ARMS, "mixing": LOW_MIXING},
    "full": {"experiment": {"kind": "none"}, "arms": FULL_ARMS, "mixing": {}},
}
# the order regimes start in: the two the shipped recipes cover first, so a run cut short has the headline ones
DEFAULT_ORDER = ["imb100", "low20", "imb10", "low10", "low50", "full"]
# --provider pair: the shipped pair recipe of each regime's kind gives its GAN arms' settings, whole
PAIR_RECIPES = {
    "imbalance": REPO / "recipes" / "balance-mnist-pair.toml",
    "per_class": REPO / "recipes" / "lowdata-mnist-pair.toml",
}
FILL_TO = 450  # low-data regimes: the pair GAN fills every digit to this many rows (the low-data pair recipe's fill)
MIX_RECIPE = "mix-recipe.toml"  # the regime's label-GAN recipe, which a mixing pair recipe names in mix_with

# ---------------------------------------------------------------------------------------------------------
# recipes


def regime_recipe(regime: str, args: argparse.Namespace, run_dir: Path, provider: str | None = None) -> dict[str, Any]:
    """The recipe dict of one regime (before ``recipe_from_dict``) for ``provider`` (default ``args.provider``);
    ``--set`` overrides applied last."""
    raw = _label_recipe(regime, args, run_dir)
    if (provider or args.provider) == "pair" and any(a in GAN_ARMS for a in raw["arms"]):
        raw = _pair_recipe(raw, args, run_dir)
    return raw


def _pair_recipe(label: dict[str, Any], args: argparse.Namespace, run_dir: Path) -> dict[str, Any]:
    """``label`` (a regime's recipe dict) with the GAN, synthetic rows and ``real_share`` of the shipped pair
    recipe of its kind; a mixing recipe's partner is ``label`` itself, read from ``run_dir/mix-recipe.toml``
    (``run_regime`` writes it)."""
    kind = label["experiment"]["kind"]
    shipped = tomllib.loads(PAIR_RECIPES[kind].read_text())
    raw = copy.deepcopy(label)
    raw["name"] = f"{label['name']}-pair"
    raw["gan"] = {**shipped["gan"], "steps": args.pair_gan_steps}
    raw["synthetic"] = copy.deepcopy(shipped["synthetic"])
    raw["classifier"]["real_share"] = shipped["classifier"]["real_share"]
    if kind == "per_class":
        n = raw["experiment"]["per_class"]
        raw["synthetic"]["ratio"] = (FILL_TO - n) / n
    if raw["synthetic"].get("mix_with"):
        raw["synthetic"]["mix_with"] = str((run_dir / MIX_RECIPE).resolve())
    for item in args.set:
        apply_override(raw, item)
    return raw


def _label_recipe(regime: str, args: argparse.Namespace, run_dir: Path) -> dict[str, Any]:
    spec = REGIMES[regime]
    low = spec["experiment"]["kind"] == "per_class"
    raw: dict[str, Any] = {
        "name": f"bench-{regime}",
        "description": f"benchmarks/gains.py regime {regime}",
        "output_dir": str(run_dir),
        "seeds": list(args.seeds),
        "gan_seeds": list(args.gan_seeds),
        "arms": [a for a in spec["arms"] if a not in args.without_arms],
        "data": {"source": "mnist-mini", "train_split": "train", "test_split": "test"},
        "experiment": {
            **copy.deepcopy(spec["experiment"]),
            "validation": "pool",
            "validation_per_class": 50,
            "seed": 0,
        },
        "gan": {"steps": args.gan_steps, "batch_size": 64 if low else 128, "seed": 0, **spec["mixing"].get("gan", {})},
        "synthetic": (
            {"mode": "augment", "ratio": args.low_ratio, "seed": 0}
            if low
            else {"mode": "balance", "sampling_strategy": "auto", "seed": 0}
        ),
        "classifier": {
            "steps": args.classifier_steps,
            "batch_size": args.classifier_batch,
            **spec["mixing"].get("classifier", {}),
        },
        "guard": {"against": "best_baseline", "metric": "balanced_accuracy"},
    }
    if args.smoke:  # plumbing only: a 500-row test split carved from the pool keeps evaluation cheap
        raw["data"].update({"test_split": "", "test_fraction": 0.1})
    for item in args.set:
        apply_override(raw, item)
    return raw


# ---------------------------------------------------------------------------------------------------------
# plan and estimate


def plan(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for regime in args.regimes:
        raw = regime_recipe(regime, args, Path("."))
        arms, n, n_gan = raw["arms"], len(raw["seeds"]), max(1, len(raw["gan_seeds"]))
        gan_arms = sum(a in GAN_ARMS for a in arms)
        # GAN arms once per GAN seed; + one judge per seed for gan+filter
        clf_runs = (len(arms) - gan_arms + gan_arms * n_gan) * n + (n if "gan+filter" in arms else 0)
        if args.reuse_baselines:  # the non-GAN runs come from the cache (if that run has them)
            clf_runs -= (len(arms) - gan_arms) * n
        gan = n_gan if gan_arms else 0
        step_s = args.est_gan_step_s * (args.est_pair_step_factor if raw["gan"].get("arch") == "pair" else 1.0)
        gan_s = gan * raw["gan"]["steps"] * step_s * raw["gan"]["batch_size"] / 128
        if gan and raw["synthetic"].get("mix_with"):  # and the regime's label GAN it mixes with
            gan_s += gan * args.gan_steps * args.est_gan_step_s
            gan *= 2
        clf_s = clf_runs * (
            raw["classifier"]["steps"] * args.est_clf_step_s * raw["classifier"]["batch_size"] / 64
            + args.est_run_overhead_s
        )
        rows.append(
            {
                "regime": regime,
                "arms": arms,
                "seeds": n,
                "classifier_runs": clf_runs,
                "gan": gan,
                "gan_steps": raw["gan"]["steps"] if gan else 0,
                "estimate_s": gan_s + clf_s + args.est_regime_overhead_s,
            }
        )
    return rows


def wall_estimate(rows: list[dict[str, Any]], jobs: int, single_thread_factor: float) -> float:
    """Seconds for the plan: the sum of the regimes with one process, else the makespan of the regimes
    (each ``single_thread_factor`` times slower on one thread) handed longest-first to ``jobs`` workers."""
    if jobs <= 1:
        return sum(r["estimate_s"] for r in rows)
    workers = [0.0] * jobs
    for cost in sorted((r["estimate_s"] * single_thread_factor for r in rows), reverse=True):
        workers[workers.index(min(workers))] += cost
    return max(workers)


def print_plan(rows: list[dict[str, Any]], args: argparse.Namespace, kept: Iterable[str] = ()) -> float:
    """Print the plan and return its wall-time estimate (seconds), which leaves out the ``kept`` regimes (taken
    from the results by ``--keep-finished``, not run)."""
    kept = set(kept)
    to_run = [r for r in rows if r["regime"] not in kept]
    total = wall_estimate(to_run, min(args.jobs, max(1, len(to_run))), args.est_single_thread_factor)
    print(
        f"plan: {len(rows)} regime(s)"
        + (f" ({len(rows) - len(to_run)} kept from the results)" if len(to_run) < len(rows) else "")
        + f", {sum(r['classifier_runs'] for r in to_run)} classifier runs "
        f"({args.classifier_steps} steps × batch {args.classifier_batch}), {sum(r['gan'] for r in to_run)} GAN(s) "
        f"({args.gan_steps} steps), {args.jobs} parallel job(s); estimate {total / 60:.1f} min at "
        f"{args.est_gan_step_s} s per GAN step (batch 128), {args.est_clf_step_s} s per classifier step "
        f"(batch 64), {args.est_run_overhead_s} s per run"
        + (f", × {args.est_single_thread_factor} on one thread per job" if args.jobs > 1 else "")
    )
    for r in rows:
        print(
            f"  {r['regime']:7s} {len(r['arms'])} arms × {r['seeds']} seeds = {r['classifier_runs']} runs, "
            f"{r['gan']} GAN(s) × {r['gan_steps']} steps, "
            + ("kept from the results" if r["regime"] in kept else f"~{r['estimate_s'] / 60:.1f} min"),
            flush=True,
        )
    return total


# ---------------------------------------------------------------------------------------------------------
# summary, markdown, plot


def summarize(regime: str, report: dict[str, Any]) -> dict[str, Any]:
    """The numbers of the tables, copied from the Runner's report (nothing recomputed)."""
    arms = {}
    for arm, e in report["arms"].items():
        arms[arm] = {
            k: e.get(k)
            for k in (
                "test_accuracy_mean",
                "test_accuracy_std",
                "test_balanced_accuracy_mean",
                "test_balanced_accuracy_std",
                "test_minority_recall_mean",
                "test_minority_recall_std",
                "validation_balanced_accuracy_mean",
                "validation_balanced_accuracy_std",
            )
        }
        arms[arm]["gain_vs_real_test"] = report.get("gains_vs_real_test", {}).get(arm)
    out = {
        "arms": arms,
        "headline": report.get("headline") or {},
        "minority_classes": report["data"]["minority_classes"],
        "train_class_counts": report["data"]["train_class_counts"],
        "validation_class_counts": report["data"]["validation_class_counts"],
        "synthetic_class_counts": report["gan"].get("synthetic_class_counts"),
        "gan_source": report["gan"].get("source"),
        "filter_pass_rate": report["gan"].get("filter_pass_rate"),
        "gan_seeds": report["gan"].get("seeds"),
        "guard": {k: report["guard"].get(k) for k in ("decided", "passed", "verdict")} if report.get("guard") else None,
        "timings": report.get("timings", {}),
        "classifier_runs": report.get("classifier_runs"),
    }
    if REGIMES[regime]["experiment"]["kind"] == "imbalance" and out["minority_classes"] != MINORITY:
        out["warning"] = f"the Runner's minority classes are {out['minority_classes']}, not {MINORITY}"
    return out


def _mixing(raw: dict[str, Any]) -> str:
    """The GAN arms' mixing settings of a regime's recipe dict, e.g. ``real_share 0.5, real_augment 0.25``."""
    parts = [f"real_share {raw['classifier'].get('real_share', 0.0)}"]
    if "real_augment" in raw["gan"]:
        parts.append(f"GAN real_augment {raw['gan']['real_augment']}")
    if raw["synthetic"].get("mix_with"):
        parts.append(f"{raw['synthetic'].get('mix_share', 0.5):.0%} of the synthetic images from the label GAN")
    return ", ".join(parts)


def markdown(res: dict[str, Any]) -> str:
    st = res["settings"]
    lines = [
        f"# ganaug downstream gains{' — ' + st['tag'] if st['tag'] else ''}",
        "",
        f"Machine: {machine_line(res['machine'])}",
        SMOKE_BANNER if res["settings"]["smoke"] else "",
        ""
        if res.get("complete", True)
        else f"\n**PARTIAL: {len(res['regimes'])} of {len(st['regimes'])} regimes finished so far.**\n",
        f"mnist-mini; classifier seeds {st['seeds']}, GAN seeds {st['gan_seeds']} (every GAN arm runs once per "
        "(GAN seed, classifier seed) pair; the training subset is fixed per regime); "
        + (
            f"GAN arms: the pair GAN of the shipped pair recipes ({st['pair_gan_steps']} steps; label GAN "
            f"{st['gan_steps']} steps where they mix); "
            if st.get("provider") == "pair"
            else f"GAN {st['gan_steps']} steps; "
        )
        + f"classifier {st['classifier_steps']} steps × batch {st['classifier_batch']}; "
        f"validation: 50 unused pool images per class; test: the real 10k test set"
        f"{' (smoke: 500 rows carved from the pool)' if st['smoke'] else ''}. "
        f"Overrides: {st['set'] or 'none'}. All values in % (mean ± std over seeds).",
        "",
        "## Headline: best GAN arm vs best non-GAN arm (both chosen on validation balanced accuracy)",
        "",
        "Test differences are paired by classifier seed, and their intervals run over the classifier seeds (a seed's "
        "pairs with the GAN seeds averaged first; `pairs` counts the pairs); the guard column "
        "is the recipe's gain guard on validation (would `ganaug run` write the dataset).",
        "",
    ]
    rows = []
    for regime, r in res["regimes"].items():
        h = r["summary"]["headline"]
        if h:
            rows.append(
                [
                    regime,
                    f"`{h['best_gan_arm']}`",
                    f"`{h['best_baseline_arm']}`",
                    _pts(h["test_diff_mean"]),
                    f"[{_pts(h['test_diff_ci95'][0])}, {_pts(h['test_diff_ci95'][1])}]",
                    len(h["diffs"]),
                    guard_word(r["summary"].get("guard")),
                ]
            )
        else:
            rows.append([regime, "—", "—", "—", "—", "—", "—"])
    headers = ["regime", "best GAN arm", "best non-GAN arm", "test bal. acc. diff (pts)", "95 % CI", "pairs", "guard"]
    lines += [
        md_table(headers, rows),
        "",
    ]
    for regime, r in res["regimes"].items():
        s = r["summary"]
        lines += [
            f"## {regime}",
            "",
            f"Training set per class {s['train_class_counts']}; synthetic rows added "
            f"{s['synthetic_class_counts']}; GAN: {s['gan_source']}; mixing: {_mixing(r['recipe'])}; "
            f"wall time {r['wall_s']:.0f} s.",
            "",
        ]
        if r.get("kept_from"):
            lines += [f"Kept (`--keep-finished`) from the run of {r['kept_from']} with these settings.", ""]
        if s.get("warning"):
            lines += [f"**Warning:** {s['warning']}", ""]
        runs = s.get("classifier_runs") or {}
        if runs.get("reused"):  # a resumed run: its wall time covers only what was left
            lines += [f"Resumed: {runs['reused']} of {runs['total']} classifier runs were reused from the cache.", ""]
        arm_rows = []
        for arm, e in s["arms"].items():
            g = e["gain_vs_real_test"]
            arm_rows.append(
                [
                    f"`{arm}`",
                    pm(e["test_accuracy_mean"], e["test_accuracy_std"], 100),
                    pm(e["test_balanced_accuracy_mean"], e["test_balanced_accuracy_std"], 100),
                    pm(e["test_minority_recall_mean"], e["test_minority_recall_std"], 100),
                    pm(e["validation_balanced_accuracy_mean"], e["validation_balanced_accuracy_std"], 100),
                    "—" if g is None else f"{_pts(g['mean'])} [{_pts(g['ci95'][0])}, {_pts(g['ci95'][1])}]",
                ]
            )
        lines += [
            md_table(
                [
                    "arm",
                    "test acc.",
                    "test bal. acc.",
                    "test minority recall (5-9)",
                    "val. bal. acc.",
                    "bal. acc. gain vs real (pts, 95 % CI)",
                ],
                arm_rows,
            ),
            "",
        ]
    lines += [
        "## Wall time",
        "",
        md_table(
            ["regime", "wall s", "GAN s", "classifiers s"],
            [
                [
                    k,
                    f"{r['wall_s']:.0f}",
                    f"{r['summary']['timings'].get('gan_s', 0):.0f}",
                    f"{r['summary']['timings'].get('classifiers_s', 0):.0f}",
                ]
                for k, r in res["regimes"].items()
            ],
        ),
        "",
        f"Total {res['wall_s']:.0f} s (estimate was {res['estimate_s']:.0f} s).",
        "",
    ]
    return "\n".join(lines)


def plot(res: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regimes = list(res["regimes"])
    arms = [a for a in IMB_ARMS if any(a in res["regimes"][r]["summary"]["arms"] for r in regimes)]
    arms += [a for r in regimes for a in res["regimes"][r]["summary"]["arms"] if a not in arms]
    colors = {a: plt.get_cmap("tab10")(i % 10) for i, a in enumerate(arms)}
    fig, ax = plt.subplots(figsize=(max(7, 1.6 * len(regimes) + 3.5), 4.2))
    width, labelled = 0.8 / len(arms), set()
    lows = []
    for i, regime in enumerate(regimes):
        present = [a for a in arms if a in res["regimes"][regime]["summary"]["arms"]]
        for j, arm in enumerate(present):
            e = res["regimes"][regime]["summary"]["arms"][arm]
            m, s = e["test_balanced_accuracy_mean"], e["test_balanced_accuracy_std"] or 0.0
            x = i + (j - (len(present) - 1) / 2) * width
            ax.bar(
                x,
                m,
                width,
                yerr=s,
                capsize=2,
                color=colors[arm],
                hatch="//" if arm in GAN_ARMS else None,
                edgecolor="white",
                label=None if arm in labelled else arm,
            )
            labelled.add(arm)
            lows.append(m - s)
    ax.set_xticks(range(len(regimes)))
    ax.set_xticklabels(regimes)
    ax.set_ylim(max(0.0, min(lows, default=0.0) - 0.05), 1.0)
    ax.set_ylabel("test balanced accuracy (mean ± std over seeds)")
    ax.set_title("ganaug downstream gains" + (f" ({res['settings']['tag']})" if res["settings"]["tag"] else ""))
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="arm (hatched: GAN)", title_fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------------------
# main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--regimes", nargs="+", choices=list(REGIMES), default=None, help="default: all")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="classifier seeds (default 0 1 2 3 4)")
    p.add_argument(
        "--gan-seeds",
        type=int,
        nargs="+",
        default=None,
        help="GAN seeds: every GAN arm runs once per (GAN seed, classifier seed) pair and its intervals are over "
        "those pairs (default 0 1; quick and smoke 0)",
    )
    p.add_argument("--gan-steps", type=int, default=None, help="default 2000 (quick 1500)")
    p.add_argument("--classifier-steps", type=int, default=None, help="default 1000 (quick 600)")
    p.add_argument("--classifier-batch", type=int, default=64)
    p.add_argument("--low-ratio", type=float, default=5.0, help="synthetic rows per real row in the low-data regimes")
    p.add_argument(
        "--provider",
        choices=["label", "pair"],
        default="label",
        help="the GAN arms' provider: the label-conditioned GAN, or the shipped pair recipes' pair GAN (see above)",
    )
    p.add_argument("--pair-gan-steps", type=int, default=None, help="pair GAN steps (default 2500, the recipes')")
    p.add_argument(
        "--reuse-baselines",
        default=None,
        metavar="TAG",
        help="first copy the non-GAN classifier runs of runs/bench/TAG/<regime> (e.g. default) into each regime",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override applied to every regime's recipe (TOML value), e.g. gan.diffaug=translation,cutout",
    )
    p.add_argument(
        "--without-arms",
        nargs="+",
        choices=list(ARMS),
        default=[],
        metavar="ARM",
        help="arms left out of every regime (e.g. gan+stroke gan+filter, for the pair table's three GAN arms)",
    )
    p.add_argument("--tag", default=None, help="name of this variant: gains-<tag>.json/.md/.png, runs/bench/<tag>/")
    p.add_argument("--quick", action="store_true", help="imb100 + low20, 3 seeds, GAN 1500 / classifier 600 steps")
    p.add_argument("--smoke", action="store_true", help="tiny everything (< 60 s); writes to <out>/smoke/")
    p.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
    p.add_argument("--run-root", default=str(REPO / "runs" / "bench"), help="parent of the run directories")
    p.add_argument("--fresh", action="store_true", help="delete each regime's run directory first (no GAN reuse)")
    p.add_argument(
        "--keep-finished",
        action="store_true",
        help="take the regimes already in this run's results JSON from it when their recipe (paths aside), library "
        "versions and CPU instruction sets are this run's: a table too long for one sitting is built in parts",
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan and the estimate, run nothing")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="regimes run in parallel, one process and one torch thread each (default: one per CPU core)",
    )
    est = p.add_argument_group("estimate (2 quiet CPU cores)")
    est.add_argument("--est-gan-step-s", type=float, default=0.07, help="seconds per GAN step at batch 128")
    est.add_argument(
        "--est-pair-step-factor",
        type=float,
        default=16.0,
        help="a pair GAN step (batch 64) against a label GAN step at batch 128 (measured December 4: 0.86 s per "
        "step on one quiet core, so 2,500 steps in 36 min, 48-55 min with both cores busy)",
    )
    est.add_argument("--est-clf-step-s", type=float, default=0.02, help="seconds per classifier step at batch 64")
    est.add_argument("--est-run-overhead-s", type=float, default=2.5, help="per classifier run: set-up + evaluation")
    est.add_argument(
        "--est-single-thread-factor", type=float, default=1.4, help="slow-down of a job on one thread of 2 busy cores"
    )
    est.add_argument(
        "--est-regime-overhead-s", type=float, default=15.0, help="per regime: data, synthetic rows, report"
    )
    a = p.parse_args(argv)
    if a.quick and a.smoke:
        p.error("--quick and --smoke exclude each other")
    if a.smoke:
        defaults = {"regimes": ["imb100", "low10", "full"], "seeds": [0, 1], "gan_steps": 3, "classifier_steps": 3}
        defaults.update(gan_seeds=[0], pair_gan_steps=3)
    elif a.quick:
        defaults = {"regimes": ["imb100", "low20"], "seeds": [0, 1, 2], "gan_steps": 1500, "classifier_steps": 600}
        defaults.update(gan_seeds=[0], pair_gan_steps=1500)
        a.tag = a.tag or "quick"
    else:
        defaults = {
            "regimes": list(DEFAULT_ORDER) if a.provider == "label" else [r for r in DEFAULT_ORDER if r != "full"],
            "seeds": [0, 1, 2, 3, 4],
            "gan_steps": 2000,
            "classifier_steps": 1000,
        }
        defaults.update(gan_seeds=[0, 1], pair_gan_steps=2500)
    if a.provider == "pair":  # its own results and run directories: gains-pair[-<tag>], runs/bench/pair[-<tag>]
        a.tag = f"pair-{a.tag}" if a.tag else "pair"
    for k, v in defaults.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if a.jobs is None:
        a.jobs = max(1, min(len(a.regimes), os.cpu_count() or 1))
    if a.jobs < 1:
        p.error(f"--jobs must be >= 1, got {a.jobs}")
    return a


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    args = parse_args(argv)
    configure(args.threads)
    out_dir = results_dir(args.out, args.smoke)
    name = f"{NAME}-{args.tag}" if args.tag else NAME
    tmp = tempfile.TemporaryDirectory(prefix="ganaug-gains-") if args.smoke and not args.dry_run else None
    root = Path(tmp.name) if tmp else Path(args.run_root) / (args.tag or "default")
    regimes: dict[str, Any] = {}
    if args.keep_finished:  # before the plan, so that its estimate leaves the kept regimes out
        regimes.update(kept_regimes(args, out_dir / f"{name}.json", root))
    rows = plan(args)
    estimate = print_plan(rows, args, regimes)
    if args.dry_run:
        return None
    t0 = time.perf_counter()
    res: dict[str, Any] = {}
    to_run = [r for r in args.regimes if r not in regimes]

    def write() -> None:  # the regimes finished (or kept) so far, in the order asked
        nonlocal res
        res = save(args, rows, estimate, {r: regimes[r] for r in args.regimes if r in regimes}, t0, out_dir, name)

    def done(regime: str, entry: dict[str, Any]) -> None:
        regimes[regime] = entry
        h = entry["summary"]["headline"]
        msg = (
            (
                f"{h['best_gan_arm']} - {h['best_baseline_arm']} = {_pts(h['test_diff_mean'])} pts test bal. acc. "
                f"(95 % CI {_pts(h['test_diff_ci95'][0])} to {_pts(h['test_diff_ci95'][1])})"
            )
            if h
            else "no GAN arm"
        )
        print(f"[{regime}] done in {entry['wall_s']:.0f} s: {msg}", flush=True)
        write()  # after every regime: a stop keeps them

    if not to_run:  # every regime kept: the results are written again
        write()
    try:
        # one process and one torch thread per regime: small models use the cores better so
        if args.jobs > 1 and len(to_run) > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed

            ctx = multiprocessing.get_context("spawn")  # no fork after torch has started its thread pool
            with ProcessPoolExecutor(max_workers=args.jobs, mp_context=ctx) as pool:
                futures = {
                    pool.submit(run_regime, regime, args, root, 1): regime
                    for regime in to_run  # in the order given (default: DEFAULT_ORDER)
                }
                for fut in as_completed(futures):
                    done(futures[fut], fut.result())
        else:
            for regime in to_run:
                done(regime, run_regime(regime, args, root, None))
    finally:
        if tmp is not None:
            tmp.cleanup()
    return res


def run_regime(regime: str, args: argparse.Namespace, root: Path, threads: int | None) -> dict[str, Any]:
    """Run one regime's recipe (in this process or a worker) and return its entry of the results."""
    from ganaug.recipe import recipe_from_dict
    from ganaug.runner import run_recipe

    if threads:
        configure(threads)
    run_dir = root / regime
    if args.fresh and run_dir.exists():
        shutil.rmtree(run_dir)
    raw = regime_recipe(regime, args, run_dir)
    write_mix_recipe(regime, args, raw, run_dir)
    if args.reuse_baselines:
        reused = copy_baselines(Path(args.run_root) / args.reuse_baselines / regime, run_dir)
        print(f"[{regime}] copied {reused} non-GAN classifier runs from {args.reuse_baselines}", flush=True)
    recipe = recipe_from_dict(copy.deepcopy(raw))
    print(f"[{regime}] running {len(recipe.arms)} arms × {len(recipe.seeds)} seeds in {run_dir}", flush=True)
    tr = time.perf_counter()
    report = run_recipe(recipe, write_anyway=True, progress=False)
    return {
        "recipe": raw,
        "run_dir": str(run_dir),
        "wall_s": time.perf_counter() - tr,
        "summary": summarize(regime, report),
        "report": report,
    }


def kept_regimes(args: argparse.Namespace, path: Path, root: Path) -> dict[str, Any]:
    """The regimes of ``args`` that the results at ``path`` already hold from a run of the same recipe (its paths
    aside), library versions and CPU instruction sets as this one would be (the classifier-run cache's rule), each
    marked with the date of the run that made it (``kept_from``); the others run."""
    from ganaug.checkpoint import cpu_isa, library_versions

    if not path.is_file():
        return {}
    old = json.loads(path.read_text())
    kept = {}
    for regime, entry in old.get("regimes", {}).items():
        if regime not in args.regimes:
            continue
        report = entry["report"]
        same = (
            _without_paths(entry["recipe"]) == _without_paths(regime_recipe(regime, args, root / regime))
            and report.get("versions") == library_versions()
            and report.get("machine", {}).get("cpu_isa") == cpu_isa()
        )
        print(
            f"[{regime}] "
            + (f"kept from {path}" if same else f"runs again: {path} has it from other settings or another machine")
        )
        if same:
            kept[regime] = {**entry, "kept_from": entry.get("kept_from") or old["machine"]["date_utc"]}
    return kept


def _without_paths(raw: dict[str, Any]) -> dict[str, Any]:
    """A regime's recipe dict without the paths that name where it ran."""
    out = {k: v for k, v in raw.items() if k != "output_dir"}
    out["synthetic"] = {k: v for k, v in raw["synthetic"].items() if k != "mix_with"}
    return out


def write_mix_recipe(regime: str, args: argparse.Namespace, raw: dict[str, Any], run_dir: Path) -> Path | None:
    """Write the recipe a mixing pair recipe ``raw`` names in ``mix_with``: the regime's label-GAN recipe (same
    data and split); None when ``raw`` mixes nothing."""
    if not raw["synthetic"].get("mix_with"):
        return None
    label = regime_recipe(regime, args, run_dir, provider="label")
    return atomic_write(Path(raw["synthetic"]["mix_with"]), lambda p: p.write_text(toml_text(label)))


def copy_baselines(src: Path, run_dir: Path) -> int:
    """Copy the non-GAN classifier runs cached in ``src`` into ``run_dir``'s cache (the Runner reuses those whose
    key matches: same library, settings, data and CPU); how many were copied."""
    dst = run_dir / "classifier-runs"
    dst.mkdir(parents=True, exist_ok=True)
    n = 0
    for f in sorted((src / "classifier-runs").glob("*.json")):
        if "gan_seed" not in json.loads(f.read_text()).get("row", {}) and not (dst / f.name).exists():
            atomic_write(dst / f.name, lambda p, f=f: shutil.copyfile(f, p))
            n += 1
    return n


def save(args, rows, estimate, regimes, t0, out_dir: Path, name: str) -> dict[str, Any]:
    """Write the JSON, Markdown and PNG of the regimes finished so far (``complete`` says whether all are)."""
    res = {
        "benchmark": NAME,
        "machine": machine_record("cpu"),
        "settings": vars(args),
        "seeds": {"classifier_seeds": args.seeds, "experiment_seed": 0, "gan_seed": 0, "synthetic_seed": 0},
        "plan": rows,
        "estimate_s": estimate,
        "complete": len(regimes) == len(args.regimes),
        "regimes": regimes,
        "wall_s": time.perf_counter() - t0,
    }
    png = plot(res, out_dir / f"{name}.png")
    js, md = write_results(out_dir, name, res, markdown(res) + f"\n![balanced accuracy per arm]({png.name})\n")
    print(f"wrote {js}, {md} and {png} ({res['wall_s']:.0f} s, {len(regimes)}/{len(args.regimes)} regimes)")
    return res


if __name__ == "__main__":
    main()
