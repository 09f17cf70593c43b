"""Variants of the pair-GAN recipes (issue 12), chosen on a development split, never on the test split.

The recipe's own validation split holds 50 images per class: enough for the gain guard, too few to rank variants
a few tenths of a point apart. With ``--dev`` the run's validation split becomes a development split: the
recipe's validation rows plus every pool image of a rare class that is in neither training nor validation
(445 more of each rare digit at 90:1; the majority classes have none to spare and keep their 50; with equal
classes, e.g. ``--recipe`` of a 20-per-class split, every class is rare and gains its 430). A user with 5
images of a class has no such split: it is for choosing the recipe's settings here, not for the guard. The test
split is untouched in both modes, so each variant is run twice: with ``--dev`` (the choice) and without (the
recipe's own report, validation and test).

Variants are recipe overrides (``--set``), except those that no recipe setting expresses:
``--chain`` (the pair GAN also varies the label GAN's images: half the synthetic rows are the pair GAN's variants
of real images, half its variants of label-GAN samples), ``--ensemble K`` (recipe GAN seed s stands for the
GANs of seeds s, s+2, ..., s+2(K-1) of both kinds, all in equal shares) and ``--bootstrap K`` (the label GAN of
the mix is trained on the training set plus K of the pair GAN's variants of each rare class's images).
``--recon W`` adds BicycleGAN's conditional-VAE branch to the pair GAN (an encoder q(z | x', x) of a real
pair; G(z_q, x) must redraw the partner x' under an L1 loss of weight W, with a KL term of weight W/1000 pulling
q to the prior), so G's noise spans the registrations between real same-class pairs as well as what fools D; the
cache key does not see it. Two probes change only how the trained pair GAN is applied, so a run may copy in the
shipped run's ``gan*`` folders: ``--z-scale S`` multiplies its noise by S (S > 1 reaches further into the
bounded warps' range, S < 1 stays nearer their middle) and ``--iterate K`` varies each image K times in a row
(a variant of a variant, with fresh noise each time). ``--guide`` conditions the pair GAN on two images of a
class: G warps a source x given a second image x2 of its class (its guide), D judges a third image x3 against
(x, x2), trained on triplets of the teaching classes; a rare image is then varied with one of its class's other
images as guide. ``--teach-all`` trains the pair GAN on pairs of every class with 2 images or more, the rare
classes' 5 included (each class drawn alike). Both change the GAN, which the cache key does not see.
``--teach-pool`` (a diagnostic, test only: it refuses ``--dev``) trains the pair GAN on the training set plus every
unused pool image of the rare classes (the development split's extra images), while its synthetic rows stay
variants of the training images: what a richer teaching set would buy.
``--label-z-scale S`` multiplies the noise of the mix's label GAN by S when it samples (S < 1 is the
truncation trick: samples nearer the middle of its noise), training untouched, so its ``mix`` folder may be copied in.
``--d-select K`` keeps, of K variants of each source image, the one the pair GAN's own discriminator (from
``trainer.pt``) finds the most plausible partner of the source: a filter of broken variants, training untouched.
The stroke redraw (G also paints a bounded residual within 2 px of x's ink before its warp) began here as
``--residual EPS`` and is now the library's ``gan.redraw`` setting: ``--set gan.redraw=EPS``, seen by the cache
key. ``--morph only|pair`` replaces the pair GAN's variants by morphs between two images of a class, or varies the
morphs with it (``benchmarks/morph.py``); training is untouched. ``--pair-constant NAME=VALUE`` sets one of
``ganaug.pair``'s module constants (the field's ``GRID``, its ``FIELD_BOUND``) for the run: the GAN's cache key
does not see them either.
Run such a variant into its own ``--out`` and copy in no ``gan*`` folder of another run.

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
    python benchmarks/pair_variants.py --dev --out runs/pv/dev-res1 --set gan.redraw=1.0
    python benchmarks/pair_variants.py --dev --out runs/pv/dev-dsel8-s0 --set 'gan_seeds=[0]' --d-select 8
    python benchmarks/pair_variants.py --dev --out runs/pv/dev-morph-pair-s0 --set 'gan_seeds=[0]' --morph pair
    python benchmarks/pair_variants.py --dev --out runs/pv/dev-lz07 --label-z-scale 0.7
    python benchmarks/pair_variants.py --d-grid runs/balance-mnist-pair/gan benchmarks/results/pair-dselect-grid.png

    python benchmarks/pair_variants.py --summarize base=runs/pv/base dev-base=runs/pv/dev-base ...

The recipe's classifier trained 1,000 steps until December 5 and trains 3,000 since (``benchmarks/budget.py``):
every variant in ABLATIONS.md before the section "The pair recipe moves to 3,000 classifier steps" ran at 1,000, so
add ``--set classifier.steps=1000`` to remake one of them. It filled each rare digit to twice the majority count
until the section "Four times the rows at 3,000 steps" and to four times since: add ``--set
synthetic.target_scale=2.0`` to remake a variant from before it. It took half of the synthetic rows from each GAN
until the seventh session of December 5 and three quarters from the label GAN since: add ``--set
synthetic.mix_share=0.5`` to remake any variant from before (the ``dev-ts4`` runs are the base of that decision).

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
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ganaug.pair as pairgan  # noqa: E402
import ganaug.runner as runner  # noqa: E402
import ganaug.synthetic as synthetic  # noqa: E402
from benchmarks.morph import morph_probe, sources_and_partners  # noqa: E402
from ganaug.data import load_images, resolve_dataset  # noqa: E402
from ganaug.experiment import Splits, build_splits, subset  # noqa: E402
from ganaug.mix import MixedProvider, mix  # noqa: E402
from ganaug.recipe import load_recipe, mixed_recipe  # noqa: E402


def unused_pool(data, s: Splits):
    """The pool images of the rare classes (every class where classes are equal) in neither training nor
    validation: 445 of each rare digit at 90:1, 430 of each digit at 20 per class."""
    pool = load_images(resolve_dataset(data.source, data.train_split), s.image_column, s.label_column)
    used = {bytes(x.numpy().tobytes()) for x in torch.cat([s.train.images, s.val.images])}
    rare = set(s.minority) or set(range(s.spec.num_classes))  # equal classes (20 per class): every class is rare
    extra = [
        i
        for i, (x, y) in enumerate(zip(pool.images, pool.labels.tolist(), strict=True))
        if y in rare and bytes(x.numpy().tobytes()) not in used
    ]
    return subset(pool, np.asarray(extra, dtype=np.int64))


def dev_splits(data, experiment) -> Splits:
    """The recipe's splits with the development split in place of the validation split (see the module)."""
    s = build_splits(data, experiment)
    more = unused_pool(data, s)
    val = replace(s.val, images=torch.cat([s.val.images, more.images]), labels=torch.cat([s.val.labels, more.labels]))
    print("development split per class:", val.class_counts(), flush=True)
    return replace(s, val=val)


def pool_taught(recipe, splits, out, progress, log, gan_seed=None):
    """A diagnostic, not a recipe: the pair GAN learns from pairs of the training set plus the unused pool images
    (``unused_pool``), so the rare classes teach it with hundreds of images each, while the synthetic rows are still
    its variants of the training images (the runner passes them as the pool). It says how much a richer teaching
    set would buy; a user has no such images, and they are the development split, so it runs on test only."""
    more = unused_pool(recipe.data, splits)
    train = splits.train
    teach = replace(train, images=torch.cat([train.images, more.images]), labels=torch.cat([train.labels, more.labels]))
    log(f"pool-taught pair GAN: teaching set per class {teach.class_counts()}")
    pair, source = synthetic._gan(recipe, replace(splits, train=teach), out, progress, log, gan_seed)
    source = f"{source}; taught on {len(more)} unused pool images too"
    return synthetic.with_mix(recipe, pair, source, splits, out / "mix", progress, log, gan_seed)


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
        source = f"{source}; bootstrapped label GAN ({per_class})"
        return synthetic.with_mix(recipe, pair, source, more, out / "mix-boot", progress, log, seed)

    return provider


_RECON: dict[str, object] = {}  # the --recon probe's state: weight, the last real pair drawn, the branch's loss


class ReconPairGenerator(pairgan.PairGenerator):
    """The pair generator with an encoder q(z | x', x) (``--recon``). In training, each forward also redraws the
    last real pair's partner from its source through q and stores that loss for ``recon_generator_loss``."""

    def __init__(self, spec, cfg) -> None:
        super().__init__(spec, cfg)
        w, h, wd = cfg.g_width, spec.height // 4, spec.width // 4
        self.q = nn.Sequential(
            nn.Conv2d(2 * spec.channels, w, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(2 * w * h * wd, 2 * cfg.z_dim),
        )

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        pair = _RECON.get("pair")
        if self.training and torch.is_grad_enabled() and pair is not None:
            partner, source = pair
            mu, logvar = self.q(torch.cat([source, partner], 1)).chunk(2, 1)
            logvar = logvar.clamp(-8, 8)
            zq = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
            l1 = (pairgan.warp(source, *self.params(zq, source)) - partner).abs().mean()
            kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1).mean()
            w = float(_RECON["weight"])
            _RECON["loss"] = w * l1 + w / 1000 * kl
        return super().forward(z, x)


def recon_probe(weight: float) -> None:
    """Patch the pair GAN's generator, its batches and G's loss for ``--recon``."""
    import ganaug.losses as losses

    _RECON["weight"] = weight
    draw, g_loss = pairgan.PairBatches.draw, losses.generator_loss

    def remembered(self, g, device):
        partner, source = draw(self, g, device)
        _RECON["pair"] = (partner, source)
        return partner, source

    def with_recon(*args, **kwargs):
        loss = g_loss(*args, **kwargs)
        extra = _RECON.pop("loss", None)
        return loss if extra is None else loss + extra

    pairgan.PairGenerator = ReconPairGenerator
    pairgan.PairBatches.draw = remembered
    losses.generator_loss = with_recon


class GuidedPairGenerator(pairgan.PairGenerator):
    """G(z, [x, x2]) for ``--guide``: the warp of x is computed from x and a second image x2 of its class (its
    guide); only x is warped. A one-image condition is its own guide (the training sample grid)."""

    def __init__(self, spec, cfg) -> None:
        super().__init__(spec, cfg)
        self.enc[0] = nn.Conv2d(2 * spec.channels, cfg.g_width, 4, 2, 1)

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        c = self.spec.channels
        cond = x if x.shape[1] == 2 * c else torch.cat([x, x], 1)
        return pairgan.warp(cond[:, :c], *self.params(z, cond))


class GuidedPairDiscriminator(pairgan.PairDiscriminator):
    """D(x3, [x, x2]) for ``--guide``: a third image of the class against the source and guide it comes with."""

    def __init__(self, spec, cfg) -> None:
        super().__init__(spec, cfg)
        self.net[0] = spectral_norm(nn.Conv2d(3 * spec.channels, cfg.d_width, 4, 2, 1))

    def forward(self, images: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
        if sources.shape[1] == images.shape[1]:
            sources = torch.cat([sources, sources], 1)
        return self.net(torch.cat([sources, images], 1)).squeeze(1)


def guided_draw(self, g, device):
    """Triplets of three different images of a teaching class: (partner, [source, guide])."""
    n = self.batch_size
    pick = torch.randint(len(self.classes), (n,), generator=g)
    i, j, k = (torch.empty(n, dtype=torch.long) for _ in range(3))
    for c, rows in enumerate(self.by_class):
        m = pick == c
        count, size = int(m.sum()), len(rows)
        if count:
            if size < 3:
                raise ValueError(f"--guide draws three different images of a class; class {self.classes[c]} has {size}")
            a = torch.randint(size, (count,), generator=g)
            o1 = torch.randint(size - 1, (count,), generator=g)
            o2 = torch.randint(size - 2, (count,), generator=g)
            o2 = o2 + (o2 >= o1).long()  # o2 != o1, so the three rows differ
            i[m], j[m], k[m] = rows[a], rows[(a + 1 + o1) % size], rows[(a + 1 + o2) % size]
    as_float = lambda rows: self.images[rows].to(device, torch.float32) / 127.5 - 1.0  # noqa: E731
    partner = pairgan.random_affine(as_float(k), g, **pairgan.PARTNER_AFFINE)
    return partner, torch.cat([as_float(i), as_float(j)], 1)


def guided_synthesize(self, labels, pool, pool_labels, seed, batch_size=256):
    """``Provider.synthesize`` under ``--guide``: each variant's source and guide are two different pool images of
    its label (the same image where the pool holds only one)."""
    if not self.image_conditioned:
        return self.sample(labels, seed=seed, batch_size=batch_size)
    g = torch.Generator().manual_seed(int(seed))
    src, gd = sources_and_partners(self, labels, pool, pool_labels, g, "--guide")
    z_seed = int(torch.randint(2**62, (1,), generator=g))
    return pairgan.vary(self.generator, torch.cat([src, gd], 1), torch.Generator().manual_seed(z_seed), batch_size)[
        :, : self.spec.channels
    ]


def guide_probe() -> None:
    """Patch the pair GAN's networks, its batches and the providers' ``synthesize`` for ``--guide``."""
    import ganaug.provider as provider_module

    pairgan.PairGenerator, pairgan.PairDiscriminator = GuidedPairGenerator, GuidedPairDiscriminator
    pairgan.PairBatches.draw = guided_draw
    provider_module.Provider.synthesize = guided_synthesize


class _Applied(nn.Module):
    """A trained pair generator applied ``times`` in a row with its noise × ``scale``: ``ganaug.pair.vary`` draws
    noise of ``times`` × its z size for it, one slice per application."""

    def __init__(self, gen: nn.Module, scale: float, times: int) -> None:
        super().__init__()
        self.gen, self.scale, self.times = gen, scale, times
        self.cfg = replace(gen.cfg, z_dim=gen.cfg.z_dim * times)

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        for zk in (z * self.scale).chunk(self.times, 1):
            x = self.gen(zk, x)
        return x


def inference_probe(scale: float, times: int) -> None:
    """Patch how providers apply the pair GAN (``--z-scale``, ``--iterate``); training is untouched."""
    import ganaug.provider as provider_module

    def vary(gen, images, g, batch_size=256):
        return pairgan.vary(_Applied(gen, scale, times), images, g, batch_size)

    provider_module.vary = vary


def label_noise_probe(scale: float) -> None:
    """``--label-z-scale S``: the label GAN of the mix draws its samples with its noise × S (S < 1: nearer the
    middle of its noise, the truncation trick, fewer odd samples and less variety); training is untouched."""
    import ganaug.provider as provider_module

    sample = provider_module.Provider.sample

    def scaled_sample(self, labels, *, seed=0, batch_size=256):
        if self.image_conditioned:
            return sample(self, labels, seed=seed, batch_size=batch_size)
        gen = self.generator
        self.generator = _Applied(gen, scale, 1)
        try:
            return sample(self, labels, seed=seed, batch_size=batch_size)
        finally:
            self.generator = gen

    provider_module.Provider.sample = scaled_sample


def trained_discriminator(provider) -> nn.Module:
    """The pair GAN's discriminator at the end of its training, from the GAN folder's ``trainer.pt`` (frozen)."""
    disc = pairgan.PairDiscriminator(provider.spec, provider.generator.cfg)
    disc.load_state_dict(torch.load(provider.path / "trainer.pt", map_location="cpu", weights_only=False)["D"])
    return disc.eval().requires_grad_(False)


def d_select_probe(k: int) -> None:
    """``--d-select K``: each variant is the one of K (K noises for one source image) that the pair GAN's own
    discriminator, loaded from the GAN folder's ``trainer.pt``, scores as the most plausible partner of its
    source; training is untouched."""
    import ganaug.provider as provider_module

    judges: dict[int, nn.Module] = {}
    trained = synthetic._gan

    def gan_with_judge(recipe, splits, out, progress, log, gan_seed=None):
        provider, source = trained(recipe, splits, out, progress, log, gan_seed)
        if provider.image_conditioned:
            judges[id(provider.generator)] = trained_discriminator(provider)
        return provider, f"{source}; best of {k} by its D"

    def vary(gen, images, g, batch_size=256):
        disc = judges[id(gen)]
        n = len(images)
        cands = pairgan.vary(gen, images.repeat_interleave(k, 0), g, batch_size)  # k variants per image, in a row
        with torch.no_grad():
            src = images.repeat_interleave(k, 0).float() / 127.5 - 1
            score = torch.cat(
                [
                    disc(c.float() / 127.5 - 1, x)
                    for c, x in zip(cands.split(batch_size), src.split(batch_size), strict=True)
                ]
            )
        best = score.view(n, k).argmax(1) + torch.arange(n) * k
        return cands[best]

    synthetic._gan = gan_with_judge
    provider_module.vary = vary


def d_order_grid(gan_dir: str, out: str, per_row: int = 8, seed: int = 1) -> None:
    """``--d-grid GAN_DIR OUT``: for the first two stored images of each rare digit 5-9, ``per_row`` variants from
    one noise draw, ordered by the pair GAN's D score (most plausible first), one row per image, to OUT (PNG)."""
    from torchvision.utils import save_image

    from ganaug.provider import load_provider

    prov = load_provider(gan_dir)
    disc = trained_discriminator(prov)
    images, labels = prov.exemplars
    rows = []
    for c in range(5, 10):
        x = images[labels == c][:2]
        cands = pairgan.vary(prov.generator, x.repeat_interleave(per_row, 0), torch.Generator().manual_seed(seed))
        with torch.no_grad():
            score = disc(cands.float() / 127.5 - 1, x.repeat_interleave(per_row, 0).float() / 127.5 - 1)
        order = score.view(len(x), per_row).argsort(1, descending=True)
        for i in range(len(x)):
            rows.append(torch.cat([x[i : i + 1], cands.view(len(x), per_row, *x.shape[1:])[i][order[i]]]))
    save_image(torch.cat(rows).float() / 255, out, nrow=per_row + 1, padding=1)


def arm_scores(run_dirs: list[str], splits: tuple[str, ...] = ("validation", "test")) -> dict[str, dict]:
    """split -> arm (``elastic``, ``gan+elastic``) -> (GAN seed, classifier seed) -> points of balanced accuracy,
    over finished runs' reports; a baseline run is keyed by every GAN seed of its directory's GAN runs, so each
    pair compares runs of one classifier seed."""
    out: dict[str, dict] = {s: {"elastic": {}, "gan+elastic": {}} for s in splits}
    for d in run_dirs:
        res = json.loads((Path(d) / "report.json").read_text())["results"]
        gan_seeds = sorted({r["gan_seed"] for r in res["gan+elastic"]})
        for s in splits:
            for r in res["gan+elastic"]:
                out[s]["gan+elastic"][(r["gan_seed"], r["seed"])] = 100 * r[s]["balanced_accuracy"]
            for r in res["elastic"]:
                out[s]["elastic"].update({(g, r["seed"]): 100 * r[s]["balanced_accuracy"] for g in gan_seeds})
    return out


def _diffs(run_dir: str) -> dict[tuple[int, int], tuple[float, float]]:
    """(GAN seed, classifier seed) -> points of (validation, test) balanced accuracy, gan+elastic - elastic."""
    v, t = (arm_scores([run_dir])[s] for s in ("validation", "test"))
    return {k: (v["gan+elastic"][k] - v["elastic"][k], t["gan+elastic"][k] - t["elastic"][k]) for k in v["gan+elastic"]}


def _named(item: str) -> tuple[str, dict[tuple[int, int], tuple[float, float]]]:
    """NAME=DIR[,DIR...] (several runs, e.g. one per GAN seed) -> (NAME, their pairs' differences)."""
    name, run_dirs = item.split("=", 1)
    return name, {k: v for run_dir in run_dirs.split(",") for k, v in _diffs(run_dir).items()}


def _ci_cell(diffs: list[float], seeds: list[int]) -> str:
    """Mean and 95 % interval over classifier seeds (``ganaug.stats.seed_ci``: a classifier seed's pairs count once)."""
    from ganaug.stats import seed_ci

    m, lo, hi = seed_ci(diffs, seeds)
    return f"{m:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def summarize(named: list[str]) -> str:
    """A markdown table: per run, gan+elastic - elastic on its validation (or development) split and on test,
    its (GAN seed, classifier seed) pairs with 95 % t-intervals over their classifier seeds."""
    lines = [
        "| run | pairs | Δ validation or development [95 % CI] | Δ test [95 % CI] |",
        "|---|---|---|---|",
    ]
    for item in named:
        name, d = _named(item)
        cells = [_ci_cell([v[i] for v in d.values()], [k[1] for k in d]) for i in (0, 1)]
        lines.append(f"| {name} | {len(d)} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def paired(a: str, b: str) -> str:
    """``b`` − ``a`` (each NAME=DIR[,DIR...]) on the same (GAN seed, classifier seed) pairs, validation and test."""
    (na, da), (nb, db) = _named(a), _named(b)
    keys = sorted(set(da) & set(db))
    cells = [_ci_cell([db[k][i] - da[k][i] for k in keys], [k[1] for k in keys]) for i in (0, 1)]
    return f"| {nb} − {na} | {len(keys)} | {cells[0]} | {cells[1]} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="recipes/balance-mnist-pair.toml")
    ap.add_argument("--out", help="output_dir of the run")
    ap.add_argument("--dev", action="store_true", help="the development split as the validation split")
    ap.add_argument("--chain", action="store_true")
    ap.add_argument("--ensemble", type=int, default=0, metavar="K")
    ap.add_argument("--bootstrap", type=int, default=0, metavar="K", help="see the module")
    ap.add_argument("--recon", type=float, default=0.0, metavar="W", help="see the module")
    ap.add_argument("--guide", action="store_true", help="see the module")
    ap.add_argument("--teach-all", action="store_true", help="see the module")
    ap.add_argument("--teach-pool", action="store_true", help="see the module (a diagnostic: test only, no --dev)")
    ap.add_argument("--z-scale", type=float, default=1.0, metavar="S", help="see the module")
    ap.add_argument("--iterate", type=int, default=1, metavar="K", help="see the module")
    ap.add_argument("--label-z-scale", type=float, default=1.0, metavar="S", help="see the module")
    ap.add_argument("--d-select", type=int, default=1, metavar="K", help="see the module")
    ap.add_argument("--morph", choices=["only", "pair"], help="see benchmarks/morph.py")
    ap.add_argument("--d-grid", nargs=2, metavar=("GAN_DIR", "OUT"), help="rare digits' variants ordered by D (PNG)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    ap.add_argument(
        "--pair-constant", action="append", default=[], metavar="NAME=VALUE", help="e.g. GRID=5: see the module"
    )
    ap.add_argument("--summarize", nargs="+", metavar="NAME=DIR[,DIR]", help="table of finished runs")
    ap.add_argument("--paired", nargs=2, metavar="NAME=DIR[,DIR]", help="second minus first, paired")
    a = ap.parse_args()
    if a.d_grid:
        d_order_grid(*a.d_grid)
        return
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
    if a.recon < 0:
        ap.error(f"--recon must be >= 0, got {a.recon}")
    if a.label_z_scale <= 0:
        ap.error(f"--label-z-scale must be > 0, got {a.label_z_scale}")
    if a.label_z_scale != 1.0:
        label_noise_probe(a.label_z_scale)
    if a.z_scale <= 0 or a.iterate < 1:
        ap.error(f"--z-scale must be > 0 and --iterate >= 1, got {a.z_scale} and {a.iterate}")
    applied = (a.z_scale, a.iterate) != (1.0, 1)
    if a.d_select < 1:
        ap.error(f"--d-select must be >= 1, got {a.d_select}")
    if sum([bool(a.recon), a.guide, applied, a.d_select > 1, bool(a.morph)]) > 1:
        ap.error(
            "--recon, --guide, --z-scale/--iterate, --d-select and --morph each replace part of the pair GAN: "
            "use one at a time"
        )
    if a.recon:
        recon_probe(a.recon)
    if a.guide:
        guide_probe()
    if a.teach_all:
        pairgan.teaching_classes = lambda counts: [c for c, n in enumerate(counts) if n >= 2]
    if applied:
        inference_probe(a.z_scale, a.iterate)
    if a.d_select > 1:
        d_select_probe(a.d_select)
    if a.morph:
        morph_probe(a.morph)
    if a.teach_pool and (a.dev or a.chain or a.ensemble or a.bootstrap):
        ap.error(
            "--teach-pool teaches the pair GAN on the development split's images: run it without --dev, "
            "--chain, --ensemble and --bootstrap"
        )
    if a.teach_pool:
        runner.get_provider = pool_taught
    elif a.chain:
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
