"""The image-conditioned pair GAN (``arch = "pair"``): a generator that varies a real image within its class.

G(z, x) maps a real image x and noise z to a deformed copy of x: a smooth displacement field on a coarse
7×7 grid (tanh-bounded to 3/28 of the side, upsampled bicubically), a bounded global affine and a bounded
stroke-thickness change (x blended with its 3×3 dilation or erosion), applied with one ``grid_sample``. The
label is kept by construction: G can only move and thicken the strokes of x. With ``redraw`` > 0 it may also
repaint pixels near x's strokes before the warp (a bounded residual, masked to within 2 px of the ink), so it
can thin, break or extend a stroke as well; the background stays untouched.

D(x', x) is a pair discriminator: it sees two *different* real images of one class as real and
(G(z, x), x) as fake, so G must learn how images of a class vary, not copy x (real pairs are never
identical). D is trained on pairs of the data-rich classes only (``teaching_classes``): what G then does to a
rare class's few images is learned from the rich ones. That transfer is what the label-conditioned GAN cannot
do (benchmarks/results/ABLATIONS.md, "Transfer through an image-conditioned pair GAN").

Both networks keep the library's interface, G(z, condition) and D(images, condition), with the source image
as the condition instead of a label, so one training loop (``ganaug.train``) and one objective
(``ganaug.losses``) serve both kinds.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ._images import generated_to_uint8
from .deform import random_affine
from .errors import ConfigError

if TYPE_CHECKING:
    from .config import ModelConfig, TrainConfig
    from .data import ImageSpec, LabelledImages

GRID = 7  # the displacement field's grid (K×K control points), upsampled to the image
FIELD_BOUND = 3.0 / 28  # largest displacement per control point, as a share of the image side (3 px at 28 px)
AFF_DEG, AFF_LOGSCALE, AFF_SHEAR, AFF_SHIFT = 15.0, 0.15, 0.3, 2.0 / 28  # bounds of the global affine
# D's real partner goes through a near-identity affine too, so the resampling blur of G's warp is no cue
PARTNER_AFFINE = dict(degrees=3.0, translate=0.03, scale=(0.97, 1.03))


def warp(x: torch.Tensor, field: torch.Tensor | None, aff: torch.Tensor | None, t: torch.Tensor | None) -> torch.Tensor:
    """Thickness ``t`` (N, in [-1, 1]: dilation above 0, erosion below), then the global affine ``aff`` (N×6 in
    [-1, 1]: rotation, log-scale x and y, shear, shift x and y) plus the coarse displacement ``field`` (N×2×K×K,
    in pixels), with one ``grid_sample``. ``x`` in [-1, 1] with a dark (-1) background; ``None`` parts are off."""
    n, _, h, w = x.shape
    if t is not None:
        dil = F.max_pool2d(x, 3, 1, 1)
        ero = -F.max_pool2d(-x, 3, 1, 1)
        tt = t.view(n, 1, 1, 1)
        x = x + tt.clamp(min=0) * (dil - x) + (-tt).clamp(min=0) * (ero - x)
    if aff is not None:
        ang = aff[:, 0] * math.radians(AFF_DEG)
        sx, sy = torch.exp(aff[:, 1] * AFF_LOGSCALE), torch.exp(aff[:, 2] * AFF_LOGSCALE)
        sh = aff[:, 3] * AFF_SHEAR
        tx, ty = aff[:, 4] * AFF_SHIFT * 2, aff[:, 5] * AFF_SHIFT * 2  # affine_grid spans 2 units per side
        c, s = torch.cos(ang), torch.sin(ang)
        row1 = torch.stack([c * sx, (c * sh - s) * sy, tx], 1)  # output → input coordinates: rotation·shear·scale
        row2 = torch.stack([s * sx, (s * sh + c) * sy, ty], 1)
        theta = torch.stack([row1, row2], 1)
    else:
        theta = torch.eye(2, 3, device=x.device, dtype=x.dtype).unsqueeze(0).expand(n, 2, 3)
    grid = F.affine_grid(theta, [n, x.shape[1], h, w], align_corners=False)
    if field is not None:
        f = F.interpolate(field, size=(h, w), mode="bicubic", align_corners=False)
        f = f * torch.tensor([2.0 / w, 2.0 / h], device=x.device, dtype=f.dtype).view(1, 2, 1, 1)
        grid = grid + f.permute(0, 2, 3, 1)
    return F.grid_sample(x + 1, grid, align_corners=False, padding_mode="zeros") - 1


class PairGenerator(nn.Module):
    """G(z, x): bounded warp parameters from an encoding of x and z; returns x warped (same shape, [-1, 1])."""

    def __init__(self, spec: ImageSpec, cfg: ModelConfig) -> None:
        super().__init__()
        self.spec, self.cfg = spec, cfg
        w, z = cfg.g_width, cfg.z_dim
        self.bound_px = FIELD_BOUND * max(spec.height, spec.width)
        self.enc = nn.Sequential(
            nn.Conv2d(spec.channels, w, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * w, 2 * w, 3, 1, 1),
            nn.LeakyReLU(0.2),
        )
        self.zmap = nn.Linear(z, 2 * w * GRID * GRID)
        self.field = nn.Sequential(nn.Conv2d(4 * w, 2 * w, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(2 * w, 2, 3, 1, 1))
        self.glob = nn.Sequential(nn.Linear(2 * w + z, 128), nn.LeakyReLU(0.2), nn.Linear(128, 7))
        # the affine starts at the identity; the thickness weight starts just off 0, the kink of its two clamps,
        # where it would get no gradient and stay off
        nn.init.zeros_(self.glob[-1].weight)
        nn.init.zeros_(self.glob[-1].bias)
        with torch.no_grad():
            self.glob[-1].weight[6].normal_(0, 0.05)
        self.stroke: nn.Module | None = None
        if cfg.redraw:
            # the redraw head: the joint encoding upsampled to a residual image; it starts at zero (warp only)
            self.stroke = nn.Sequential(
                nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1),
                nn.LeakyReLU(0.2),
                nn.ConvTranspose2d(2 * w, w, 4, 2, 1),
                nn.LeakyReLU(0.2),
                nn.Conv2d(w, spec.channels, 3, 1, 1),
            )
            nn.init.zeros_(self.stroke[-1].weight)
            nn.init.zeros_(self.stroke[-1].bias)

    def encode(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """x's encoding on the field's GRID×GRID grid with z's map beside it (channels: x's, then z's)."""
        h = self.enc(x)
        if h.shape[-2:] != (GRID, GRID):
            h = F.adaptive_avg_pool2d(h, GRID)
        return torch.cat([h, self.zmap(z).view(len(z), -1, GRID, GRID)], 1)

    def params(
        self, z: torch.Tensor, x: torch.Tensor, joint: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The warp of each x: displacement field (pixels), affine and thickness parameters (from ``joint``,
        ``encode(z, x)``, where the caller has it already)."""
        joint = self.encode(z, x) if joint is None else joint
        f = self.field(joint)
        h = joint[:, : 2 * self.cfg.g_width]  # x's channels
        g = torch.tanh(self.glob(torch.cat([h.mean((2, 3)), z], 1)))
        return torch.tanh(f) * self.bound_px, g[:, :6], g[:, 6]

    def redrawn(self, x: torch.Tensor, joint: torch.Tensor) -> torch.Tensor:
        """x with G's residual (``cfg.redraw`` × tanh, in [-1, 1] units) painted where x has ink within 2 px."""
        r = F.interpolate(self.stroke(joint), size=x.shape[-2:], mode="bilinear", align_corners=False)
        near = F.max_pool2d((x + 1) / 2, 5, 1, 2)
        return (x + self.cfg.redraw * near * torch.tanh(r)).clamp(-1, 1)

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.stroke is None:
            return warp(x, *self.params(z, x))
        joint = self.encode(z, x)
        return warp(self.redrawn(x, joint), *self.params(z, x, joint))


class PairDiscriminator(nn.Module):
    """D(x', x): the two images stacked as channels, a spectral-norm CNN, one logit (higher for a real pair)."""

    def __init__(self, spec: ImageSpec, cfg: ModelConfig) -> None:
        super().__init__()
        self.spec, self.cfg = spec, cfg
        d = cfg.d_width
        h, w = spec.height // 4, spec.width // 4  # two 4×4 stride-2 pad-1 convolutions halve twice
        h, w = (h - 1) // 2 + 1, (w - 1) // 2 + 1  # then a 3×3 stride-2 pad-1 one
        self.net = nn.Sequential(
            spectral_norm(nn.Conv2d(2 * spec.channels, d, 4, 2, 1)),
            nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(d, 2 * d, 4, 2, 1)),
            nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(2 * d, 4 * d, 3, 2, 1)),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            spectral_norm(nn.Linear(4 * d * h * w, 1)),
        )

    def forward(self, images: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([sources, images], 1)).squeeze(1)


def teaching_classes(counts: list[int]) -> list[int]:
    """The classes whose pairs train the pair GAN: those with at least half as many images as the largest
    class (and at least 2). At 90:1 that is the majority classes; with equal classes, all of them."""
    top = max(counts, default=0)
    return [c for c, n in enumerate(counts) if n >= max(2, top / 2)]


class PairBatches:
    """Training pairs in [-1, 1]: a teaching class uniformly, then two different images of it; returns (partner,
    source): D's real pair is (partner, source), G varies the source. The partner gets ``PARTNER_AFFINE``."""

    def __init__(self, data: LabelledImages, batch_size: int) -> None:
        self.images, self.batch_size = data.images, batch_size
        self.classes = teaching_classes(data.class_counts())
        self.by_class = [torch.nonzero(data.labels == c).flatten() for c in self.classes]

    def draw(self, g: torch.Generator, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.batch_size
        pick = torch.randint(len(self.classes), (n,), generator=g)
        i, j = torch.empty(n, dtype=torch.long), torch.empty(n, dtype=torch.long)
        for k, rows in enumerate(self.by_class):
            m = pick == k
            count = int(m.sum())
            if count:
                a = torch.randint(len(rows), (count,), generator=g)
                b = (a + 1 + torch.randint(len(rows) - 1, (count,), generator=g)) % len(rows)  # b != a
                i[m], j[m] = rows[a], rows[b]
        source = self.images[i].to(device, torch.float32) / 127.5 - 1.0
        partner = self.images[j].to(device, torch.float32) / 127.5 - 1.0
        return random_affine(partner, g, **PARTNER_AFFINE), source


def source_rows(labels: torch.Tensor, pool_labels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """For each wanted label, a row of the pool with that label, uniformly (with ``g``); -1 where the pool holds
    none. The pair GAN's images are variants of these rows."""
    out = torch.full((len(labels),), -1, dtype=torch.long)
    for c in labels.unique().tolist():
        rows = torch.nonzero(pool_labels == c).flatten()
        m = labels == c
        if len(rows):
            out[m] = rows[torch.randint(len(rows), (int(m.sum()),), generator=g)]
    return out


@torch.no_grad()
def vary(gen: PairGenerator, images: torch.Tensor, g: torch.Generator, batch_size: int = 256) -> torch.Tensor:
    """One variant of each uint8 image N×C×H×W (noise drawn from ``g``), as uint8 on the CPU."""
    n, dev = len(images), next(gen.parameters()).device
    z = torch.randn(n, gen.cfg.z_dim, generator=g)
    out = torch.empty_like(images, dtype=torch.uint8, device="cpu")
    for lo in range(0, n, batch_size):
        x = images[lo : lo + batch_size].to(dev, torch.float32) / 127.5 - 1.0
        y = gen(z[lo : lo + batch_size].to(dev), x)
        out[lo : lo + batch_size] = generated_to_uint8(y)
    return out


def variant_grid(gen: PairGenerator, data: LabelledImages, per_class: int, g: torch.Generator) -> torch.Tensor:
    """uint8 rows for a sample grid: per class present, its first image then ``per_class - 1`` variants of it."""
    present = [c for c in range(data.spec.num_classes) if (data.labels == c).any()]
    first = data.images[torch.stack([torch.nonzero(data.labels == c)[0, 0] for c in present])]
    rows = vary(gen, first.repeat_interleave(per_class, 0), g).view(len(present), per_class, -1)
    rows[:, 0] = first.flatten(1)
    return rows.view(-1, *data.spec.shape)


def check_pair_settings(data: LabelledImages, cfg: TrainConfig) -> None:
    """Refuse training settings the pair GAN cannot honour, before any process starts."""
    if cfg.real_augment:
        raise ConfigError(
            "real_augment does not apply to arch='pair' (D's real partner always gets a small affine); set it to 0"
        )
    if not cfg.class_balanced:
        raise ConfigError(
            "class_balanced=False does not apply to arch='pair': its pairs always draw a teaching class uniformly, "
            "then two images of it; leave class_balanced at True"
        )
    if not teaching_classes(data.class_counts()):
        raise ConfigError(
            f"arch='pair' learns from pairs of images of one class, but no class has 2 images (class counts "
            f"{data.class_counts()}); give it more data or use arch='dcgan'"
        )
