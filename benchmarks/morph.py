"""Morphs between two images of one class (issue 12): a probe of ``benchmarks/pair_variants.py --morph``.

A rare digit's 5 images span only 5 shapes; the pair GAN varies each of them the way the data-rich digits vary,
but never towards the other four. A morph does: the coarse displacement field that warps a source image onto a
second image of its class is found by registration (least squares on the pixels, a small penalty on the
field's size, Adam), and the source is warped by a random fraction ``t`` of it, an in-between shape of the two.
Hauberg et al. ("Dreaming More Data", AISTATS 2016) learn such within-class transformations per class; here they
come from the rare class's own pairs, which is all a class of 5 images has.

``--morph only`` replaces the pair GAN's variants by morphs (a non-GAN augmentation of the rare classes, the
label GAN's half of the mix kept); ``--morph pair`` morphs first and lets the pair GAN vary the morph.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import ganaug.pair as pairgan

GRID = 7  # the registered field's control points per side (the pair GAN's own grid)
STEPS = 300  # Adam steps of the registration
LR = 0.3  # Adam step size, in pixels
SIZE_PENALTY = 0.03  # weight of the mean squared displacement (pixels²) against the mean squared pixel error


def register(source: torch.Tensor, target: torch.Tensor, steps: int = STEPS) -> torch.Tensor:
    """The coarse fields N×2×GRID×GRID (pixels) that warp each ``source`` onto its ``target`` (float N×1×H×W in
    [-1, 1], dark background), found coarse to fine: first on images blurred by a 5×5 box, then on the images."""
    field = torch.zeros(len(source), 2, GRID, GRID, requires_grad=True)
    opt = torch.optim.Adam([field], lr=LR)
    blur = lambda x: F.avg_pool2d(x, 5, 1, 2, count_include_pad=False)  # noqa: E731
    soft = (blur(source), blur(target))
    with torch.enable_grad():
        for step in range(steps):
            src, tgt = soft if step < steps // 2 else (source, target)
            moved = pairgan.warp(src, field, None, None)
            loss = (moved - tgt).pow(2).mean((1, 2, 3)).sum() + SIZE_PENALTY * field.pow(2).mean((1, 2, 3)).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return field.detach()


def partner_rows(
    rows: torch.Tensor, labels: torch.Tensor, pool_labels: torch.Tensor, g: torch.Generator
) -> torch.Tensor:
    """For each source row (of label ``labels[i]``), another pool row of the same label, uniformly (the source
    itself where its label has one row). ``--guide`` draws its guides so too."""
    out = rows.clone()
    for c in labels.unique().tolist():
        have = torch.nonzero(pool_labels == c).flatten()
        m = labels == c
        if len(have) > 1:
            pos = torch.searchsorted(have, rows[m])  # the source's place among its class's rows
            off = torch.randint(len(have) - 1, (int(m.sum()),), generator=g)
            out[m] = have[(pos + 1 + off) % len(have)]
    return out


def sources_and_partners(provider, labels, pool, pool_labels, g: torch.Generator, probe: str):
    """For each label, a random ``pool`` image of it (``ganaug.pair.source_rows``) and another one
    (``partner_rows``), as two uint8 batches; ``probe`` names the caller in the error for a label the pool lacks."""
    pool_labels = torch.as_tensor(pool_labels, dtype=torch.int64)
    rows = pairgan.source_rows(labels, pool_labels, g)
    if (rows < 0).any():
        raise ValueError(f"the {probe} probe needs every label in the pool")
    partners = partner_rows(rows, labels, pool_labels, g)
    return tuple(provider._as_batch([pool[i] for i in picked.tolist()]) for picked in (rows, partners))


@torch.no_grad()
def morphs(source: torch.Tensor, target: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """uint8 in-between shapes: each ``source`` (uint8 N×1×H×W) warped by a fraction t ~ U(0, 1) of its field
    onto ``target``. Equal (source, target) pairs are registered once."""
    key = torch.cat([source.flatten(1), target.flatten(1)], 1)
    unique, inverse = torch.unique(key, dim=0, return_inverse=True)
    n = source[0].numel()
    as_float = lambda x: x.float().view(-1, *source.shape[1:]) / 127.5 - 1.0  # noqa: E731
    fields = register(as_float(unique[:, :n]), as_float(unique[:, n:]))[inverse]
    t = torch.rand(len(source), generator=g).view(-1, 1, 1, 1)
    moved = pairgan.warp(as_float(source), t * fields, None, None)
    return ((moved.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def morph_probe(mode: str) -> None:
    """Patch ``Provider.synthesize`` for ``--morph only`` (morphs instead of the pair GAN's variants) or ``--morph
    pair`` (the pair GAN varies the morphs); the label-conditioned GAN of the mix and all training are untouched."""
    import ganaug.provider as provider_module

    def synthesize(self, labels, pool, pool_labels, seed, batch_size=256):
        if not self.image_conditioned:
            return self.sample(labels, seed=seed, batch_size=batch_size)
        g = torch.Generator().manual_seed(int(seed))
        made = morphs(*sources_and_partners(self, labels, pool, pool_labels, g, "--morph"), g)
        if mode == "only":
            return made
        z_seed = int(torch.randint(2**62, (1,), generator=g))
        return pairgan.vary(self.generator, made, torch.Generator().manual_seed(z_seed), batch_size)

    provider_module.Provider.synthesize = synthesize


def morph_grid(gan_dir: str, out: str, per_row: int = 10, seed: int = 0) -> None:
    """For each rare digit 5-9 of a pair GAN folder's stored images: its real images, then ``per_row`` morphs
    between two of them (one row), then the pair GAN's variants of those morphs (a second row), to ``out`` (PNG)."""
    from torchvision.utils import save_image

    from ganaug.provider import load_provider

    prov = load_provider(gan_dir)
    images, labels = prov.exemplars
    rows = []
    for c in range(5, 10):
        x = images[labels == c]
        g = torch.Generator().manual_seed(seed + c)
        src = torch.randint(len(x), (per_row,), generator=g)
        same = torch.zeros(per_row, dtype=torch.long)
        partner = partner_rows(src, same, torch.zeros(len(x), dtype=torch.long), g)
        made = morphs(x[src], x[partner], g)
        varied = pairgan.vary(prov.generator, made, g)
        rows += [torch.cat([x, made]), torch.cat([x, varied])]
    save_image(torch.cat(rows).float() / 255, out, nrow=len(rows[0]), padding=1)


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3:
        sys.exit("usage: python benchmarks/morph.py PAIR_GAN_DIR OUT.png  (the rare digits' morphs, see morph_grid)")
    morph_grid(*sys.argv[1:])
