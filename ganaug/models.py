"""Generators and discriminators, sized from an ``ImageSpec``.

Two families share one interface (``G(z, labels)`` → images in [-1, 1], ``D(images, labels)`` → logits):

* ``"dcgan"`` (default): a plain conditional DCGAN. G joins a label embedding to z, D gets label maps
  concatenated to its input; BatchNorm in both, LeakyReLU in D. It won a CPU-budget calibration probe by a
  wide margin (CAS 0.94 vs 0.71), so it is the default for small images.
* ``"projection"``: conditional BatchNorm in G, spectral norm and a projection head in D, for the hinge loss
  and DiffAugment. The usual choice for long GPU runs.
* ``"pair"``: the image-conditioned pair GAN of ``ganaug.pair``, with a source image where the others take a
  label: ``G(z, x)`` varies a real image x within its class, ``D(x', x)`` judges pairs of one class.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .config import ARCHS, Arch, ModelConfig  # noqa: F401  (ModelConfig is imported from here too)
from .data import ImageSpec


def _stages(spec: ImageSpec) -> tuple[int, int, int]:
    """Number of ×2 upsampling stages and the starting size, so the start is at most 7 px per side."""
    n = max(1, math.ceil(math.log2(max(spec.height, spec.width) / 7)))
    return n, math.ceil(spec.height / 2**n), math.ceil(spec.width / 2**n)


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm whose scale and shift come from the label (used by the projection generator)."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.Embedding(num_classes, channels)
        self.beta = nn.Embedding(num_classes, channels)
        nn.init.ones_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.gamma(y), self.beta(y)
        return self.bn(x) * gamma[:, :, None, None] + beta[:, :, None, None]


class Generator(nn.Module):
    """Maps (z, label) to an image in [-1, 1] of the spec's shape."""

    def __init__(self, spec: ImageSpec, cfg: ModelConfig) -> None:
        super().__init__()
        self.spec, self.cfg = spec, cfg
        n, self.h0, self.w0 = _stages(spec)
        widths = [cfg.g_width * 2 ** (n - i) for i in range(n + 1)]  # e.g. [64, 32] ... per stage
        self.embed = nn.Embedding(spec.num_classes, cfg.label_dim)
        self.fc = nn.Linear(cfg.z_dim + cfg.label_dim, widths[0] * self.h0 * self.w0, bias=False)
        self.conditional_bn = cfg.arch == "projection"
        norm = (lambda c: ConditionalBatchNorm2d(c, spec.num_classes)) if self.conditional_bn else nn.BatchNorm2d
        self.fc_norm = norm(widths[0])
        self.ups = nn.ModuleList()
        self.norms = nn.ModuleList()
        for i in range(n):
            last = i == n - 1
            out = spec.channels if last else widths[i + 1]
            self.ups.append(nn.ConvTranspose2d(widths[i], out, 4, 2, 1, bias=last))
            if not last:
                self.norms.append(norm(out))
        self.act = nn.ReLU(inplace=True)
        _init_weights(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        x = self.fc(torch.cat([z, self.embed(labels)], dim=1)).view(z.shape[0], -1, self.h0, self.w0)
        x = self.act(self._norm(self.fc_norm, x, labels))
        for i, up in enumerate(self.ups):
            x = up(x)
            if i < len(self.norms):
                x = self.act(self._norm(self.norms[i], x, labels))
        x = torch.tanh(x)
        if x.shape[-2:] != (self.spec.height, self.spec.width):  # sizes that are not a multiple of 2**n
            top = (x.shape[-2] - self.spec.height) // 2
            left = (x.shape[-1] - self.spec.width) // 2
            x = x[..., top : top + self.spec.height, left : left + self.spec.width]
        return x

    def _norm(self, norm: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return norm(x, labels) if self.conditional_bn else norm(x)


class Discriminator(nn.Module):
    """Scores (image, label) pairs: a logit per image, higher for real."""

    def __init__(self, spec: ImageSpec, cfg: ModelConfig) -> None:
        super().__init__()
        self.spec, self.cfg = spec, cfg
        self.projection = cfg.arch == "projection"
        n, _, _ = _stages(spec)
        sn = spectral_norm if self.projection else (lambda m: m)
        in_ch = spec.channels
        if not self.projection:
            self.label_maps = nn.Embedding(spec.num_classes, cfg.label_dim)
            in_ch += cfg.label_dim
        self.features, self.flat = _downsampling(spec, in_ch, cfg.d_width, n, sn, batchnorm=not self.projection)
        self.head = sn(nn.Linear(self.flat, 1))
        if self.projection:
            self.class_embed = sn(nn.Embedding(spec.num_classes, self.flat))
        _init_weights(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if not self.projection:
            emb = self.label_maps(labels)
            x = torch.cat([x, emb[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])], dim=1)
        h = self.features(x).flatten(1)
        out = self.head(h).squeeze(1)
        if self.projection:
            out = out + (self.class_embed(labels) * h).sum(dim=1)
        return out


def _downsampling(
    spec: ImageSpec, in_ch: int, width: int, n: int, wrap: Any, batchnorm: bool
) -> tuple[nn.Sequential, int]:
    """``n`` stride-2 4×4 convolutions doubling the width (DCGAN discriminator body); BatchNorm after all but
    the first when ``batchnorm``, biases only where no BatchNorm follows. Returns it and its flattened size."""
    layers: list[nn.Module] = []
    for i in range(n):
        layers.append(wrap(nn.Conv2d(in_ch, width, 4, 2, 1, bias=i == 0 or not batchnorm)))
        if i > 0 and batchnorm:
            layers.append(nn.BatchNorm2d(width))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
        in_ch, width = width, width * 2
    h, w = spec.height, spec.width
    for _ in range(n):
        h, w = h // 2, w // 2  # a 4×4 stride-2 pad-1 conv halves, rounding down
    return nn.Sequential(*layers), in_ch * h * w


def _init_weights(module: nn.Module) -> None:
    """DCGAN initialisation: N(0, 0.02) for conv/linear weights, N(1, 0.02) for BatchNorm scales."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def build_generator(spec: ImageSpec, cfg: ModelConfig) -> nn.Module:
    if cfg.arch == "pair":
        from .pair import PairGenerator

        return PairGenerator(spec, cfg)
    return Generator(spec, cfg)


def build_discriminator(spec: ImageSpec, cfg: ModelConfig) -> nn.Module:
    if cfg.arch == "pair":
        from .pair import PairDiscriminator

        return PairDiscriminator(spec, cfg)
    return Discriminator(spec, cfg)


def generator_flops_per_sample(gen: Generator) -> int:
    """Multiply-adds ×2 of one forward pass of ``gen`` (linear and transposed-conv layers)."""
    flops = 2 * gen.fc.in_features * gen.fc.out_features
    h, w = gen.h0, gen.w0
    for up in gen.ups:
        # a 4×4 stride-2 transposed conv: each output pixel receives 2×2 kernel taps per input channel
        h, w = h * 2, w * 2
        flops += 2 * h * w * up.out_channels * up.in_channels * 4
    return flops
