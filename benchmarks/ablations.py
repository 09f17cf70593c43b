"""The ablation table of "make the synthetic data win", rebuilt from the committed ``gains-*.json`` results.

Every lever is one run of ``benchmarks/gains.py`` with an override (``--set ...``) and a tag; this script reads
those JSON files (nothing is re-run or re-computed beyond the paired differences of the stored per-seed
results) and writes ``benchmarks/results/ablations.json``, ``ablations.md`` and ``ablations.png``: for each
lever and regime, the test balanced accuracy of ``gan`` and ``gan+classical`` and the paired difference
``gan+classical − classical`` with its 95 % t-interval over the classifier seeds.

Run (from the repository root)::

    .venv/bin/python benchmarks/ablations.py

The lever list below says which command produced each file; rerun it to reproduce a row.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import REPO, md_table, save_figure, write_results  # noqa: E402
from ganaug.stats import paired_ci  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
QUICK = "gains.py --quick-sized run: GAN 1,500 steps, classifier 600 steps × 64, seeds 0-2"

# (lever, setting, results file stem, regime, command that produced it)
LEVERS: list[tuple[str, str, str, str, str]] = [
    ("baseline", "conditional DCGAN, class-balanced D batches, EMA", "gains-quick", "imb100", "--quick"),
    ("training length", "GAN 4,000 steps", "gains-quick-steps4000", "imb100", "--set gan.steps=4000"),
    (
        "DiffAugment on D's inputs",
        "translation,cutout",
        "gains-quick-diffaug",
        "imb100",
        "--set gan.diffaug=translation,cutout",
    ),
    (
        "LeCam regularisation of D",
        "weight 0.1",
        "gains-quick-lecam01",
        "imb100",
        "--set gan.lecam=0.1 (at commit 714cab1: option removed since)",
    ),
    ("mode seeking (MSGAN)", "weight 0.3", "gains-quick-ms03", "imb100", "--set gan.mode_seeking=0.3"),
    ("mode seeking (MSGAN)", "weight 1.0", "gains-quick-ms1", "imb100", "--set gan.mode_seeking=1.0"),
    ("GAN seed (robustness)", "baseline, gan.seed=1", "gains-quick-base-gseed1", "imb100", "--set gan.seed=1"),
    (
        "GAN seed (robustness)",
        "mode seeking 1.0, gan.seed=1",
        "gains-quick-ms1-gseed1",
        "imb100",
        "--set gan.mode_seeking=1.0 --set gan.seed=1",
    ),
    (
        "transfer from majority digits (BAGAN idea)",
        "mode seeking 1.0 GAN; z = E(real majority digit), minority label",
        "gains-quick-ms1-transfer",
        "imb100",
        "(at commit 714cab1: benchmarks/transfer_probe.py --gan runs/bench/quick-ms1/imb100/gan)",
    ),
    (
        "label-blind latent recovery (InfoGAN-style)",
        "info 1.0: z must be recoverable without the label",
        "gains-quick-info1",
        "imb100",
        "--set gan.info=1.0 (at commit 714cab1: option removed since)",
    ),
    (
        "transfer with the GAN's own encoder",
        "info 1.0 GAN; z = Q(real majority digit), minority label",
        "gains-quick-info1-transfer",
        "imb100",
        "(at commit 714cab1: benchmarks/transfer_probe.py --gan runs/bench/quick-info1/imb100/gan --use-q)",
    ),
    (
        "label-blind latent recovery (InfoGAN-style)",
        "info 0.3",
        "gains-quick-info03",
        "imb100",
        "--set gan.info=0.3 (at commit 714cab1: option removed since)",
    ),
    (
        "latent recovery + real-image autoencoder (BAGAN-style)",
        "info 0.3, reconstruction 1.0",
        "gains-quick-info03-rec1",
        "imb100",
        "--set gan.info=0.3 --set gan.reconstruction=1.0 (at commit 714cab1: option removed since)",
    ),
    (
        "transfer with the GAN's own encoder",
        "info 0.3 + reconstruction 1.0 GAN; z = Q(real majority digit)",
        "gains-quick-info03-rec1-transfer",
        "imb100",
        "(at commit 714cab1: benchmarks/transfer_probe.py --gan runs/bench/quick-info03-rec1/imb100/gan --use-q)",
    ),
    (
        "real batches by frequency (D rarely sees the 5-image digits)",
        "class_balanced false",
        "gains-quick-freq",
        "imb100",
        "--set gan.class_balanced=false",
    ),
    (
        "real batches by frequency + mode seeking",
        "class_balanced false, mode seeking 1.0",
        "gains-quick-freq-ms1",
        "imb100",
        "--set gan.class_balanced=false --set gan.mode_seeking=1.0",
    ),
    (
        "diversity-aware selection",
        "mode seeking 1.0 GAN, 3 candidates, confidence gate + k-center",
        "gains-quick-ms1-diverse",
        "imb100",
        "--set synthetic.selection=diverse",
    ),
    (
        "fresh samples every classifier step",
        "baseline GAN",
        "gains-quick-fresh",
        "imb100",
        "--set synthetic.fresh=true",
    ),
    ("weight of synthetic rows", "0.3", "gains-quick-synweight03", "imb100", "--set classifier.synthetic_weight=0.3"),
    (
        "fill minority classes part-way",
        "sampling_strategy 0.25",
        "gains-quick-fill025",
        "imb100",
        "--set synthetic.sampling_strategy=0.25",
    ),
    (
        "transitional conditioning (labels faded in)",
        "unconditional until step 300, conditional from 900",
        "gains-quick-trans300-900",
        "imb100",
        "--set gan.transition_start=300 --set gan.transition_end=900 (at commit 714cab1: option removed since)",
    ),
    (
        "transitional conditioning (labels faded in)",
        "unconditional until step 600, conditional from 1200",
        "gains-quick-trans600-1200",
        "imb100",
        "--set gan.transition_start=600 --set gan.transition_end=1200 (at commit 714cab1: option removed since)",
    ),
    (
        "affine on D's real images only (deliberate leakage)",
        "real_augment 0.15",
        "gains-quick-ra015",
        "imb100",
        "--set gan.real_augment=0.15",
    ),
    (
        "affine on D's real images only (deliberate leakage)",
        "real_augment 0.25",
        "gains-quick-ra025",
        "imb100",
        "--set gan.real_augment=0.25",
    ),
    (
        "affine on D's real images only (deliberate leakage)",
        "real_augment 0.25, gan.seed=1",
        "gains-quick-ra025-gseed1",
        "imb100",
        "--set gan.real_augment=0.25 --set gan.seed=1",
    ),
    (
        "affine on D's real images only (deliberate leakage)",
        "real_augment 0.5",
        "gains-quick-ra05",
        "imb100",
        "--set gan.real_augment=0.5",
    ),
    (
        "affine on D's real images only (deliberate leakage)",
        "real_augment 1.0",
        "gains-quick-ra1",
        "imb100",
        "--set gan.real_augment=1.0",
    ),
    (
        "affine on D's real images only + training length",
        "real_augment 0.25, GAN 3,000 steps",
        "gains-quick-ra025-steps3000",
        "imb100",
        "--set gan.real_augment=0.25 --gan-steps 3000",
    ),
    (
        "affine on D's real images only + EMA decay",
        "real_augment 0.25, ema_decay 0.99",
        "gains-quick-ra025-ema099",
        "imb100",
        "--set gan.real_augment=0.25 --set gan.ema_decay=0.99",
    ),
    (
        "affine on D's real images only + R1 penalty",
        "real_augment 0.25, r1 0.1",
        "gains-quick-ra025-r1-01",
        "imb100",
        "--set gan.real_augment=0.25 --set gan.r1=0.1",
    ),
    (
        "affine on D's real images only + R1 penalty",
        "real_augment 0.25, r1 1.0",
        "gains-quick-ra025-r1-1",
        "imb100",
        "--set gan.real_augment=0.25 --set gan.r1=1.0",
    ),
    (
        "affine on D's real images only + R1 penalty",
        "real_augment 0.25, r1 10.0",
        "gains-quick-ra025-r1-10",
        "imb100",
        "--set gan.real_augment=0.25 --set gan.r1=10.0",
    ),
    (
        "affine on D's real images only + mode seeking",
        "real_augment 0.25, mode seeking 1.0",
        "gains-quick-ra025-ms1",
        "imb100",
        "--set gan.real_augment=0.25 --set gan.mode_seeking=1.0",
    ),
    ("baseline", "conditional DCGAN", "gains-quick", "low20", "--quick"),
    (
        "DiffAugment on D's inputs",
        "translation,cutout",
        "gains-quick-diffaug",
        "low20",
        "--set gan.diffaug=translation,cutout",
    ),
    ("mode seeking (MSGAN)", "weight 1.0", "gains-quick-low20-ms1", "low20", "--set gan.mode_seeking=1.0"),
    (
        "label-blind latent recovery (InfoGAN-style)",
        "info 1.0",
        "gains-quick-low20-info1",
        "low20",
        "--set gan.info=1.0 (at commit 714cab1: option removed since)",
    ),
    (
        "less synthetic data",
        "low-data ratio 1 (20 synthetic rows per class instead of 100)",
        "gains-quick-low20-ratio1",
        "low20",
        "--low-ratio 1.0",
    ),
    ("weight of synthetic rows", "0.3", "gains-quick-low20-synw03", "low20", "--set classifier.synthetic_weight=0.3"),
    (
        "affine on D's real images only (deliberate leakage)",
        "real_augment 0.25",
        "gains-quick-low20-ra025",
        "low20",
        "--set gan.real_augment=0.25",
    ),
    (
        "affine on D's real images only (deliberate leakage)",
        "real_augment 0.5",
        "gains-quick-low20-ra05",
        "low20",
        "--set gan.real_augment=0.5",
    ),
    (
        "stronger classical baseline (affine + elastic 1 px)",
        "full size (GAN 2,000, classifier 1,000 × 64, seeds 0-4), real_augment 0.25",
        "gains-full-imb100-ra025-elastic",
        "imb100",
        "--regimes imb100 --seeds 0 1 2 3 4 --set gan.real_augment=0.25 "
        "--set \"arms=['classical','elastic','gan+classical','gan+elastic']\"",
    ),
    (
        "real rows' share of each class's draws",
        "real_share 0.25, same GAN and size as the first imb100 row",
        "gains-full-imb100-ra025-elastic-rs025",
        "imb100",
        "--regimes imb100 --seeds 0 1 2 3 4 --set gan.real_augment=0.25 --set classifier.real_share=0.25 "
        "--set \"arms=['elastic','gan+elastic']\"",
    ),
    (
        "real rows' share of each class's draws",
        "real_share 0.5, same GAN and size as the first imb100 row",
        "gains-full-imb100-ra025-elastic-rs05",
        "imb100",
        "--regimes imb100 --seeds 0 1 2 3 4 --set gan.real_augment=0.25 --set classifier.real_share=0.5 "
        "--set \"arms=['elastic','gan+elastic']\"",
    ),
    (
        "real rows' share of each class's draws",
        "real_share 0.75, same GAN and size as the first imb100 row",
        "gains-full-imb100-ra025-elastic-rs075",
        "imb100",
        "--regimes imb100 --seeds 0 1 2 3 4 --set gan.real_augment=0.25 --set classifier.real_share=0.75 "
        "--set \"arms=['elastic','gan+elastic']\"",
    ),
    (
        "stronger classical baseline (affine + elastic 1 px)",
        "full size (GAN 2,000, classifier 1,000 × 64, seeds 0-4)",
        "gains-full-low20-elastic",
        "low20",
        "--regimes low20 --seeds 0 1 2 3 4 --set \"arms=['classical','elastic','gan+classical','gan+elastic']\"",
    ),
    (
        "stronger classical baseline (affine + elastic 1 px)",
        "full size (GAN 2,000, classifier 1,000 × 64, seeds 0-4)",
        "gains-full-elastic-other",
        "imb10",
        "--regimes imb10 low10 low50 --seeds 0 1 2 3 4 "
        "--set \"arms=['classical','elastic','gan+classical','gan+elastic']\"",
    ),
    (
        "stronger classical baseline (affine + elastic 1 px)",
        "full size (GAN 2,000, classifier 1,000 × 64, seeds 0-4)",
        "gains-full-elastic-other",
        "low10",
        "--regimes imb10 low10 low50 --seeds 0 1 2 3 4 "
        "--set \"arms=['classical','elastic','gan+classical','gan+elastic']\"",
    ),
    (
        "stronger classical baseline (affine + elastic 1 px)",
        "full size (GAN 2,000, classifier 1,000 × 64, seeds 0-4)",
        "gains-full-elastic-other",
        "low50",
        "--regimes imb10 low10 low50 --seeds 0 1 2 3 4 "
        "--set \"arms=['classical','elastic','gan+classical','gan+elastic']\"",
    ),
    (
        "real rows' share of each class's draws",
        "real_share 0.5, same GAN and size as the low20 row above",
        "gains-full-low20-elastic-rs05",
        "low20",
        "--regimes low20 --seeds 0 1 2 3 4 --set classifier.real_share=0.5 --set \"arms=['elastic','gan+elastic']\"",
    ),
    (
        "real rows' share of each class's draws",
        "real_share 0.75, same GAN and size as the low20 row above",
        "gains-full-low20-elastic-rs075",
        "low20",
        "--regimes low20 --seeds 0 1 2 3 4 --set classifier.real_share=0.75 --set \"arms=['elastic','gan+elastic']\"",
    ),
]


def _per_seed(report: dict[str, Any], arm: str) -> dict[int, float]:
    """Test balanced accuracy per classifier seed, averaged over the arm's GAN seeds: a classifier seed counts once
    in the paired interval (``ganaug.stats.seed_ci``), and no GAN seed's row is dropped."""
    by_seed: dict[int, list[float]] = {}
    for r in report["results"].get(arm, []):
        by_seed.setdefault(r["seed"], []).append(r["test"]["balanced_accuracy"])
    return {s: float(np.mean(v)) for s, v in by_seed.items()}


def lever_row(lever: str, setting: str, stem: str, regime: str, command: str) -> dict[str, Any] | None:
    path = RESULTS / f"{stem}.json"
    if not path.exists():
        return None
    res = json.loads(path.read_text())
    entry = res["regimes"].get(regime)
    if entry is None:
        return None
    report, arms = entry["report"], entry["summary"]["arms"]
    row: dict[str, Any] = {
        "lever": lever,
        "setting": setting,
        "regime": regime,
        "file": f"{stem}.md",
        "command": command if command.startswith("(") else f"benchmarks/gains.py {command}",
        "seeds": res["settings"]["seeds"],
        "gan_steps": entry["recipe"]["gan"].get("steps"),
        "classifier_steps": entry["recipe"]["classifier"]["steps"],
    }
    for arm in ("classical", "gan", "gan+classical"):
        row[arm] = arms.get(arm, {}).get("test_balanced_accuracy_mean")
    a, b = _per_seed(report, "gan+classical"), _per_seed(report, "classical")
    seeds = sorted(set(a) & set(b))
    mean, lo, hi = paired_ci([a[s] - b[s] for s in seeds]) if seeds else (None, None, None)
    row.update({"diff_mean": mean, "diff_ci95": [lo, hi], "paired_seeds": len(seeds)})
    if "elastic" in arms and "gan+elastic" in arms:  # against the stronger classical baseline
        for arm in ("elastic", "gan+elastic"):
            row[arm] = arms[arm]["test_balanced_accuracy_mean"]
        a, b = _per_seed(report, "gan+elastic"), _per_seed(report, "elastic")
        seeds = sorted(set(a) & set(b))
        mean, lo, hi = paired_ci([a[s] - b[s] for s in seeds])
        row.update({"elastic_diff_mean": mean, "elastic_diff_ci95": [lo, hi]})
    return row


def _pts(x: float | None) -> str:
    return "—" if x is None or x != x else f"{100 * x:+.2f}"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.2f}"


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "# Ablations: what each lever buys",
        "",
        "Built by `benchmarks/ablations.py` from the committed `gains-*.json` files. Every row: real MNIST "
        "(mnist-mini), the GAN trained on the regime's training set alone, the same SmallCNN and budget for every "
        f"arm ({QUICK} unless the setting says otherwise), test = the real 10k test set. `diff` = paired "
        "difference of test balanced accuracy `gan+classical − classical` over the classifier seeds, with its "
        "95 % t-interval. The training draw is fixed (experiment seed 0); the GAN seed is 0 unless stated.",
        "",
    ]
    for regime in dict.fromkeys(r["regime"] for r in rows):
        lines += [f"## {regime}", ""]
        table = [
            [
                r["lever"],
                r["setting"],
                _pct(r["classical"]),
                _pct(r["gan"]),
                _pct(r["gan+classical"]),
                f"{_pts(r['diff_mean'])} [{_pts(r['diff_ci95'][0])}, {_pts(r['diff_ci95'][1])}]",
                f"[{r['file']}]({r['file']})",
            ]
            for r in rows
            if r["regime"] == regime
        ]
        lines += [
            md_table(
                ["lever", "setting", "`classical`", "`gan`", "`gan+classical`", "diff (pts, 95 % CI)", "file"], table
            ),
            "",
        ]
    strong = [r for r in rows if "elastic_diff_mean" in r]
    if strong:
        lines += [
            "## Against a stronger classical baseline: affine + elastic distortion",
            "",
            "`elastic` = the classical arm with an elastic distortion (typical shift 1 px, Simard et al. 2003) added "
            "to its random affine; `gan+elastic` = the GAN's rows with that same augmentation. `diff` = paired "
            "`gan+elastic − elastic`.",
            "",
            md_table(
                ["regime", "setting", "`classical`", "`elastic`", "`gan+classical`", "`gan+elastic`", "diff", "file"],
                [
                    [
                        r["regime"],
                        r["setting"],
                        _pct(r["classical"]),
                        _pct(r["elastic"]),
                        _pct(r["gan+classical"]),
                        _pct(r["gan+elastic"]),
                        f"{_pts(r['elastic_diff_mean'])} [{_pts(r['elastic_diff_ci95'][0])}, "
                        f"{_pts(r['elastic_diff_ci95'][1])}]",
                        f"[{r['file']}]({r['file']})",
                    ]
                    for r in strong
                ],
            ),
            "",
        ]
    lines += ["![paired difference per lever](ablations.png)", ""]
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['regime']}: {r['lever']}\n{r['setting'][:48]}" for r in rows]
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(rows) + 1.4))
    for i, r in enumerate(rows):
        m, (lo, hi) = r["diff_mean"], r["diff_ci95"]
        if m is None:
            continue
        color = "tab:green" if lo is not None and lo > 0 else ("tab:red" if hi is not None and hi < 0 else "tab:gray")
        err = [[100 * (m - lo)], [100 * (hi - m)]] if lo == lo and lo is not None else None
        ax.errorbar(100 * m, i, xerr=err, fmt="o", color=color, capsize=3)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("gan+classical − classical, test balanced accuracy (pts, 95 % CI)")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path


def main() -> list[dict[str, Any]]:
    rows = [r for spec in LEVERS if (r := lever_row(*spec)) is not None]
    missing = [spec[2] for spec in LEVERS if not (RESULTS / f"{spec[2]}.json").exists()]
    png = plot(rows, RESULTS / "ablations.png")
    write_results(RESULTS, "ablations", {"rows": rows, "missing": missing}, markdown(rows))
    print(f"wrote {RESULTS / 'ablations.md'} and {png} ({len(rows)} rows; missing: {missing or 'none'})")
    return rows


if __name__ == "__main__":
    main()
