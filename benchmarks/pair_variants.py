"""Variants of the pair-GAN recipes (issue 12), chosen on a development split, never on the test split.

The recipe's own validation split holds 50 images per class: enough for the gain guard, too few to rank variants
a few tenths of a point apart. With ``--dev`` the run's validation split becomes a development split: the
recipe's validation rows plus every pool image of a rare class that is in neither training nor validation
(445 more of each rare digit at 90:1; the majority classes have none to spare and keep their 50; with equal
classes, e.g. ``--recipe`` of a 20-per-class split, every class is rare and gains its 430). A user with 5
images of a class has no such split: it is for choosing the recipe's settings here, not for the guard. The test
split is untouched in both modes, so each variant is run twice: with ``--dev`` (the choice) and without (the
recipe's own report, validation and test).

Variants are recipe overrides (``--set``), except three that no recipe setting expresses:
``--chain`` (the pair GAN also varies the label GAN's images: half the synthetic rows are the pair GAN's variants
of real images, half its variants of label-GAN samples), ``--ensemble K`` (recipe GAN seed s stands for the
GANs of seeds s, s+2, ..., s+2(K-1) of both kinds, all in equal shares) and ``--bootstrap K`` (the label GAN of
the mix is trained on the training set plus K of the pair GAN's variants of each rare class's images).
``--pair-constant NAME=VALUE`` sets one of ``ganaug.pair``'s module constants (the field's ``GRID``, its
``FIELD_BOUND``) for the run: the GAN's cache key does not see them, so run such a variant into its own
``--out`` and copy in no ``gan*`` folder of another run.

    python benchmarks/pair_variants.py --out runs/pv/base
    python benchmarks/pair_variants.py --dev --out runs/pv/dev-base
    python benchmarks/pair_variants.py --dev --out runs/pv/dev-vol2 --set synthetic.target_scale=2.0
    python benchmarks/pair_variants.py --dev --out runs/pv/dev-fresh --set synthetic.fresh=true
    python benchmarks/pair_variants.py --dev --out runs/pv/dev-steps --set gan.steps=6000
    python benchmarks/pair_variants.py --dev --out runs/pv/dev-chain --chain
    python benchmarks/pair_variants.py --dev --out runs/pv/dev-ens3 --ensemble 3
    python benchmarks/pair_variants.py --dev --out runs/pv/dev-boot95 --bootstrap 95
    python benchmarks/pair_variants.py --dev --out runs/pv/dev-rs0.875 --set classifier.real_share=0.875
    python benchmarks/pair_variants.py --dev --out runs/pv/dev-mix0.25 --set synthetic.mix_share=0.25
    python benchmarks/pair_variants.py --dev --out runs/pv/dev-grid5 --pair-constant GRID=5

    python benchmarks/pair_variants.py --summarize base=runs/pv/base dev-base=runs/pv/dev-base ...

Each run writes its report (``report.json``, ``report.md``) to ``--out``; GANs and classifier runs are cached
there (copy another run's ``gan*``, ``mix`` and ``classifier-runs`` folders in to reuse them). Results:
benchmarks/results/ABLATIONS.md, "Volume, fresh samples, ..." and the subsections after it.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ganaug.pair as pairgan  # noqa: E402
import ganaug.runner as runner  # noqa: E402
import ganaug.synthetic as synthetic  # noqa: E402
from ganaug.data import load_images, resolve_dataset  # noqa: E402
from ganaug.experiment import Splits, build_splits, subset  # noqa: E402
from ganaug.mix import MixedProvider, mix  # noqa: E402
from ganaug.recipe import load_recipe, mixed_recipe  # noqa: E402


def dev_splits(data, experiment) -> Splits:
    """The recipe's splits with the development split in place of the validation split (see the module)."""
    s = build_splits(data, experiment)
    pool = load_images(resolve_dataset(data.source, data.train_split), s.image_column, s.label_column)
    used = {bytes(x.numpy().tobytes()) for x in torch.cat([s.train.images, s.val.images])}
    rare = set(s.minority) or set(range(s.spec.num_classes))  # equal classes (20 per class): every class is rare
    extra = [
        i
        for i, (x, y) in enumerate(zip(pool.images, pool.labels.tolist(), strict=True))
        if y in rare and bytes(x.numpy().tobytes()) not in used
    ]
    more = subset(pool, np.asarray(extra, dtype=np.int64))
    val = replace(s.val, images=torch.cat([s.val.images, more.images]), labels=torch.cat([s.val.labels, more.labels]))
    print("development split per class:", val.class_counts(), flush=True)
    return replace(s, val=val)


class Chain(MixedProvider):
    """A label-conditioned GAN draws an image, the pair GAN varies it (a probe, not a library provider)."""

    def __init__(self, parts) -> None:
        super().__init__(parts)
        self.label, self.pair = parts

    @property
    def content_hash(self) -> str:
        return "chain-" + super().content_hash

    def __reduce__(self):
        return (Chain, (self.parts,))

    def sample(self, labels, *, seed=0, batch_size=256):
        return self.pair.vary(self.label.sample(labels, seed=seed, batch_size=batch_size), seed=seed + 1)

    def synthesize(self, labels, pool, pool_labels, seed, batch_size=256):
        return self.sample(labels, seed=seed, batch_size=batch_size)


def _with_share(recipe, pair, other) -> MixedProvider:
    """The pair GAN and ``other`` mixed as the recipe's ``get_provider`` mixes them: ``mix_share`` from ``other``."""
    share = recipe.synthetic.mix_share
    return mix(pair, other, weights=[1 - share, share])


def chained_provider(recipe, splits, out, progress, log, gan_seed=None):
    pair, source = synthetic._gan(recipe, splits, out, progress, log, gan_seed)
    label, _ = synthetic._gan(mixed_recipe(recipe), splits, out / "mix", progress, log, gan_seed)
    return _with_share(recipe, pair, Chain((label, pair))), f"{source}; chain probe"


def ensemble_of(k: int):
    def provider(recipe, splits, out, progress, log, gan_seed=None):
        seeds = [gan_seed + 2 * i for i in range(k)]
        pairs = [synthetic._gan(recipe, splits, out, progress, log, s)[0] for s in seeds]
        labels = [synthetic._gan(mixed_recipe(recipe), splits, out / "mix", progress, log, s)[0] for s in seeds]
        return mix(*pairs, *labels), f"ensemble of GAN seeds {seeds}, pair and label GANs in equal shares"

    return provider


def bootstrapped(per_class: int):
    """The label GAN of the mix learns each rare class from its real images plus ``per_class`` of the pair GAN's
    variants of them (a learned counterpart of ``real_augment``); the mix is the pair GAN and that label GAN."""

    def provider(recipe, splits, out, progress, log, gan_seed=None):
        pair, source = synthetic._gan(recipe, splits, out, progress, log, gan_seed)
        seed = recipe.gan.seed if gan_seed is None else gan_seed
        train, picked = splits.train, []
        for c in splits.minority:
            rows = torch.nonzero(train.labels == c).flatten()
            picked.append(rows.repeat(-(-per_class // len(rows)))[:per_class])
        src = torch.cat(picked)
        variants = pair.vary(train.images[src], seed=10_000 + seed)
        labels = torch.cat([train.labels, train.labels[src]])
        more = replace(splits, train=replace(train, images=torch.cat([train.images, variants]), labels=labels))
        label, _ = synthetic._gan(mixed_recipe(recipe), more, out / "mix-boot", progress, log, seed)
        return _with_share(recipe, pair, label), f"{source}; bootstrapped label GAN ({per_class})"

    return provider


def _diffs(run_dir: str) -> dict[tuple[int, int], tuple[float, float]]:
    """(GAN seed, classifier seed) -> points of (validation, test) balanced accuracy, gan+elastic - elastic."""
    res = json.loads((Path(run_dir) / "report.json").read_text())["results"]
    base = {r["seed"]: r for r in res["elastic"]}
    return {
        (r["gan_seed"], r["seed"]): tuple(
            100 * (r[s]["balanced_accuracy"] - base[r["seed"]][s]["balanced_accuracy"]) for s in ("validation", "test")
        )
        for r in res["gan+elastic"]
    }


def _named(item: str) -> tuple[str, dict[tuple[int, int], tuple[float, float]]]:
    """NAME=DIR[,DIR...] (several runs, e.g. one per GAN seed) -> (NAME, their pairs' differences)."""
    name, run_dirs = item.split("=", 1)
    return name, {k: v for run_dir in run_dirs.split(",") for k, v in _diffs(run_dir).items()}


def _ci_cell(diffs: list[float]) -> str:
    from ganaug.stats import paired_ci

    m, lo, hi = paired_ci(diffs)
    return f"{m:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def summarize(named: list[str]) -> str:
    """A markdown table: per run, gan+elastic - elastic on its validation (or development) split and on test,
    paired 95 % t-intervals over its (GAN seed, classifier seed) pairs."""
    lines = [
        "| run | pairs | Δ validation or development [95 % CI] | Δ test [95 % CI] |",
        "|---|---|---|---|",
    ]
    for item in named:
        name, d = _named(item)
        cells = [_ci_cell([v[i] for v in d.values()]) for i in (0, 1)]
        lines.append(f"| {name} | {len(d)} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def paired(a: str, b: str) -> str:
    """``b`` − ``a`` (each NAME=DIR[,DIR...]) on the same (GAN seed, classifier seed) pairs, validation and test."""
    (na, da), (nb, db) = _named(a), _named(b)
    keys = sorted(set(da) & set(db))
    cells = [_ci_cell([db[k][i] - da[k][i] for k in keys]) for i in (0, 1)]
    return f"| {nb} − {na} | {len(keys)} | {cells[0]} | {cells[1]} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="recipes/balance-mnist-pair.toml")
    ap.add_argument("--out", help="output_dir of the run")
    ap.add_argument("--dev", action="store_true", help="the development split as the validation split")
    ap.add_argument("--chain", action="store_true")
    ap.add_argument("--ensemble", type=int, default=0, metavar="K")
    ap.add_argument("--bootstrap", type=int, default=0, metavar="K", help="see the module")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    ap.add_argument(
        "--pair-constant", action="append", default=[], metavar="NAME=VALUE", help="e.g. GRID=5: see the module"
    )
    ap.add_argument("--summarize", nargs="+", metavar="NAME=DIR[,DIR]", help="table of finished runs")
    ap.add_argument("--paired", nargs=2, metavar="NAME=DIR[,DIR]", help="second minus first, paired")
    a = ap.parse_args()
    if a.summarize or a.paired:
        print(summarize(a.summarize) if a.summarize else paired(*a.paired))
        return
    if not a.out:
        ap.error("--out is required to run a variant")
    if a.dev:
        runner.build_splits = dev_splits
    for item in a.pair_constant:
        name, _, value = item.partition("=")
        if not isinstance(getattr(pairgan, name, None), (int, float)):
            ap.error(f"--pair-constant {item}: ganaug.pair has no numeric constant {name!r} (NAME=VALUE, e.g. GRID=5)")
        try:
            setattr(pairgan, name, type(getattr(pairgan, name))(float(value)))
        except ValueError:
            ap.error(f"--pair-constant {item}: {value!r} is not a number")
    if a.chain:
        runner.get_provider = chained_provider
    elif a.ensemble:
        runner.get_provider = ensemble_of(a.ensemble)
    elif a.bootstrap:
        runner.get_provider = bootstrapped(a.bootstrap)
    arms = 'arms=["elastic","gan+elastic"]'
    recipe = load_recipe(a.recipe, [f"output_dir={a.out}", arms, *a.set])
    runner.run_recipe(recipe, progress=False)


if __name__ == "__main__":
    main()
