"""The README's gains tables, each generated from one ``benchmarks/gains.py`` run: the headline table from
``results/gains.json`` (the label-conditioned GAN) and the pair-GAN table from ``results/gains-pair.json``
(``gains.py --provider pair``).

Per regime: the best non-GAN arm and the best GAN arm, both chosen on validation balanced accuracy (the Runner's
headline), their test balanced accuracies, the paired test difference with its 95 % t-interval over classifier seeds
(``ganaug.stats.seed_ci``: each seed's pairs with the GAN seeds averaged first), the share of the gap to the
real-data ceiling it closes, the GAN arm with the elastic baseline's augmentation against that baseline
(``gan+elastic − elastic``), and the recipe's gain guard on validation. The ceiling is the arm chosen on validation
in the ``full`` regime (all images); a run without that regime (the pair run) takes it from the label run's results.

Run (from the repository root)::

    .venv/bin/python benchmarks/readme_table.py           # rewrite the table between the README's markers
    .venv/bin/python benchmarks/readme_table.py --check   # exit 1 when a README table is not the generated one
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import REPO, RESULTS, guard_word, md_table  # noqa: E402
from ganaug._io import atomic_write  # noqa: E402
from ganaug.stats import paired  # noqa: E402

START, END = "<!-- gains-table:start -->", "<!-- gains-table:end -->"
METRIC = "balanced_accuracy"
# table name -> (results file, README markers); the pair table's ceiling comes from the label run's `full` regime
TABLES = {
    "label": ("gains.json", (START, END)),
    "pair": ("gains-pair.json", ("<!-- gains-pair-table:start -->", "<!-- gains-pair-table:end -->")),
}


def _pts(x: float) -> str:
    return f"{x * 100:+.2f}".replace("-", "−")


def _acc(x: float) -> str:
    return f"{x * 100:.2f}"


def _interval(mean: float, lo: float, hi: float) -> str:
    """``+0.75 [+0.42, +1.09]`` in points, bold when the interval is above zero (a win beyond noise)."""
    text = f"{_pts(mean)} [{_pts(lo)}, {_pts(hi)}]"
    return f"**{text}**" if lo > 0 else text


def _runs(rows: list[dict[str, Any]]) -> str:
    """``5 seeds × 2 GANs``: what the interval runs over (classifier seeds) and how many GANs each one met."""
    seeds, gans = {r["seed"] for r in rows}, {r.get("gan_seed") for r in rows}
    return f"{len(seeds)} seeds" + (f" × {len(gans)} GANs" if len(gans) > 1 else "")


def regime_label(counts: list[int]) -> str:
    """A regime in words from its training class counts: ``20 per class`` or ``90:1 (0-4: 450, 5-9: 5)``."""
    lo, hi = min(counts), max(counts)
    if lo == hi:
        return f"{lo} per class"
    groups: list[tuple[int, int, int]] = []  # (first class, last class, count) runs
    for c, n in enumerate(counts):
        if groups and groups[-1][2] == n and groups[-1][1] == c - 1:
            groups[-1] = (groups[-1][0], c, n)
        else:
            groups.append((c, c, n))
    parts = [f"{a}-{b}: {n}" if a != b else f"{a}: {n}" for a, b, n in groups]
    return f"{hi // lo}:1 imbalance ({', '.join(parts)})"


def _ceiling(res: dict[str, Any]) -> tuple[str, float] | None:
    full = res["regimes"].get("full")
    if not full:
        return None
    arms = full["summary"]["arms"]
    best = max(arms, key=lambda a: arms[a]["validation_balanced_accuracy_mean"])
    return best, arms[best]["test_balanced_accuracy_mean"]


def table(res: dict[str, Any], source_md: str = "gains.md", ceiling_res: dict[str, Any] | None = None) -> str:
    """The Markdown table (plus a source line) for the results dict of ``gains.py``, written to
    ``benchmarks/results/<source_md>``; ``ceiling_res``: the results whose ``full`` regime gives the ceiling
    when ``res`` has none (its row is then left out and the source line names it)."""
    own = _ceiling(res)
    ceiling = own or (_ceiling(ceiling_res) if ceiling_res is not None else None)
    borrowed = own is None and ceiling is not None
    rows, last = [], None  # the ceiling row goes last, whatever order the regimes ran in
    for regime, r in res["regimes"].items():
        s = r["summary"]
        label = regime_label(s["train_class_counts"])
        h = s["headline"]
        if not h:
            if ceiling and regime == "full" and not borrowed:
                last = [f"{label} (ceiling)", f"`{ceiling[0]}` {_acc(ceiling[1])}", "—", "—", "—", "—", "—"]
            continue
        arms, results = s["arms"], r["report"]["results"]
        gan, base = h["best_gan_arm"], h["best_baseline_arm"]
        gap = "—"
        if ceiling and ceiling[1] > arms[base]["test_balanced_accuracy_mean"]:
            share = h["test_diff_mean"] / (ceiling[1] - arms[base]["test_balanced_accuracy_mean"])
            gap = f"{share * 100:.0f} %".replace("-", "−")
        versus_elastic = "—"
        if {"gan+elastic", "elastic"} <= set(results):
            d, mean, lo, hi = paired(results, "gan+elastic", "elastic", "test", METRIC)
            versus_elastic = _interval(mean, lo, hi)
        guard = s.get("guard") or {}
        rows.append(
            [
                label,
                f"`{base}` {_acc(arms[base]['test_balanced_accuracy_mean'])}",
                f"`{gan}` {_acc(arms[gan]['test_balanced_accuracy_mean'])}",
                _interval(h["test_diff_mean"], *h["test_diff_ci95"]) + f" ({_runs(results[gan])})",
                gap,
                versus_elastic,
                guard_word(guard, undecided="—"),
            ]
        )
    if last:
        rows.append(last)
    headers = [
        "regime (training images per class)",
        "best non-GAN arm",
        "best GAN arm",
        "GAN − non-GAN (pts, 95 % CI)",
        "gap to ceiling closed",
        "`gan+elastic` − `elastic`",
        "gain guard",
    ]
    st = res["settings"]
    gan = f"GAN {st['gan_steps']} steps"
    if st.get("provider") == "pair":
        gan = f"the shipped pair recipes, pair GAN {st['pair_gan_steps']} steps (label GAN {st['gan_steps']})"
    source = (
        f"Generated by `benchmarks/readme_table.py` from [{source_md}](benchmarks/results/{source_md}) (one run: "
        f"classifier seeds {st['seeds']}, GAN seeds {st.get('gan_seeds', [0])}, {gan}, "
        f"classifier {st['classifier_steps']} steps × {st['classifier_batch']}"
        f"{'; ceiling ' + ceiling[0] + ' ' + _acc(ceiling[1]) + ' from gains.md' if borrowed else ''}"
        f"{'' if res.get('complete', True) else '; PARTIAL: not every regime finished'})."
    )
    return md_table(headers, rows) + "\n\n" + source


def render(readme: str, block: str, markers: tuple[str, str] = (START, END)) -> str:
    """``readme`` with the text between the markers replaced by ``block``."""
    start, end = markers
    if readme.count(start) != 1 or readme.count(end) != 1 or readme.index(start) > readme.index(end):
        raise ValueError(f"the README needs one {start} line followed by one {end} line")
    head, rest = readme.split(start)
    _, tail = rest.split(end)
    return f"{head}{start}\n{block}\n{end}{tail}"


def generate(readme: str, results_dir: Path) -> str:
    """``readme`` with every table of ``TABLES`` whose markers it holds generated from ``results_dir``."""
    label = json.loads((results_dir / TABLES["label"][0]).read_text())
    for name, (results, markers) in TABLES.items():
        if markers[0] not in readme:
            continue
        res = label if name == "label" else json.loads((results_dir / results).read_text())
        md = Path(results).with_suffix(".md").name
        readme = render(readme, table(res, md, ceiling_res=label), markers)
    return readme


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results-dir", default=str(RESULTS), help="where gains.json and gains-pair.json are")
    p.add_argument("--readme", default=str(REPO / "README.md"))
    p.add_argument("--check", action="store_true", help="exit 1 if a README table differs from the generated")
    args = p.parse_args(argv)
    readme = Path(args.readme).read_text()
    new = generate(readme, Path(args.results_dir))
    if args.check:
        if new != readme:
            print(f"{args.readme}: a gains table is stale; run benchmarks/readme_table.py", file=sys.stderr)
            return 1
        return 0
    if new != readme:
        atomic_write(args.readme, lambda p: p.write_text(new))
    print(f"wrote the gains tables of {args.readme} from {args.results_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
