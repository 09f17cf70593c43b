"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) for data-efficient GAN training.

The same random transform family is applied to real and fake images before D sees them, so D cannot
memorise a handful of real images while gradients still flow to G. All randomness comes from the
``torch.Generator`` passed in, which keeps training bit-reproducible and resumable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import ConfigError

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy: str) -> tuple[str, ...]:
    """``"translation,cutout"`` → ``("translation", "cutout")``; empty string → no augmentation."""
    parts = tuple(p.strip() for p in policy.split(",") if p.strip())
    bad = [p for p in parts if p not in POLICIES]
    if bad:
        raise ConfigError(f"unknown DiffAugment policy {bad}; allowed: {list(POLICIES)} joined by commas")
    return parts


def diff_augment(x: torch.Tensor, policy: tuple[str, ...], gen: torch.Generator) -> torch.Tensor:
    """Apply each transform of ``policy`` to the batch ``x`` (N×C×H×W in [-1, 1])."""
    for name in policy:
        x = _OPS[name](x, gen)
    return x


def _rand(gen: torch.Generator, *shape: int, device: torch.device) -> torch.Tensor:
    return torch.rand(*shape, generator=gen).to(device)


def _color(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    x = x + (_rand(gen, n, 1, 1, 1, device=x.device) - 0.5)  # brightness
    if x.shape[1] == 3:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (_rand(gen, n, 1, 1, 1, device=x.device) * 2) + mean  # saturation
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (_rand(gen, n, 1, 1, 1, device=x.device) + 0.5) + mean  # contrast


def _translation(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (n, 1, 1), generator=gen).to(x.device)
    tx = torch.randint(-sw, sw + 1, (n, 1, 1), generator=gen).to(x.device)
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    gy = torch.clamp(gy[None] + ty + 1, 0, h + 1)
    gx = torch.clamp(gx[None] + tx + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1], value=-1.0)  # background of [-1, 1] images
    idx = (gy * (w + 2) + gx).view(n, 1, h * w).expand(-1, x.shape[1], -1)
    return padded.flatten(2).gather(2, idx).view_as(x)


def _cutout(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), generator=gen).to(x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), generator=gen).to(x.device)
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    inside = ((gy[None] >= oy - ch // 2) & (gy[None] < oy - ch // 2 + ch)) & (
        (gx[None] >= ox - cw // 2) & (gx[None] < ox - cw // 2 + cw)
    )
    return torch.where(inside[:, None], torch.full_like(x, -1.0), x)


_OPS = {"color": _color, "translation": _translation, "cutout": _cutout}
