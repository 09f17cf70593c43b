"""The GAN objective in one place: the adversarial losses and the optional terms of D and G.

``discriminator_loss`` and ``generator_loss`` are what the training loop calls once per step; a new loss term
is a function here, a weight in ``TrainConfig`` and one line in one of these two functions.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .config import TrainConfig

InputTransform = Callable[[torch.Tensor], torch.Tensor]  # what D's inputs go through (DiffAugment or identity)


def discriminator_loss(
    cfg: TrainConfig,
    disc: nn.Module,
    real: torch.Tensor,
    y_real: torch.Tensor,
    fake: torch.Tensor,
    y_fake: torch.Tensor,
    augment: InputTransform,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """D's loss on a real and a generated batch (``fake`` detached by the caller); returns it and D's logits
    on both batches (for logging)."""
    d_in = real.detach().requires_grad_(True) if cfg.r1 else real  # R1 differentiates D at the real images
    d_real = disc(augment(d_in), y_real)
    d_fake = disc(augment(fake), y_fake)
    loss = adversarial_d(cfg.loss, d_real, d_fake)
    if cfg.r1:
        loss = loss + cfg.r1 * r1_penalty(d_real, d_in)
    return loss, d_real, d_fake


def generator_loss(
    cfg: TrainConfig,
    disc: nn.Module,
    fake: torch.Tensor,
    y_fake: torch.Tensor,
    z: torch.Tensor,
    augment: InputTransform,
) -> torch.Tensor:
    """G's loss on its batch ``fake = G(z, y_fake)``."""
    loss = adversarial_g(cfg.loss, disc(augment(fake), y_fake))
    if cfg.mode_seeking:
        loss = loss + cfg.mode_seeking * mode_seeking(fake, z, len(z) // 2)
    return loss


def paired_labels(y: torch.Tensor) -> torch.Tensor:
    """Labels for G's batch under mode seeking: rows ``i`` and ``i + half`` share a label (and differ in z)."""
    half = len(y) // 2
    return torch.cat([y[:half], y[:half], y[2 * half :]])


def adversarial_d(kind: str, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    d_real, d_fake = d_real.float(), d_fake.float()
    if kind == "hinge":
        return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()  # BCE with logits, real=1 fake=0


def adversarial_g(kind: str, d_fake: torch.Tensor) -> torch.Tensor:
    d_fake = d_fake.float()
    if kind == "hinge":
        return -d_fake.mean()
    return F.softplus(-d_fake).mean()  # non-saturating: maximise log D(G(z))


def r1_penalty(d_real: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1 penalty (Mescheder et al., 2018): half the squared norm of D's gradient at the real images.

    A flat D around the few real images of a class cannot single them out as sharply, which slows
    memorisation; ``real`` must have had ``requires_grad`` set before D saw it."""
    (grad,) = torch.autograd.grad(d_real.float().sum(), real, create_graph=True)
    return 0.5 * grad.float().pow(2).flatten(1).sum(1).mean()


def mode_seeking(fake: torch.Tensor, z: torch.Tensor, half: int) -> torch.Tensor:
    """MSGAN term (Mao et al., 2019): the inverse of how far apart two samples of one label are, per unit of z.

    Rows ``i`` and ``i + half`` of ``fake`` share a label; minimising this spreads a label's samples.
    """
    a, b = fake[:half].float(), fake[half : 2 * half].float()
    ratio = (a - b).abs().flatten(1).mean(1) / (z[:half] - z[half : 2 * half]).abs().mean(1)
    return 1.0 / (ratio.mean() + 1e-5)
