"""Label-preserving deformations of image batches in [-1, 1], shared by the GAN (``real_augment``) and the
downstream classifier (the ``classical`` and ``elastic`` arms): one module, so both see the same warps."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["affine_some", "random_affine", "random_stroke_width"]


def random_affine(
    x: torch.Tensor,
    g: torch.Generator,
    degrees: float = 10.0,
    translate: float = 0.1,
    scale: tuple[float, float] = (0.9, 1.1),
    elastic: float = 0.0,
) -> torch.Tensor:
    """Per-image random affine (the parameters of ``torchvision.transforms.v2.RandomAffine``), batched.

    With ``elastic`` > 0, a smooth random displacement field (Simard et al., 2003: uniform noise smoothed by a
    Gaussian of sigma 4 px at 28 px, proportionally at other sizes) whose typical shift is ``elastic`` pixels
    is added to the same sampling grid, so both warps cost one resampling."""
    n = x.shape[0]
    ang = (torch.rand(n, generator=g) * 2 - 1) * math.radians(degrees)
    sc = torch.empty(n).uniform_(scale[0], scale[1], generator=g)
    tx = (torch.rand(n, generator=g) * 2 - 1) * translate * 2  # affine_grid coordinates span 2 units
    ty = (torch.rand(n, generator=g) * 2 - 1) * translate * 2
    cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1).to(x)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if elastic:
        grid = grid + _elastic_field(x.shape, g, elastic).to(grid)
    return F.grid_sample(x + 1, grid, align_corners=False, padding_mode="zeros") - 1  # background stays -1


def _elastic_field(shape: torch.Size, g: torch.Generator, pixels: float) -> torch.Tensor:
    """N×H×W×2 displacements in ``affine_grid`` units (2 units per side) whose standard deviation per image is
    ``pixels`` pixels: uniform noise smoothed by a separable Gaussian."""
    n, _, h, w = shape
    sigma = 4.0 * max(h, w) / 28
    r = max(1, int(2 * sigma))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float32) / sigma) ** 2)
    k = k / k.sum()
    noise = torch.rand(n * 2, 1, h, w, generator=g) * 2 - 1
    noise = F.conv2d(noise, k.view(1, 1, 1, -1), padding=(0, r))
    noise = F.conv2d(noise, k.view(1, 1, -1, 1), padding=(r, 0)).reshape(n, 2, h, w)
    noise = noise / noise.flatten(1).std(1).clamp_min(1e-6).view(n, 1, 1, 1)
    to_grid = torch.tensor([2.0 / w, 2.0 / h]).view(1, 2, 1, 1)
    return (noise * to_grid * pixels).permute(0, 2, 3, 1)


def affine_some(x: torch.Tensor, share: float, g: torch.Generator) -> torch.Tensor:
    """``random_affine`` on about ``share`` of the images (drawn with ``g``), the others untouched.

    The GAN's ``real_augment`` gives it to D's real images only, so G learns to draw the transformed digits:
    deliberate leakage of a label-preserving transformation, to widen what G draws from a few images."""
    pick = torch.rand(x.shape[0], generator=g) < share
    if not pick.any():
        return x
    out = x.clone()
    idx = pick.nonzero().flatten().to(x.device)
    out[idx] = random_affine(x[idx], g)
    return out


def random_stroke_width(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """A third of the images get thicker strokes (3×3 grey dilation), a third thinner ones (3×3 grey erosion),
    a third stay as they are; images in [-1, 1] with a dark (-1) background and bright strokes."""
    pick = torch.randint(3, (x.shape[0],), generator=g).to(x.device)
    thick = F.max_pool2d(x, 3, stride=1, padding=1)
    thin = -F.max_pool2d(-x, 3, stride=1, padding=1)
    out = torch.where((pick == 1).view(-1, 1, 1, 1), thick, x)
    return torch.where((pick == 2).view(-1, 1, 1, 1), thin, out)
