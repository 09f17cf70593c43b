"""Run reports: ``report.json`` (every number), ``report.md`` (for people) and PNG plots."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ._io import atomic_write, atomic_write_json
from .arms import uses_gan

_METRICS = (("balanced_accuracy", "bal. acc."), ("accuracy", "accuracy"), ("macro_f1", "macro-F1"))


def _pm(entry: dict[str, Any], key: str) -> str:
    mean, std = entry.get(f"{key}_mean"), entry.get(f"{key}_std")
    if mean is None:
        return "—"
    return f"{mean:.4f} ± {std:.4f}"


def headline_sentence(h: dict[str, Any]) -> str:
    """The report's headline (a ``ganaug.stats.headline`` dict) in one sentence."""
    return (
        f"Best GAN arm `{h['best_gan_arm']}` vs best non-GAN arm `{h['best_baseline_arm']}` (both chosen on "
        f"{h['chosen_on']}), paired difference in test {h['metric']}: **{_pts(h['test_diff_mean'])} points** "
        f"(95 % CI {_pts(h['test_diff_ci95'][0])} to {_pts(h['test_diff_ci95'][1])}{per_gan_seed_note(h)})."
    )


def per_gan_seed_note(h: dict[str, Any]) -> str:
    """``; per GAN seed 0 / 1: +a / +b; for a newly trained GAN +c to +d`` for a headline over several GAN seeds, else
    nothing."""
    by_gan = h.get("test_diff_per_gan_seed") or {}
    if len(by_gan) < 2:
        return ""
    note = f"; per GAN seed {' / '.join(by_gan)}: {' / '.join(_pts(v) for v in by_gan.values())}"
    if "test_diff_ci95_new_gan" in h:
        lo, hi = h["test_diff_ci95_new_gan"]
        note += f"; for a newly trained GAN {_pts(lo)} to {_pts(hi)}"
    return note


def _pts(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x * 100:+.2f}"


def summary_table(report: dict[str, Any]) -> str:
    arms = report["arms"]
    has_min = any("test_minority_recall_mean" in e for e in arms.values())
    head = ["arm", "test bal. acc.", "test accuracy", "test macro-F1"]
    if has_min:
        head.append("test minority recall")
    head += ["validation bal. acc.", "gain vs real (pts, 95 % CI)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    gains = report.get("gains_vs_real_test", {})
    for arm, e in arms.items():
        g = gains.get(arm)
        gain = "—" if g is None else f"{_pts(g['mean'])} [{_pts(g['ci95'][0])}, {_pts(g['ci95'][1])}]"
        row = [f"`{arm}`", _pm(e, "test_balanced_accuracy"), _pm(e, "test_accuracy"), _pm(e, "test_macro_f1")]
        if has_min:
            row.append(_pm(e, "test_minority_recall"))
        row += [_pm(e, "validation_balanced_accuracy"), gain]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    r = report["recipe"]
    d = report["data"]
    h = report.get("headline") or {}
    g = report["guard"]
    t = report["timings"]
    many = report["gan"].get("seeds") or []
    gan_seeds = (
        f" (GAN arms once per GAN seed {many}; a paired interval runs over the classifier seeds, each seed's GAN-seed"
        " pairs averaged first, so it holds for these GANs and each GAN seed's own mean shows how much they differ)"
        if len(many) > 1
        else ""
    )
    parts = [
        f"# {r['name']}",
        "",
        f"**Gain guard: {_verdict_word(report)}.** {g.get('verdict', g.get('reason', ''))}",
        "",
        r.get("description", ""),
        "",
        f"Seeds {r['seeds']}{gan_seeds}; classifier: {r['classifier']['steps']} steps × batch "
        f"{r['classifier']['batch_size']} for every arm; "
        f"all arms evaluated on the same {d['test_rows']} test rows.",
        "",
        f"Training set per class: {d['train_class_counts']}; validation: {d['validation_class_counts']}; "
        f"synthetic rows added: {report['gan'].get('synthetic_class_counts')}.",
        f"GAN: {report['gan'].get('source')}.",
        "",
        "## Results (mean ± std over seeds)",
        "",
        summary_table(report),
        "",
    ]
    if h:
        parts += ["## Headline", "", headline_sentence(h), ""]
    parts += ["## Gain guard", "", g.get("verdict", g.get("reason", "")), ""]
    parts += _coverage_section(report["gan"].get("coverage"))
    if dataset_held_back(report):
        parts += ["**The augmented dataset was not written** (`ganaug run --write-anyway` writes it anyway).", ""]
    elif report.get("written_anyway"):
        parts += ["**The augmented dataset was written although the guard refused it** (`--write-anyway`).", ""]
    for note in report.get("notes", []):
        parts.append(f"- {note}")
    parts += [
        "",
        "## Timings (s)",
        "",
        ", ".join(f"{k}: {v:.1f}" for k, v in t.items()),
        "",
        "Plots: " + ", ".join(f"`{name}` ({_PLOTS[name]})" for name in _plot_names(report)) + ".",
        "",
    ]
    return "\n".join(parts)


_PLOTS = {
    "samples.png": "synthetic samples, one row per class, labelled",
    "rare.png": "each minority class's real training images beside its synthetic ones",
    "variants.png": "real training images, each beside 10 of the pair GAN's variants of it",
    "recall.png": "per-class test recall per arm",
    "gains.png": "gain over `real`, 95 % CI",
}


def _plot_names(report: dict[str, Any]) -> list[str]:
    """The plots a report's run wrote: its ``plots`` list, or for a report from before the list was kept, those
    its numbers say were drawn (``variants.png`` came with the list)."""
    if "plots" in report:
        return report["plots"]
    gan = report.get("gan", {}).get("source") is not None
    made = {
        "samples.png": gan,
        "rare.png": gan and bool(report["data"].get("minority_classes")),
        "recall.png": True,
        "gains.png": bool(report.get("gains_vs_real_test")),
    }
    return [name for name, drawn in made.items() if drawn]


def _coverage_section(cov: dict[str, Any] | None) -> list[str]:
    """Per-class precision and recall of the synthetic rows against real images the GAN never saw (validation)."""
    if not cov:
        return []

    def fmt(x: float | None) -> str:
        return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"

    poor = cov["poorly_covered_classes"]
    verdict = (
        f"Classes the generator covers poorly (recall < {cov['poor_recall_below']}): {poor}: their synthetic rows "
        "redraw few of the real shapes, so expect little from them."
        if poor
        else f"Every class with synthetic rows is covered (recall >= {cov['poor_recall_below']})."
    )
    classes = range(len(cov["recall"]))
    ref = "validation images (never seen by the GAN)" if cov.get("reference") == "validation" else "training images"
    return [
        "## Generator coverage",
        "",
        verdict,
        "",
        "| | " + " | ".join(str(c) for c in classes) + " |",
        "|---|" + "---|" * len(cov["recall"]),
        "| precision | " + " | ".join(fmt(v) for v in cov["precision"]) + " |",
        "| recall | " + " | ".join(fmt(v) for v in cov["recall"]) + " |",
        "",
        f"Against the real {ref}; k-NN manifolds (k = 3, fewer for classes with 3 images or fewer) in the "
        f"{cov['feature_space']}.",
        "",
        *_fid_and_cas_lines(cov, f"{cov.get('reference', 'training')} images", fmt),
    ]


def _fid_and_cas_lines(cov: dict[str, Any], ref: str, fmt) -> list[str]:
    """Domain FID beside its real-vs-real floor, and the classification accuracy score (``synthetic_cas``)."""
    lines = []
    fid = cov.get("fid")
    if fid:
        n = fid["sizes"]
        lines.append(
            f"- Domain FID {fmt(fid['synthetic'])}, against a floor of {fmt(fid['real_floor'])} between real images "
            f"at the same sizes: the {ref} of classes {fid['classes']} split in two halves ({n['reference_half']} and "
            f"{n['compared']} images), the synthetic rows drawn to the second half's class counts; mean of "
            f"{fid['repeats']} splits. The closer to the floor, the closer the rows are to real images."
        )
    cas = cov.get("cas")
    if cas:
        ratio = cas["synthetic"] / cas["real"] if cas["real"] else float("nan")
        lines.append(
            f"- Classification accuracy score (CAS) on classes {cas['classes']}: trained on their "
            f"{cas['synthetic_rows']} synthetic rows alone, the recipe's classifier recognises "
            f"{cas['synthetic'] * 100:.1f} % of their {ref} (balanced accuracy, among those classes); trained on "
            f"their {cas['real_rows']} real training images, {cas['real'] * 100:.1f} % ({fmt(ratio)}×)."
        )
    return [*lines, ""] if lines else []


def dataset_held_back(report: dict[str, Any]) -> bool:
    """The run made synthetic rows but did not write the augmented dataset (the gain guard refused it)."""
    return report["gan"].get("synthetic_class_counts") is not None and not report["dataset_written"]


def _verdict_word(report: dict[str, Any]) -> str:
    g = report["guard"]
    if not g.get("decided"):
        return "not decided"
    return "the synthetic data wins on validation" if g.get("passed") else "no win on validation"


def write_report(
    report: dict[str, Any],
    out: Path,
    provider=None,
    rare: list[tuple[str, Any, Any]] | None = None,
    variants: list[tuple[str, Any, Any]] | None = None,
):
    """``report.json``, ``report.md`` and the plots, whose names ``report["plots"]`` lists. ``rare`` is (class
    name, real images, synthetic images) per minority class, uint8 N×C×H×W, for ``rare.png``; ``variants`` is (row
    label, a real image C×H×W, its variants N×C×H×W) per row of ``variants.png``."""
    out = Path(out)
    report["plots"] = [
        name
        for name, made in (
            ("samples.png", provider is not None),
            ("rare.png", bool(rare)),
            ("variants.png", bool(variants)),
            ("recall.png", True),
            ("gains.png", bool(report.get("gains_vs_real_test"))),
        )
        if made
    ]
    atomic_write_json(out / "report.json", report)
    text = markdown(report)
    atomic_write(out / "report.md", lambda p: p.write_text(text))
    _plots(report, out, provider)
    if rare:
        _rare_grid(rare, out / "rare.png")
    if variants:
        rows = [(label, [real, None, *varied]) for label, real, varied in variants]
        _image_rows(rows, out / "variants.png", "real training images (left) | the pair GAN's variants of each (right)")


def _image_rows(rows: list[tuple[str, list[Any]]], path: Path, title: str) -> None:
    """One labelled row of images per entry: (row label, [uint8 C×H×W tensors or None for a gap])."""
    import matplotlib.pyplot as plt

    cols = max(len(images) for _, images in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(0.55 * cols + 1.2, 0.6 * len(rows) + 0.5), squeeze=False)
    for r, (label, images) in enumerate(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            img = images[c] if c < len(images) else None
            if img is not None:
                arr = img.permute(1, 2, 0).numpy()
                ax.imshow(arr[..., 0] if arr.shape[-1] == 1 else arr, cmap="gray", vmin=0, vmax=255)
        axes[r][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=100))
    plt.close(fig)


def _rare_grid(rare: list[tuple[str, Any, Any]], path: Path) -> None:
    rows = [
        (f"{name}\n({len(real)} real)", [*real[:5], *[None] * (5 - len(real[:5])), None, *synth[:10]])
        for name, real, synth in rare
    ]
    _image_rows(rows, path, "minority classes: real training images (left) | synthetic (right)")


def _plots(report: dict[str, Any], out: Path, provider) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    if provider is not None:
        import torch

        names = report["data"]["spec"]["class_names"]
        k = provider.spec.num_classes
        imgs = provider.sample(torch.arange(k).repeat_interleave(10), seed=0)
        rows = [(str(names[c]), list(imgs[10 * c : 10 * (c + 1)])) for c in range(k)]
        _image_rows(rows, out / "samples.png", f"{report['recipe']['name']}: synthetic samples per class")

    arms = report["arms"]
    names = list(arms)
    recalls = np.array([arms[a]["test_per_class_recall_mean"] for a in names])
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / max(len(names), 1)
    for i, a in enumerate(names):
        ax.bar(np.arange(recalls.shape[1]) + i * width, recalls[i], width, label=a)
    ax.set_xticks(np.arange(recalls.shape[1]) + 0.4 - width / 2)
    ax.set_xticklabels(report["data"]["spec"]["class_names"])
    ax.set_ylabel("test recall (mean over seeds)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, ncol=4)
    ax.set_title(report["recipe"]["name"] + ": per-class recall")
    fig.tight_layout()
    atomic_write(out / "recall.png", lambda p: fig.savefig(p, format="png", dpi=100))
    plt.close(fig)

    gains = report.get("gains_vs_real_test", {})
    if gains:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        labels = list(gains)
        means = np.array([gains[a]["mean"] for a in labels]) * 100
        lo = np.array([gains[a]["ci95"][0] for a in labels]) * 100
        hi = np.array([gains[a]["ci95"][1] for a in labels]) * 100
        err = np.nan_to_num(np.vstack([means - lo, hi - means]))
        ax.barh(labels, means, xerr=err, color=["tab:orange" if uses_gan(a) else "tab:blue" for a in labels])
        ax.axvline(0, color="k", lw=0.8)
        ax.set_xlabel(f"gain over real, test {next(iter(gains.values()))['metric']} (points, 95 % CI)")
        fig.tight_layout()
        atomic_write(out / "gains.png", lambda p: fig.savefig(p, format="png", dpi=100))
        plt.close(fig)


def print_summary(report: dict[str, Any]) -> None:
    print()
    print(summary_table(report))
    h = report.get("headline") or {}
    if h:
        print(
            f"\nheadline: {h['best_gan_arm']} vs {h['best_baseline_arm']}: {_pts(h['test_diff_mean'])} points test "
            f"{h['metric']} (95 % CI {_pts(h['test_diff_ci95'][0])} to {_pts(h['test_diff_ci95'][1])})"
        )
    g = report["guard"]
    print("gain guard:", g.get("verdict", g.get("reason")))
    if dataset_held_back(report):
        print("the augmented dataset was NOT written; ganaug run --write-anyway writes it anyway")
    print(f"total time: {report['timings'].get('total_s', 0):.0f} s")
