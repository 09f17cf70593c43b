"""Probe: an image-conditioned pair GAN (learned within-class deformations) against the tuned elastic baseline.

Regime (default ``--regime imb100``): the balance recipe's split (recipes/balance-mnist.toml), cached once in
``runs/pair-probe/split.pt``:
digits 0-4 have 450 training images, digits 5-9 have 5; validation 50 unused images per class; test the real
10k MNIST test images.

What it measures. A generator G(x, z) maps a real digit x and noise z to a deformed copy of x:
a smooth displacement field on a coarse K×K grid (tanh-bounded to ``bound`` pixels, upsampled bicubically),
a bounded global affine and a bounded stroke-thickness change (blend of x with a 3×3 dilation or erosion), all
applied with one ``grid_sample``. The label is kept by construction. A pair discriminator D(x, x') (spectral
norm, hinge loss) sees two *different* real images of one class as real and (x, G(x, z)) as fake, so G must
learn how digits of a class vary, not copy x. It is trained class-balanced on all ten classes (a rare class's
pairs come from its 5 images), or with ``--pair-classes majority`` on digits 0-4 alone, so that what G does
to a rare digit is learned from the data-rich classes only (the transfer the product is after). G then fills
each rare class 5-9 to 450 rows from its own 5 images.

Arms (3 classifier seeds each, ``ganaug.classify`` budget 1000 steps × 64):
* ``elastic``: real rows only, random affine + elastic 1.0, class-balanced weights (the baseline);
* ``pair+elastic@rs``: real + G rows, same augmentation on every row, each class the same total mass and within
  a rare class a share ``rs`` of it on its real rows;
* ``random+elastic@rs`` (``--control``): the same warp family with input-independent random parameters drawn
  from Gaussians with the per-parameter mean/std of the trained G's outputs on the rare images (no pair D).
Validation and test balanced accuracy, minority (5-9) recall and per-seed paired differences vs ``elastic``
with a 95 % t-interval. Hyperparameters are to be chosen on validation only.

Variants (``--variant``): ``disp`` (7×7 field, bound 3 px, affine, thickness), ``disp4`` (4×4 grid),
``disp-b2``/``disp-b5`` (bound 2 / 5 px), ``disp-nothick``, ``disp-noaff``, ``dagan`` (U-Net G that outputs an
image, same pair D: the label is not kept by construction).

Run (from the repository root; the first run needs the split cached, see ``--make-split``)::

    .venv/bin/python benchmarks/pair_probe.py --make-split
    .venv/bin/python benchmarks/pair_probe.py --variant disp --steps 2500 --seeds 0 1 2 \\
        --real-shares 0.25 0.5 0.75 --control --tag disp
    .venv/bin/python benchmarks/pair_probe.py --summarize

Generation-time variants of a trained G (``--load-g TAG``): ``--shrink s`` scales its warp parameters,
``--judge`` keeps the variants a classifier trained on the real rows reads as their class. ``--regime low20``
runs the same probe on the low-data recipe's split (20 images per class, every class filled from its own
images; ``--make-split`` once per regime). ``--with-label-gan`` adds the regime recipe's own label-conditioned
GAN (trained through the library, cached): its rows alone, and beside G's with ``--pair-mass`` of the
synthetic mass on G's rows.

Outputs: ``benchmarks/results/pair-probe-<tag>.{json,md}``, ``pair-probe-<tag>-grid.png`` (per rare digit:
its 5 real images, each followed by 10 G variants), and with ``--summarize`` ``pair-probe.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.utils import spectral_norm as SN  # noqa: E402

from ganaug.classify import (  # noqa: E402
    ClassifierConfig,
    evaluate,
    predict_proba,
    random_affine,
    to_input,
    train_classifier,
)
from ganaug.pair import warp  # noqa: E402  (the library's warp: the probe's variants differ in G, not in it)

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "runs" / "pair-probe"
RESULTS = REPO / "benchmarks" / "results"
NUM_CLASSES = 10
FILL_TO = 450
# The probe's regimes: the shipped recipe whose split it uses, the classes G fills to FILL_TO rows from their own
# images ("targets"), and where the split and the cached elastic baseline runs live.
REGIMES = {
    "imb100": {"recipe": "balance-mnist.toml", "targets": [5, 6, 7, 8, 9], "split": "split.pt", "arms": "arms"},
    "low20": {
        "recipe": "lowdata-mnist.toml",
        "targets": list(range(10)),
        "split": "split-low20.pt",
        "arms": "arms-low20",
    },
}
# set by use_regime() from --regime (module state: this is a one-regime-per-process probe script)
MINORITY = REGIMES["imb100"]["targets"]
SPLIT = WORK / REGIMES["imb100"]["split"]
ARMS_DIR = WORK / REGIMES["imb100"]["arms"]
RECIPE = REGIMES["imb100"]["recipe"]


def use_regime(name: str) -> None:
    """Point the probe at a regime's split, target classes and baseline cache."""
    global MINORITY, SPLIT, ARMS_DIR, RECIPE
    spec = REGIMES[name]
    MINORITY, SPLIT, ARMS_DIR, RECIPE = spec["targets"], WORK / spec["split"], WORK / spec["arms"], spec["recipe"]


VARIANTS = {
    "disp": dict(kind="disp", grid=7, bound=3.0, affine=True, thick=True),
    "disp4": dict(kind="disp", grid=4, bound=3.0, affine=True, thick=True),
    "disp-b2": dict(kind="disp", grid=7, bound=2.0, affine=True, thick=True),
    "disp-b5": dict(kind="disp", grid=7, bound=5.0, affine=True, thick=True),
    "disp-nothick": dict(kind="disp", grid=7, bound=3.0, affine=True, thick=False),
    # with a zero-initialised head the thickness weight starts at exactly 0, the kink of its two clamps, gets no
    # gradient and stays 0: in the variants above "thick=True" is in effect off (disp-nothick trains identically
    # to disp). "live_thick" starts it off the kink so it can learn.
    "disp-thicklive": dict(kind="disp", grid=7, bound=3.0, affine=True, thick=True, live_thick=True),
    "disp-noaff": dict(kind="disp", grid=7, bound=3.0, affine=False, thick=True),
    "dagan": dict(kind="dagan"),
}


# ---------------------------------------------------------------------------------------------------------
# data


def make_split() -> None:
    """Build the regime recipe's split with the library's ``build_splits`` and cache it (done once)."""
    from ganaug.experiment import build_splits
    from ganaug.recipe import load_recipe

    r = load_recipe(REPO / "recipes" / RECIPE)
    run = build_splits(r.data, r.experiment)
    WORK.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "train_x": run.train.images,
            "train_y": run.train.labels,
            "val_x": run.val.images,
            "val_y": run.val.labels,
            "test_x": run.test.images,
            "test_y": run.test.labels,
        },
        SPLIT,
    )
    print("saved", SPLIT, {k: tuple(v.shape) for k, v in torch.load(SPLIT).items()})


# ---------------------------------------------------------------------------------------------------------
# the pair GAN


class DispG(nn.Module):
    """x, z → bounded coarse displacement field + affine + thickness; output warp(thickness(x))."""

    def __init__(self, zdim: int, grid: int, bound: float, affine: bool, thick: bool, live_thick: bool = False) -> None:
        super().__init__()
        self.zdim, self.grid, self.bound, self.use_aff, self.use_thick = zdim, grid, bound, affine, thick
        self.enc = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1),
            nn.LeakyReLU(0.2),  # 14
            nn.Conv2d(32, 64, 4, 2, 1),
            nn.LeakyReLU(0.2),  # 7
            nn.Conv2d(64, 64, 3, 1, 1),
            nn.LeakyReLU(0.2),
        )
        self.zmap = nn.Linear(zdim, 64 * 7 * 7)
        self.field = nn.Sequential(nn.Conv2d(128, 64, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(64, 2, 3, 1, 1))
        self.glob = nn.Sequential(nn.Linear(64 + zdim, 128), nn.LeakyReLU(0.2), nn.Linear(128, 7))
        nn.init.zeros_(self.glob[-1].weight)
        nn.init.zeros_(self.glob[-1].bias)
        if live_thick:
            with torch.no_grad():
                self.glob[-1].weight[6].normal_(0, 0.05)

    def params(self, x: torch.Tensor, z: torch.Tensor):
        h = self.enc(x)
        zm = self.zmap(z).view(-1, 64, 7, 7)
        f = self.field(torch.cat([h, zm], 1))
        if self.grid != 7:
            f = F.adaptive_avg_pool2d(f, self.grid)
        field = torch.tanh(f) * self.bound
        g = torch.tanh(self.glob(torch.cat([h.mean((2, 3)), z], 1)))
        aff = g[:, :6] if self.use_aff else None
        t = g[:, 6] if self.use_thick else None
        return field, aff, t

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return warp(x, *self.params(x, z))


class UNetG(nn.Module):
    """DAGAN-style: U-Net on x with z injected at the bottleneck; outputs an image (tanh)."""

    def __init__(self, zdim: int) -> None:
        super().__init__()
        self.zdim = zdim
        self.e1 = nn.Sequential(nn.Conv2d(1, 32, 4, 2, 1), nn.LeakyReLU(0.2))  # 14
        self.e2 = nn.Sequential(nn.Conv2d(32, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.LeakyReLU(0.2))  # 7
        self.zmap = nn.Linear(zdim, 64 * 7 * 7)
        self.mid = nn.Sequential(nn.Conv2d(128, 128, 3, 1, 1), nn.BatchNorm2d(128), nn.ReLU())
        self.d2 = nn.Sequential(nn.ConvTranspose2d(128 + 64, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU())  # 14
        self.d1 = nn.Sequential(nn.ConvTranspose2d(64 + 32, 32, 4, 2, 1), nn.BatchNorm2d(32), nn.ReLU())  # 28
        self.out = nn.Conv2d(32 + 1, 1, 3, 1, 1)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h1 = self.e1(x)
        h2 = self.e2(h1)
        m = self.mid(torch.cat([h2, self.zmap(z).view(-1, 64, 7, 7)], 1))
        u2 = self.d2(torch.cat([m, h2], 1))
        u1 = self.d1(torch.cat([u2, h1], 1))
        return torch.tanh(self.out(torch.cat([u1, x], 1)))


class PairD(nn.Module):
    """D(x, x'): channels concatenated, spectral-norm CNN, one logit."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            SN(nn.Conv2d(2, 64, 4, 2, 1)),
            nn.LeakyReLU(0.2),  # 14
            SN(nn.Conv2d(64, 128, 4, 2, 1)),
            nn.LeakyReLU(0.2),  # 7
            SN(nn.Conv2d(128, 256, 3, 2, 1)),
            nn.LeakyReLU(0.2),  # 4
            nn.Flatten(),
            SN(nn.Linear(256 * 16, 1)),
        )

    def forward(self, x: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, x2], 1)).squeeze(1)


def build_g(variant: dict, zdim: int) -> nn.Module:
    if variant["kind"] == "dagan":
        return UNetG(zdim)
    return DispG(
        zdim, variant["grid"], variant["bound"], variant["affine"], variant["thick"], variant.get("live_thick", False)
    )


def sample_pairs(
    by_class: list[torch.Tensor], n: int, g: torch.Generator, classes: list[int] | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Class-balanced over ``classes`` (default all): a class uniformly, then two different rows of it.
    Returns (i, j, class)."""
    pool = torch.tensor(classes if classes is not None else list(range(NUM_CLASSES)))
    cls = pool[torch.randint(len(pool), (n,), generator=g)]
    i, j = torch.empty(n, dtype=torch.long), torch.empty(n, dtype=torch.long)
    for c in pool.tolist():
        m = cls == c
        k = int(m.sum())
        if k == 0:
            continue
        rows = by_class[c]
        a = torch.randint(len(rows), (k,), generator=g)
        b = (a + 1 + torch.randint(len(rows) - 1, (k,), generator=g)) % len(rows)  # b != a
        i[m], j[m] = rows[a], rows[b]
    return i, j, cls


def train_pair_gan(x_all: torch.Tensor, y_all: torch.Tensor, variant: dict, args) -> tuple[nn.Module, dict]:
    """Train G and the pair D; returns G (eval) and a log. x_all in [-1, 1]."""
    torch.manual_seed(args.gan_seed)
    g = torch.Generator().manual_seed(args.gan_seed)
    G, D = build_g(variant, args.zdim), PairD()
    opt_g = torch.optim.Adam(G.parameters(), args.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), args.lr, betas=(0.5, 0.999))
    by_class = [torch.nonzero(y_all == c).squeeze(1) for c in range(NUM_CLASSES)]
    # "majority": G and D never see a pair of a rare class, so what G does to a rare digit is pure transfer
    pair_classes = [c for c in range(NUM_CLASSES) if c not in MINORITY] if args.pair_classes == "majority" else None
    log, t0 = [], time.perf_counter()
    bs = args.gan_batch
    for step in range(args.steps):
        i, j, _ = sample_pairs(by_class, bs, g, pair_classes)
        x, x2 = x_all[i], x_all[j]
        # the real partner goes through a near-identity resampling too, so interpolation blur is no cue
        x2 = random_affine(x2, g, degrees=3.0, translate=0.03, scale=(0.97, 1.03))
        z1 = torch.randn(bs, args.zdim, generator=g)
        # D step
        with torch.no_grad():
            fake = G(x, z1)
        d_loss = F.relu(1 - D(x, x2)).mean() + F.relu(1 + D(x, fake)).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        # G step (+ mode seeking: two z for the same x must differ)
        z2 = torch.randn(bs, args.zdim, generator=g)
        f1, f2 = G(x, z1), G(x, z2)
        g_adv = -D(x, f1).mean()
        ratio = (f1 - f2).abs().mean((1, 2, 3)) / (z1 - z2).abs().mean(1)
        ms = 1.0 / (ratio.mean() + 1e-5)
        g_loss = g_adv + args.ms * ms
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        if step % max(1, args.steps // 10) == 0 or step == args.steps - 1:
            with torch.no_grad():
                ident = (f1 - x).abs().mean().item()
            rec = dict(
                step=step, d=d_loss.item(), g_adv=g_adv.item(), ms=ms.item(), l1_to_x=ident, t=time.perf_counter() - t0
            )
            log.append(rec)
            print("  gan", {k: round(v, 4) if isinstance(v, float) else v for k, v in rec.items()}, flush=True)
    secs = time.perf_counter() - t0
    return G.eval(), {
        "train_s": secs,
        "steps": args.steps,
        "batch": bs,
        "img_per_s": args.steps * bs / secs,
        "log": log,
    }


@torch.no_grad()
def generate(G: nn.Module, x_src: torch.Tensor, n: int, zdim: int, g: torch.Generator, batch: int = 512):
    """n outputs from random sources among x_src (float [-1, 1]) with fresh z; returns float [-1, 1]."""
    out = []
    for k in range(0, n, batch):
        m = min(batch, n - k)
        idx = torch.randint(len(x_src), (m,), generator=g)
        out.append(G(x_src[idx], torch.randn(m, zdim, generator=g)))
    return torch.cat(out)


def label_gan(split: dict, gan_seed: int):
    """The regime recipe's own label-conditioned GAN (its ``[gan]`` settings, this GAN seed) as a provider,
    trained through the library on the same training split and cached in runs/pair-probe/label-gan-*."""
    from ganaug.experiment import build_splits
    from ganaug.recipe import load_recipe
    from ganaug.synthetic import get_provider

    r = load_recipe(REPO / "recipes" / RECIPE)
    splits = build_splits(r.data, r.experiment)
    if not torch.equal(splits.train.labels, split["train_y"]):
        raise RuntimeError(f"the cached split differs from {RECIPE}'s: rebuild it with --make-split")
    out = WORK / f"label-gan-{Path(RECIPE).stem}"
    provider, source = get_provider(r, splits, out, progress=False, log=print, gan_seed=gan_seed)
    print(f"[pair-probe] label-conditioned GAN: {source}", flush=True)
    return provider


class Shrunk(nn.Module):
    """G with its warp parameters (field, affine, thickness) scaled by ``s`` at generation time: the same learned,
    input-dependent direction of variation, a smaller step (for rare classes G never saw pairs of)."""

    def __init__(self, G: DispG, s: float) -> None:
        super().__init__()
        self.G, self.s, self.zdim = G, s, G.zdim

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return warp(x, *(None if p is None else p * self.s for p in self.G.params(x, z)))


def train_judge(split: dict, steps: int) -> nn.Module:
    """A classifier on the real training rows only (affine + elastic, class-balanced, seed 10000: no evaluation
    seed), used to reject variants it does not read as their source's class."""
    y = split["train_y"]
    w = 1.0 / torch.bincount(y, minlength=NUM_CLASSES).double()[y]
    cfg = ClassifierConfig(steps=steps, batch_size=64, lr=1e-3, width=32, augment=True, elastic=1.0, seed=10_000)
    return train_classifier(split["train_x"], y, NUM_CLASSES, cfg, sample_weight=w)


@torch.no_grad()
def judged(
    G: nn.Module,
    judge: nn.Module,
    src: torch.Tensor,
    c: int,
    n: int,
    zdim: int,
    g: torch.Generator,
    oversample: int = 3,
) -> tuple[torch.Tensor, float]:
    """n variants of class c's sources that the judge classifies as c, drawn at random among ``oversample``·n
    candidates (short of n accepted, the rest are the candidates with the highest p(c)); also the accept rate."""
    cand = generate(G, src, oversample * n, zdim, g)
    prob = predict_proba(judge, to_uint8(cand))
    ok = prob.argmax(1) == c
    accepted = torch.nonzero(ok).squeeze(1)[torch.randperm(int(ok.sum()), generator=g)]
    rejected = torch.nonzero(~ok).squeeze(1)
    order = torch.cat([accepted, rejected[torch.argsort(prob[rejected, c], descending=True)]])
    return cand[order[:n]], float(ok.float().mean())


@torch.no_grad()
def param_stats(G: DispG, x: torch.Tensor, zdim: int, g: torch.Generator, n: int = 2000) -> dict:
    """Per-parameter mean/std of G's field, affine and thickness on random sources from x."""
    idx = torch.randint(len(x), (n,), generator=g)
    field, aff, t = G.params(x[idx], torch.randn(n, zdim, generator=g))
    st = {"field": (field.mean(0), field.std(0))}
    if aff is not None:
        st["aff"] = (aff.mean(0), aff.std(0))
    if t is not None:
        st["t"] = (t.mean(), t.std())
    return st


@torch.no_grad()
def random_control(G: DispG, st: dict, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Warp each source in x with the same warp family but input-independent Gaussian parameters that have the
    per-parameter mean/std of the trained G's outputs (no pair D, no conditioning on x)."""
    n = len(x)
    fm, fs = st["field"]
    field = (fm + fs * torch.randn(n, *fm.shape, generator=g)).clamp(-G.bound, G.bound)
    aff = t = None
    if "aff" in st:
        am, as_ = st["aff"]
        aff = (am + as_ * torch.randn(n, 6, generator=g)).clamp(-1, 1)
    if "t" in st:
        tm, ts = st["t"]
        t = (tm + ts * torch.randn(n, generator=g)).clamp(-1, 1)
    return warp(x, field, aff, t)


@torch.no_grad()
def param_cov(
    G: DispG, x: torch.Tensor, zdim: int, g: torch.Generator, n: int = 4000
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and Cholesky factor of the joint distribution of all of G's warp parameters (field, affine,
    thickness, flattened) on random sources from x."""
    idx = torch.randint(len(x), (n,), generator=g)
    field, aff, t = G.params(x[idx], torch.randn(n, zdim, generator=g))
    parts = [field.flatten(1)] + ([aff] if aff is not None else []) + ([t[:, None]] if t is not None else [])
    p = torch.cat(parts, 1).double()
    mu = p.mean(0)
    cov = torch.cov(p.T) + 1e-6 * torch.eye(p.shape[1], dtype=torch.float64)
    return mu, torch.linalg.cholesky(cov)


@torch.no_grad()
def random_cov_control(G: DispG, mu: torch.Tensor, chol: torch.Tensor, x: torch.Tensor, g: torch.Generator):
    """Warp each source with parameters drawn from the Gaussian with G's joint mean and covariance (spatially
    correlated like G's fields, but independent of the source image)."""
    n = len(x)
    p = (mu + torch.randn(n, len(mu), generator=g, dtype=torch.float64) @ chol.T).float()
    k = G.grid
    field = p[:, : 2 * k * k].view(n, 2, k, k).clamp(-G.bound, G.bound)
    rest = p[:, 2 * k * k :]
    aff = rest[:, :6].clamp(-1, 1) if G.use_aff else None
    t = rest[:, -1].clamp(-1, 1) if G.use_thick else None
    return warp(x, field, aff, t)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def save_grid(path: Path, reals: dict[int, torch.Tensor], variants: dict[int, torch.Tensor]) -> None:
    """Per rare digit 5 rows: real image | gap | 10 variants. uint8 tensors."""
    from PIL import Image

    rows = []
    for c in MINORITY:
        for r in range(len(reals[c])):
            tiles = [reals[c][r, 0], torch.full((28, 6), 128, dtype=torch.uint8)]
            tiles += [variants[c][r, k, 0] for k in range(variants[c].shape[1])]
            rows.append(torch.cat(tiles, 1))
        rows.append(torch.full((6, rows[-1].shape[1]), 128, dtype=torch.uint8))
    img = torch.cat(rows[:-1], 0).numpy()
    Image.fromarray(img).resize((img.shape[1] * 2, img.shape[0] * 2), Image.NEAREST).save(path)


# ---------------------------------------------------------------------------------------------------------
# classifier arms


def run_classifier(images, labels, weights, seed, steps, split) -> dict:
    cfg = ClassifierConfig(steps=steps, batch_size=64, lr=1e-3, width=32, augment=True, elastic=1.0, seed=seed)
    t0 = time.perf_counter()
    model = train_classifier(images, labels, NUM_CLASSES, cfg, sample_weight=weights)
    out = {"train_s": time.perf_counter() - t0}
    for name in ("val", "test"):
        pred = predict_proba(model, split[f"{name}_x"]).argmax(1)
        ev = evaluate(split[f"{name}_y"], pred, NUM_CLASSES)
        out[name] = {
            "balanced_accuracy": ev["balanced_accuracy"],
            "minority_recall": float(np.mean([ev["per_class_recall"][c] for c in MINORITY])),
            "per_class_recall": ev["per_class_recall"],
        }
    return out


def elastic_arm(split, seed, steps) -> dict:
    """The baseline, cached per (seed, steps) in the work dir so every variant compares to the same runs."""
    path = ARMS_DIR / f"elastic_s{seed}_steps{steps}.json"
    if path.exists():
        return json.loads(path.read_text())
    y = split["train_y"]
    w = 1.0 / torch.bincount(y, minlength=NUM_CLASSES).double()[y]
    res = run_classifier(split["train_x"], y, w, seed, steps, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res))
    return res


def mixed_weights(y_real: torch.Tensor, y_syn: torch.Tensor, real_share: float) -> torch.Tensor:
    """Each class total mass 1; in a class with synthetic rows, real_share of it on its real rows."""
    labels = torch.cat([y_real, y_syn])
    is_real = torch.arange(len(labels)) < len(y_real)
    w = torch.zeros(len(labels), dtype=torch.float64)
    for c in range(NUM_CLASSES):
        rc, sc = (labels == c) & is_real, (labels == c) & ~is_real
        if sc.any():
            w[rc] = real_share / rc.sum()
            w[sc] = (1 - real_share) / sc.sum()
        else:
            w[rc] = 1.0 / rc.sum()
    return w


def split_synthetic_mass(w: torch.Tensor, n_real: int, n_first: int, first_share: float) -> torch.Tensor:
    """Within each class's synthetic rows (after ``n_real`` real rows), move ``first_share`` of their total weight
    onto the first ``n_first`` of them (G's rows) and the rest onto the others (the label GAN's), spread evenly.
    The synthetic rows of a class are matched by position: rows i and n_first + i carry the same label."""
    w = w.clone()
    a = w[n_real : n_real + n_first]
    b = w[n_real + n_first :]
    total = a + b  # per matched pair of rows: equal counts per class, so per-row rescaling keeps class totals
    w[n_real : n_real + n_first] = total * first_share
    w[n_real + n_first :] = total * (1 - first_share)
    return w


def ci(d: list[float]) -> tuple[float, float, float]:
    from scipy import stats

    a = np.asarray(d, dtype=np.float64)
    m = float(a.mean())
    if len(a) < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / math.sqrt(len(a)))
    return m, m - half, m + half


def summarize_arms(arms: dict[str, list[dict]]) -> dict:
    out = {}
    base = arms["elastic"]
    for name, runs in arms.items():
        row = {}
        for sp in ("val", "test"):
            for metric in ("balanced_accuracy", "minority_recall"):
                v = [100 * r[sp][metric] for r in runs]
                d = [100 * (r[sp][metric] - b[sp][metric]) for r, b in zip(runs, base, strict=True)]
                m, lo, hi = ci(d)
                row[f"{sp}_{metric}"] = {
                    "per_seed": v,
                    "mean": float(np.mean(v)),
                    "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
                    "diff_per_seed": d,
                    "diff_mean": m,
                    "diff_ci95": [lo, hi],
                }
        row["classifier_s"] = float(np.mean([r["train_s"] for r in runs]))
        out[name] = row
    return out


def table_md(summary: dict, prefix: str = "") -> list[str]:
    lines = [
        "| arm | val bal-acc | Δ val vs elastic [95 % CI] | test bal-acc | Δ test vs elastic [95 % CI] "
        "| test minority recall | Δ test per seed |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in summary.items():
        v, t, mr = row["val_balanced_accuracy"], row["test_balanced_accuracy"], row["test_minority_recall"]

        def fmt_d(x):
            lo, hi = x["diff_ci95"]
            return f"{x['diff_mean']:+.2f} [{lo:+.2f}, {hi:+.2f}]" if not math.isnan(lo) else f"{x['diff_mean']:+.2f}"

        per = " / ".join(f"{d:+.2f}" for d in t["diff_per_seed"])
        lines.append(
            f"| {prefix}{name} | {v['mean']:.2f} ± {v['std']:.2f} | {fmt_d(v) if name != 'elastic' else '-'} | "
            f"{t['mean']:.2f} ± {t['std']:.2f} | {fmt_d(t) if name != 'elastic' else '-'} | "
            f"{mr['mean']:.2f} ± {mr['std']:.2f} | {per if name != 'elastic' else '-'} |"
        )
    return lines


# ---------------------------------------------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--regime",
        choices=sorted(REGIMES),
        default="imb100",
        help="imb100: the balance recipe's 90:1 split, 5-9 filled; low20: the low-data recipe's 20 per class",
    )
    p.add_argument("--make-split", action="store_true", help="build and cache the recipe split, then exit")
    p.add_argument("--summarize", action="store_true", help="combine every pair-probe-<tag>.json into pair-probe.md")
    p.add_argument("--variant", default="disp", choices=sorted(VARIANTS))
    p.add_argument("--steps", type=int, default=2500, help="GAN steps")
    p.add_argument("--gan-batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--zdim", type=int, default=16)
    p.add_argument("--ms", type=float, default=0.05, help="weight of the mode-seeking term")
    p.add_argument("--gan-seed", type=int, default=0)
    p.add_argument(
        "--pair-classes",
        choices=["all", "majority"],
        default="all",
        help="classes whose pairs train G and D: all (rare pairs from their 5 images) or majority (0-4 only)",
    )
    p.add_argument("--classifier-steps", type=int, default=1000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--real-shares", type=float, nargs="*", default=[0.5])
    p.add_argument("--control", action="store_true", help="also the random-parameter control of the same G")
    p.add_argument(
        "--control-cov",
        action="store_true",
        help="also a control with G's joint parameter mean/covariance, independent of the source",
    )
    p.add_argument("--load-g", default="", help="reuse runs/pair-probe/<TAG>/G.pt instead of training G")
    p.add_argument("--control-shares", type=float, nargs="+", default=[0.5], help="real_share values of the control")
    p.add_argument("--shrink", type=float, default=1.0, help="scale G's warp parameters when generating (disp only)")
    p.add_argument("--judge", action="store_true", help="keep the variants a real-rows classifier reads as their class")
    p.add_argument(
        "--with-label-gan",
        action="store_true",
        help="also the recipe's label-conditioned GAN (trained with the library, cached): its rows alone, and "
        "mixed half and half with G's",
    )
    p.add_argument("--label-gan-shares", type=float, nargs="*", default=[0.5], help="real_share of its arm alone")
    p.add_argument(
        "--pair-mass", type=float, default=0.5, help="with --with-label-gan: share of the synthetic mass on G's rows"
    )
    p.add_argument(
        "--pair-shares", type=float, nargs="*", default=None, help="real_share of G's arm alone (default --real-shares)"
    )
    p.add_argument(
        "--label-gan-double",
        action="store_true",
        help="also the label-conditioned GAN's rows at twice the count (pair+gan's row count), a control",
    )
    p.add_argument("--tag", default="")
    args = p.parse_args()
    use_regime(args.regime)
    if args.regime != "imb100" and args.pair_classes == "majority":
        p.error("--pair-classes majority needs rich classes: only with --regime imb100")
    torch.set_num_threads(1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.make_split:
        make_split()
        return
    if args.summarize:
        summarize_all()
        return
    tag = args.tag or args.variant + ("-majority" if args.pair_classes == "majority" else "")
    variant = VARIANTS[args.variant]
    split = torch.load(SPLIT)
    x_all, y_all = to_input(split["train_x"]), split["train_y"]
    print(f"[pair-probe] {tag}: train {torch.bincount(y_all).tolist()}", flush=True)

    if args.load_g:
        G = build_g(variant, args.zdim)
        G.load_state_dict(torch.load(WORK / args.load_g / "G.pt"))
        G.eval()
        prev = RESULTS / f"pair-probe-{args.load_g}.json"
        gan_log = (
            json.loads(prev.read_text())["gan"]
            if prev.exists()
            else {"train_s": float("nan"), "img_per_s": float("nan")}
        )
        gan_log["loaded_from"] = args.load_g
    else:
        G, gan_log = train_pair_gan(x_all, y_all, variant, args)
    print(f"[pair-probe] GAN {gan_log['train_s']:.0f} s, {gan_log['img_per_s']:.0f} img/s", flush=True)
    (WORK / tag).mkdir(parents=True, exist_ok=True)
    torch.save(G.state_dict(), WORK / tag / "G.pt")

    if args.shrink != 1.0:
        G = Shrunk(G, args.shrink)
    judge = train_judge(split, args.classifier_steps) if args.judge else None
    accept: dict[int, float] = {}
    g = torch.Generator().manual_seed(1000 + args.gan_seed)
    t0 = time.perf_counter()
    syn_x, syn_y = [], []
    for c in MINORITY:
        src = x_all[y_all == c]
        n = FILL_TO - len(src)
        if judge is None:
            syn_x.append(to_uint8(generate(G, src, n, args.zdim, g)))
        else:
            rows, accept[c] = judged(G, judge, src, c, n, args.zdim, g)
            syn_x.append(to_uint8(rows))
        syn_y.append(torch.full((n,), c, dtype=torch.long))
    if accept:
        print(f"[pair-probe] judge accepts {accept}", flush=True)
    gen_s = time.perf_counter() - t0
    syn_x, syn_y = torch.cat(syn_x), torch.cat(syn_y)
    gen_rate = len(syn_x) / gen_s
    # the sample grid
    reals, var = {}, {}
    with torch.no_grad():
        for c in MINORITY:
            src = x_all[y_all == c][:5]
            reals[c] = to_uint8(src)
            z = torch.randn(len(src) * 10, args.zdim, generator=g)
            var[c] = to_uint8(G(src.repeat_interleave(10, 0), z)).view(len(src), 10, 1, 28, 28)
    grid_path = RESULTS / f"pair-probe-{tag}-grid.png"
    save_grid(grid_path, reals, var)
    # mean |G(x) - x| and pixel diversity on the rare sources, for the record
    with torch.no_grad():
        src = x_all[torch.isin(y_all, torch.tensor(MINORITY))]
        zz = torch.randn(len(src), args.zdim, generator=g)
        a, b = G(src, zz), G(src, torch.randn(len(src), args.zdim, generator=g))
        stats_g = {"l1_to_source": float((a - src).abs().mean()), "l1_between_z": float((a - b).abs().mean())}
    syn_sets = {"pair": (syn_x, syn_y)}
    mix = "pair+gan" if args.pair_mass == 0.5 else f"pair{args.pair_mass:g}+gan"  # G's rows beside the label GAN's
    if args.with_label_gan:
        provider = label_gan(split, args.gan_seed)
        lab = provider.sample(syn_y, seed=args.gan_seed)
        syn_sets["gan"] = (lab, syn_y)
        syn_sets[mix] = (torch.cat([syn_x, lab]), torch.cat([syn_y, syn_y]))
        if args.label_gan_double:
            # control for pair+gan: as many synthetic rows, all from the label-conditioned GAN
            y2 = torch.cat([syn_y, syn_y])
            syn_sets["gan2x"] = (provider.sample(y2, seed=args.gan_seed), y2)
    control_info = None
    if args.control and variant["kind"] == "disp":
        st = param_stats(G, x_all[torch.isin(y_all, torch.tensor(MINORITY))], args.zdim, g)
        ctl, cvar = [], {}
        for c in MINORITY:
            src = x_all[y_all == c]
            pick = torch.randint(len(src), (FILL_TO - len(src),), generator=g)
            ctl.append(to_uint8(random_control(G, st, src[pick], g)))
            cvar[c] = to_uint8(random_control(G, st, src.repeat_interleave(10, 0), g)).view(len(src), 10, 1, 28, 28)
        syn_sets["random"] = (torch.cat(ctl), syn_y)
        control_info = {
            k: {"mean_abs_mean": float(v[0].abs().mean()), "mean_std": float(v[1].mean())} for k, v in st.items()
        }
        save_grid(RESULTS / f"pair-probe-{tag}-control-grid.png", reals, cvar)
    if args.control_cov and variant["kind"] == "disp":
        mu, chol = param_cov(G, x_all[torch.isin(y_all, torch.tensor(MINORITY))], args.zdim, g)
        ctl, cvar = [], {}
        for c in MINORITY:
            src = x_all[y_all == c]
            pick = torch.randint(len(src), (FILL_TO - len(src),), generator=g)
            ctl.append(to_uint8(random_cov_control(G, mu, chol, src[pick], g)))
            cvar[c] = to_uint8(random_cov_control(G, mu, chol, src.repeat_interleave(10, 0), g)).view(
                len(src), 10, 1, 28, 28
            )
        syn_sets["randcov"] = (torch.cat(ctl), syn_y)
        save_grid(RESULTS / f"pair-probe-{tag}-controlcov-grid.png", reals, cvar)
    print(f"[pair-probe] synthetic {len(syn_x)} rows, {gen_rate:.0f} img/s; {stats_g}", flush=True)

    arms: dict[str, list[dict]] = {"elastic": []}
    for s in args.seeds:
        arms["elastic"].append(elastic_arm(split, s, args.classifier_steps))
    shares = {
        "pair": args.real_shares if args.pair_shares is None else args.pair_shares,
        mix: args.real_shares,
        "gan": args.label_gan_shares,
        "gan2x": args.label_gan_shares,
    }
    for name, (sx, sy) in syn_sets.items():
        for rs in shares.get(name, args.control_shares):
            key = f"{name}+elastic@{rs:g}"
            arms[key] = []
            images = torch.cat([split["train_x"], sx])
            labels = torch.cat([split["train_y"], sy])
            w = mixed_weights(split["train_y"], sy, rs)
            if name == mix:
                # G's rows come first among the synthetic ones: pair_mass of each class's synthetic mass on them
                w = split_synthetic_mass(w, len(split["train_y"]), len(syn_x), args.pair_mass)
            for s in args.seeds:
                r = run_classifier(images, labels, w, s, args.classifier_steps, split)
                print(
                    f"  {key} seed {s}: val {100 * r['val']['balanced_accuracy']:.2f} "
                    f"test {100 * r['test']['balanced_accuracy']:.2f} ({r['train_s']:.0f} s)",
                    flush=True,
                )
                arms[key].append(r)
    summary = summarize_arms(arms)
    result = {
        "tag": tag,
        "variant": args.variant,
        "variant_settings": variant,
        "args": vars(args),
        "command": "python benchmarks/pair_probe.py " + " ".join(sys.argv[1:]),
        "gan": {k: v for k, v in gan_log.items()},
        "generation_img_per_s": gen_rate,
        "g_stats_on_rare": stats_g,
        "control_param_stats": control_info,
        "shrink": args.shrink,
        "judge_accept_rate": accept or None,
        "summary": summary,
        "runs": arms,
        "torch_threads": torch.get_num_threads(),
        "finished_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }
    (RESULTS / f"pair-probe-{tag}.json").write_text(json.dumps(result, indent=1))
    md = [
        f"# pair probe: {tag}",
        "",
        f"`{result['command']}`",
        "",
        f"Variant {args.variant}: {variant}. GAN {args.steps} steps × {args.gan_batch}, "
        f"{gan_log['train_s']:.0f} s ({gan_log['img_per_s']:.0f} img/s, 1 thread); generation {gen_rate:.0f} img/s. "
        f"On rare sources: mean |G(x)−x| {stats_g['l1_to_source']:.3f}, "
        f"between two z {stats_g['l1_between_z']:.3f} (in [-1,1] units).",
        "",
        f"Classifier: {args.classifier_steps} steps × 64, seeds {args.seeds}, affine + elastic 1.0 on every row.",
        "",
    ]
    md += table_md(summary)
    md += ["", f"Grid: `benchmarks/results/pair-probe-{tag}-grid.png`."]
    (RESULTS / f"pair-probe-{tag}.md").write_text("\n".join(md) + "\n")
    print("\n".join(table_md(summary)))


def load_probe_results() -> list[dict]:
    """Every full-size (1,000 classifier steps) pair-probe-<tag>.json in results, in file-name order."""
    out = []
    for path in sorted(RESULTS.glob("pair-probe-*.json")):
        r = json.loads(path.read_text())
        if r.get("args", {}).get("classifier_steps") == 1000 and "runs" in r and "summary" in r:
            out.append(r)
    return out


def regime_of(r: dict) -> str:
    return r["args"].get("regime", "imb100")  # results written before --regime existed are imb100


def pooled_over_gan_seeds(probes: list[dict], regime: str = "imb100") -> list[str]:
    """Markdown rows: every G setting trained with two or more GAN seeds, each arm's differences against
    ``elastic`` over its (GAN seed, classifier seed) pairs, the interval over classifier seeds (``seed_ci``: a
    seed's pairs averaged first, as they share its ``elastic`` run). Per GAN seed the run with the most classifier
    seeds counts (a 5-seed rerun of a 3-seed probe replaces it)."""
    from ganaug.stats import seed_ci

    groups: dict[tuple, dict[int, dict]] = {}
    for r in probes:
        a = r["args"]
        if regime_of(r) != regime:
            continue
        setting = (r["variant"], a.get("pair_classes", "all"), a.get("shrink", 1.0), a.get("judge", False))
        for arm, runs in r["runs"].items():
            if arm == "elastic":
                continue
            per_seed = groups.setdefault((*setting, arm), {})
            old = per_seed.get(a["gan_seed"])
            if old is None or len(runs) > len(old["arm"]):
                per_seed[a["gan_seed"]] = {"arm": runs, "elastic": r["runs"]["elastic"], "seeds": a["seeds"]}
    lines = []
    for (variant, pairs, shrink, judge, arm), per_seed in sorted(groups.items(), key=lambda kv: str(kv[0])):
        if len(per_seed) < 2:
            continue
        cells = []
        for sp in ("val", "test"):
            d, seeds, means = [], [], []
            for gs in sorted(per_seed):
                runs = per_seed[gs]
                dd = [
                    100 * (a[sp]["balanced_accuracy"] - e[sp]["balanced_accuracy"])
                    for a, e in zip(runs["arm"], runs["elastic"], strict=True)
                ]
                d += dd
                seeds += runs["seeds"][: len(dd)]  # the runs are in the order of the probe's classifier seeds
                means.append(f"{float(np.mean(dd)):+.2f}")
            m, lo, hi = seed_ci(d, seeds)
            cells.append(f"{m:+.2f} [{lo:+.2f}, {hi:+.2f}] ({' / '.join(means)})")
        extra = (f", shrink {shrink:g}" if shrink != 1.0 else "") + (", judge filter" if judge else "")
        lines.append(
            f"| {variant}, {pairs} pairs{extra} | {arm} | {', '.join(map(str, sorted(per_seed)))} | {len(d)} "
            f"| {cells[0]} | {cells[1]} |"
        )
    if not lines:
        return []
    return [
        "",
        "## Pooled over GAN seeds (every (GAN seed, classifier seed) pair against `elastic`; 95 % interval over "
        "classifier seeds, a seed's pairs averaged first)",
        "",
        "| G setting | arm | GAN seeds | pairs | Δ val bal-acc [95 % CI] (per GAN seed) | Δ test bal-acc [95 % CI] "
        "(per GAN seed) |",
        "|---|---|---|---|---|---|",
    ] + lines


def summarize_all() -> None:
    """Combine every full-size pair-probe-<tag>.json into pair-probe.{json,md}: one row per arm, and per tag
    the real_share chosen on validation."""
    rows, results, chosen = [], {}, []
    other_regimes: dict[str, list[dict]] = {}  # runs of the other regimes, summarised in their own section
    probes = load_probe_results()
    for r in probes:
        if regime_of(r) != "imb100":
            other_regimes.setdefault(regime_of(r), []).append(r)
            continue
        tag = r["tag"]
        results[tag] = {
            k: r[k]
            for k in ("variant", "variant_settings", "command", "g_stats_on_rare", "generation_img_per_s", "summary")
        }
        results[tag]["gan_train_s"] = r["gan"]["train_s"]
        results[tag]["gan_img_per_s"] = r["gan"]["img_per_s"]
        results[tag]["gan_loaded_from"] = r["gan"].get("loaded_from")
        fams = {}
        for arm, sm in r["summary"].items():
            if arm == "elastic":
                if not rows:
                    rows.append(("", arm, sm))
                continue
            rows.append((tag, arm, sm))
            fams.setdefault(arm.split("@")[0], []).append((arm, sm))
        for arms in fams.values():
            arm, sm = max(arms, key=lambda a: a[1]["val_balanced_accuracy"]["mean"])
            chosen.append((tag, arm, sm))
    (RESULTS / "pair-probe.json").write_text(json.dumps(results, indent=1))
    md = [
        "# pair probe: all variants",
        "",
        "Every arm: 3 classifier seeds (0, 1, 2), 1000 steps × 64, random affine + elastic 1.0 on every row; "
        "balanced accuracy in %, differences are per-seed paired against `elastic` (same seeds), mean and 95 % "
        "t-interval. `@rs` = share of a rare class's sampling mass on its 5 real rows.",
        "",
        "## All arms",
        "",
    ]
    md += table_md({(f"{t}: {a}" if t else a): s for t, a, s in rows})
    md += ["", "## Per variant and arm family, the real_share chosen on validation", ""]
    md += table_md({f"{t}: {a}": s for t, a, s in chosen})
    # learned G against its own non-learned controls (same G, same real_share, same classifier seeds)
    by_g: dict[str, dict[str, dict]] = {}
    for r in probes:
        if regime_of(r) != "imb100":
            continue
        src = r["gan"].get("loaded_from") or r["tag"]
        for arm, runs in r["runs"].items():
            if arm != "elastic":
                by_g.setdefault(src, {})[arm] = runs
    ctl_lines = []
    for src, arms in by_g.items():
        for arm, runs in arms.items():
            if not arm.startswith("pair+"):
                continue
            rs = arm.split("@")[1]
            for ctl in ("random", "randcov"):
                other = arms.get(f"{ctl}+elastic@{rs}")
                if other is None:
                    continue
                cells = []
                for sp in ("val", "test"):
                    d = [
                        100 * (a[sp]["balanced_accuracy"] - b[sp]["balanced_accuracy"])
                        for a, b in zip(runs, other, strict=True)
                    ]
                    m, lo, hi = ci(d)
                    cells.append(f"{m:+.2f} [{lo:+.2f}, {hi:+.2f}] ({' / '.join(f'{x:+.2f}' for x in d)})")
                ctl_lines.append(f"| {src} | {arm} − {ctl}+elastic@{rs} | {cells[0]} | {cells[1]} |")
    if ctl_lines:
        md += [
            "",
            "## Learned G against its non-learned controls (paired per classifier seed)",
            "",
            "| G | difference | Δ val bal-acc [95 % CI] (per seed) | Δ test bal-acc [95 % CI] (per seed) |",
            "|---|---|---|---|",
        ] + ctl_lines
    md += pooled_over_gan_seeds(probes)
    for regime, runs in other_regimes.items():
        md += [
            "",
            f"## Regime {regime} ({REGIMES[regime]['recipe']}'s split, classes {REGIMES[regime]['targets']} filled)",
            "",
        ]
        arms = {"elastic": runs[0]["summary"]["elastic"]}
        arms |= {f"{r['tag']}: {a}": sm for r in runs for a, sm in r["summary"].items() if a != "elastic"}
        md += table_md(arms)
        md += pooled_over_gan_seeds(probes, regime)
    md += [
        "",
        "## Generators",
        "",
        "| tag | settings | GAN train s (img/s) | mean abs(G(x)-x) | mean abs(G(x,z1)-G(x,z2)) |",
        "|---|---|---|---|---|",
    ]
    for tag, r in results.items():
        gs = r["g_stats_on_rare"]
        t = (
            f"reused from {r['gan_loaded_from']}"
            if r["gan_loaded_from"]
            else f"{r['gan_train_s']:.0f} ({r['gan_img_per_s']:.0f})"
        )
        md.append(f"| {tag} | {r['variant_settings']} | {t} | {gs['l1_to_source']:.3f} | {gs['l1_between_z']:.3f} |")
    md += ["", "Commands:", ""] + [
        f"    .venv/bin/python benchmarks/{r['command'].split('benchmarks/', 1)[-1]}" for r in results.values()
    ]
    (RESULTS / "pair-probe.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
