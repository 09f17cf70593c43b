"""Recompute the seed intervals of committed results from the runs they store, with the library's current
``ganaug.stats`` (no classifier or GAN is trained): the test differences against ``real`` and the headline of every
``gains*.json`` table and every committed recipe report, then their Markdown. Everything else in them is kept.

Made for the December 5 change of ``ganaug.stats.paired``: a baseline run met by the rows of two GAN seeds counted
twice in the interval, which came out too narrow; the interval now runs over classifier seeds. The means do not
change; a file is rewritten only when its intervals do, or when its headline lacks what the Runner now adds to it
(each GAN seed's mean, the interval for a newly trained GAN).

Run (from the repository root)::

    .venv/bin/python benchmarks/restat.py            # rewrite the files whose intervals change
    .venv/bin/python benchmarks/restat.py --check    # list them, rewrite nothing (exit 1 when any)
    .venv/bin/python benchmarks/restat.py --gan-seeds  # results/gan-seed-intervals.md: these GANs and a new one
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import RESULTS, write_results  # noqa: E402
from ganaug._io import atomic_write, atomic_write_json  # noqa: E402
from ganaug.report import headline_sentence  # noqa: E402
from ganaug.stats import gan_seed_table, new_gan_ci, summarize  # noqa: E402

NOTE = (
    "Intervals recomputed by `benchmarks/restat.py` (December 5): over classifier seeds, the pairs of one classifier "
    "seed (one per GAN seed) averaged first, where they counted as separate pairs before; same runs, same means."
)


OLD_GAINS_SENTENCE = "Test differences are paired by classifier seed, over (GAN seed, classifier seed) pairs;"
NEW_GAINS_SENTENCE = (
    "Test differences are paired by classifier seed, and their intervals run over the classifier seeds (a seed's "
    "pairs with the GAN seeds averaged first; `pairs` counts the pairs);"
)


EXTRAS = ("test_diff_per_gan_seed", "test_diff_ci95_new_gan", "new_gan_df")  # headline keys added since


def restat(report: dict[str, Any]) -> tuple[list[tuple[list[float], list[float]]], bool]:
    """Recompute ``gains_vs_real_test`` and ``headline`` of one Runner report in place: the (old, new) intervals
    that change, and whether the headline gained or changed one of ``EXTRAS``."""
    results = report.get("results") or {}
    if not results or not report.get("headline"):
        return [], False
    metric = (report.get("recipe", {}).get("guard") or {}).get("metric", "balanced_accuracy")
    has_val = all("validation" in row for rows in results.values() for row in rows)
    new = summarize(results, report["data"].get("minority_classes") or [], metric, has_val)
    moved = []
    for old_entry, new_entry, key in [(report.get("headline") or {}, new["headline"], "test_diff_ci95")] + [
        (e, new["gains_vs_real_test"][arm], "ci95") for arm, e in (report.get("gains_vs_real_test") or {}).items()
    ]:
        pairs = zip(old_entry.get(key, ()), new_entry.get(key, ()), strict=False)
        if key in old_entry and not all(abs(a - b) < 1e-12 for a, b in pairs):
            moved.append((old_entry[key], new_entry[key]))
            old_entry[key] = new_entry[key]
    extras = False
    for key in EXTRAS:
        if key in new["headline"] and json.dumps(report["headline"].get(key)) != json.dumps(new["headline"][key]):
            report["headline"][key], extras = new["headline"][key], True
    return moved, extras


def _spellings(lo: float, hi: float) -> list[str]:
    """How a Markdown file writes the interval: ``[+a, +b]`` or ``+a to +b``, with an ASCII or a typographic minus."""
    a, b = f"{100 * lo:+.2f}", f"{100 * hi:+.2f}"
    forms = [f"[{a}, {b}]", f"{a} to {b}"]
    return forms + [f.replace("-", "\u2212") for f in forms]


def patch_markdown(
    text: str, moved: list[tuple[list[float], list[float]]], where: Path, headline: dict[str, Any] | None = None
) -> str:
    """``text`` (the Markdown at ``where``) with each moved interval replaced where it is written, and ``NOTE`` under
    the title; fails when an interval is not found (the Markdown was not made from this JSON). With ``headline`` (a
    recipe report's), its headline sentence is written again as ``ganaug.report`` writes it now."""
    for old, new in moved:
        before = text
        for o, n in zip(_spellings(*old), _spellings(*new), strict=True):
            text = text.replace(o, n)
        if text == before and _spellings(*old)[0] != _spellings(*new)[0]:
            raise SystemExit(f"{where}: interval {_spellings(*old)[0]} not found; remake this file from its runs")
    if headline:
        lines = text.split("\n")
        text = "\n".join(headline_sentence(headline) if x.startswith("Best GAN arm `") else x for x in lines)
    text = text.replace(": intervals over the pairs)", "; intervals over classifier seeds, GAN-seed pairs averaged)")
    text = text.replace(OLD_GAINS_SENTENCE, NEW_GAINS_SENTENCE)
    if moved and NOTE not in text:
        title, _, rest = text.partition("\n")
        text = f"{title}\n\n{NOTE}\n{rest}"
    return text


def gains_tables(check: bool, root: Path = RESULTS) -> list[Path]:
    """The ``gains*.json`` tables whose intervals change (rewritten with their Markdown unless ``check``)."""
    changed = []
    for path in sorted(root.glob("gains*.json")):
        res = json.loads(path.read_text())
        moved, changed_here = [], False
        for entry in (res.get("regimes") or {}).values():
            report = entry.get("report")
            hit, extras = restat(report) if report else ([], False)
            if hit or extras:
                moved += hit
                changed_here = True
                entry["summary"]["headline"] = report.get("headline") or {}
                for arm, e in entry["summary"]["arms"].items():
                    e["gain_vs_real_test"] = report.get("gains_vs_real_test", {}).get(arm)
        if changed_here:
            changed.append(path)
            md = path.with_suffix(".md")
            text = patch_markdown(md.read_text(), moved, md)
            if not check:
                write_results(path.parent, path.stem, res, text)
    return changed


def recipe_reports(check: bool, root: Path = RESULTS) -> list[Path]:
    """The committed recipe reports whose intervals change (``report.json`` and ``report.md`` rewritten)."""
    changed = []
    for path in sorted(root.glob("recipe-*/report.json")):
        report = json.loads(path.read_text())
        moved, extras = restat(report)
        if moved or extras:
            changed.append(path)
            md = path.with_name("report.md")
            text = patch_markdown(md.read_text(), moved, md, report["headline"])
            if not check:
                atomic_write(md, lambda p, text=text: p.write_text(text))
                atomic_write_json(path, report)
    return changed


GAN_SEED_INTRO = (
    "Every committed headline over two GAN seeds (`benchmarks/restat.py --gan-seeds`, from the stored runs). The "
    "interval the reports give runs over the classifier seeds, each seed's GAN-seed differences averaged first "
    "(`ganaug.stats.seed_ci`): it holds for the GANs that were trained, and so for the dataset a recipe writes. "
    "The last column treats the GAN seed, too, as drawn at random (two-way crossed random effects, Satterthwaite's "
    "degrees of freedom): the interval for a GAN you would train yourself. Where the two GANs agree the two "
    "intervals are the same; where they disagree, two GAN seeds leave it wide (few degrees of freedom)."
)


def headline_table(root: Path = RESULTS) -> tuple[str, list[dict[str, Any]]]:
    """Every committed headline over two or more GAN seeds: its interval for these GANs (``seed_ci``) beside the one
    for a newly trained GAN (``new_gan_ci``), as Markdown and as rows."""
    rows = []
    sources = [
        (p, k, e["report"])
        for p in sorted(root.glob("gains*.json"))
        for k, e in (json.loads(p.read_text()).get("regimes") or {}).items()
        if e.get("report")
    ]
    sources += [(p, "", json.loads(p.read_text())) for p in sorted(root.glob("recipe-*/report.json"))]
    for path, regime, report in sources:
        h, results = report.get("headline") or {}, report.get("results") or {}
        if not h or "test_diff_per_gan_seed" not in h:
            continue
        a, b = h["best_gan_arm"], h["best_baseline_arm"]
        d = gan_seed_table(results, a, b, "test", h["metric"])
        if d is None:
            continue  # not every (GAN seed, classifier seed) pair ran
        d = 100 * d
        mean, lo, hi, df = new_gan_ci(d)
        rows.append(
            {
                "file": str(path.relative_to(root)),
                "regime": regime,
                "comparison": f"{a} − {b}",
                "mean": mean,
                "these_gans": [100 * x for x in h["test_diff_ci95"]],
                "new_gan": [lo, hi],
                "new_gan_df": df,
                "per_gan_seed": [float(x) for x in d.mean(1)],
            }
        )
    lines = [
        "| file | regime | test difference (pts) | per GAN seed | 95 % CI, these GANs | 95 % CI, a new GAN (df) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['file']} | {r['regime'] or '—'} | `{r['comparison']}` {r['mean']:+.2f} | "
            f"{' / '.join(f'{x:+.2f}' for x in r['per_gan_seed'])} | "
            f"[{r['these_gans'][0]:+.2f}, {r['these_gans'][1]:+.2f}] | "
            f"[{r['new_gan'][0]:+.2f}, {r['new_gan'][1]:+.2f}] ({r['new_gan_df']:.1f}) |"
        )
    return "\n".join(lines), rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="list the files whose intervals change, rewrite nothing")
    ap.add_argument("--gan-seeds", action="store_true", help="write gan-seed-intervals.{md,json} (see the module)")
    a = ap.parse_args(argv)
    if a.gan_seeds:
        table, rows = headline_table()
        text = f"# Intervals for these GANs and for a new one\n\n{GAN_SEED_INTRO}\n\n{table}\n"
        for path in write_results(RESULTS, "gan-seed-intervals", {"rows": rows}, text):
            print(f"wrote {path}")
        return 0
    changed = gains_tables(a.check) + recipe_reports(a.check)
    for path in changed:
        print(("would rewrite " if a.check else "rewrote ") + str(path))
    return 1 if a.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
