"""The downstream classifier: a small CNN trained with Lightning Fabric on a fixed step budget, and its
evaluation with scikit-learn metrics. Every arm of a recipe or benchmark uses it with the same budget."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_int, check_off_or_up_to
from .deform import random_affine, random_stroke_width
from .errors import ConfigError


@dataclass(frozen=True)
class ClassifierConfig:
    """Budget and options of the downstream CNN."""

    steps: int = 1000  # optimisation steps, the same for every arm
    batch_size: int = 64  # images per step
    lr: float = 1e-3  # Adam learning rate (cosine-decayed to 0)
    width: int = 32  # channels of the first conv; the second has twice as many
    augment: bool = False  # classical augmentation: random affine (±10°, ±10 % shift, 0.9-1.1 scale) per image
    elastic: float = 0.0  # with augment: an elastic distortion of this typical shift in pixels on top; 0 = off
    stroke: bool = False  # with augment: random stroke width first (3x3 dilation or erosion, a third each)
    class_weighted: bool = False  # weight the loss by inverse class frequency
    seed: int = 0

    def __post_init__(self) -> None:
        for name, low in (("steps", 1), ("batch_size", 1), ("width", 1), ("seed", 0)):
            check_int(f"classifier {name}", getattr(self, name), low)
        if not isinstance(self.lr, int | float) or not 0 < self.lr < 1:
            raise ConfigError(f"classifier lr must be in (0, 1), got {self.lr!r}")
        check_off_or_up_to("classifier elastic", self.elastic, 5, "pixels")
        if self.elastic and not self.augment:
            raise ConfigError("classifier elastic is part of the classical augmentation; set augment=True as well")
        if self.stroke and not self.augment:
            raise ConfigError("classifier stroke is part of the classical augmentation; set augment=True as well")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SmallCNN(nn.Module):
    """conv-pool-conv-pool-fc: fast on CPU, ~99 % on full MNIST. ``features`` gives the penultimate layer."""

    def __init__(self, channels: int, height: int, width: int, num_classes: int, base: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, base, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(base, 2 * base, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        flat = 2 * base * (height // 4) * (width // 4)
        self.fc = nn.Sequential(nn.Linear(flat, 128), nn.ReLU(inplace=True))
        self.drop = nn.Dropout(0.25)
        self.head = nn.Linear(128, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.features(x)))


def to_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 N×C×H×W → float in [-1, 1]."""
    return images.float().div(127.5).sub(1.0)


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    cfg: ClassifierConfig = ClassifierConfig(),
    sample_weight: torch.Tensor | None = None,
    fresh_mask: torch.Tensor | None = None,
    fresh_sampler: Callable[[torch.Tensor, int], torch.Tensor] | None = None,
    accelerator: str = "cpu",
    progress: bool = False,
) -> SmallCNN:
    """Train ``SmallCNN`` on uint8 ``images`` with int ``labels`` for ``cfg.steps`` steps.

    Batches are drawn with replacement, uniformly or in proportion to ``sample_weight`` (oversampling).
    With ``fresh_mask`` (bool per row) and ``fresh_sampler(labels, seed) -> uint8 images``, every drawn row
    whose mask is True is replaced by a new sample of its label (fresh synthetic data at every step).
    """
    from lightning_fabric import Fabric

    if len(images) != len(labels) or len(images) == 0:
        raise ConfigError(f"need as many labels as images and at least one image, got {len(images)} and {len(labels)}")
    fabric = Fabric(accelerator=accelerator, devices=1, precision="32-true")
    torch.manual_seed(cfg.seed)
    model = SmallCNN(images.shape[1], images.shape[2], images.shape[3], num_classes, cfg.width)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    model, opt = fabric.setup(model, opt)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, cfg.steps) / cfg.steps))
    )
    class_w = None
    if cfg.class_weighted:
        counts = torch.bincount(labels, minlength=num_classes).float().clamp_min(1)
        class_w = (counts.sum() / (num_classes * counts)).to(fabric.device)
    weights = None if sample_weight is None else sample_weight.double()
    g = torch.Generator().manual_seed(cfg.seed)
    model.train()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, desc="train classifier", unit="step", leave=False)
    for _ in range(cfg.steps):
        if weights is None:
            idx = torch.randint(len(labels), (cfg.batch_size,), generator=g)
        else:
            idx = torch.multinomial(weights, cfg.batch_size, replacement=True, generator=g)
        xb, yb = images[idx], labels[idx]
        if fresh_sampler is not None and fresh_mask is not None:
            m = fresh_mask[idx]
            if m.any():
                xb = xb.clone()
                xb[m] = fresh_sampler(yb[m], int(torch.randint(2**62, (1,), generator=g)))
        x = to_input(xb).to(fabric.device)
        if cfg.augment:
            if cfg.stroke:
                x = random_stroke_width(x, g)
            x = random_affine(x, g, elastic=cfg.elastic)
        loss = F.cross_entropy(model(x), yb.to(fabric.device), weight=class_w)
        opt.zero_grad(set_to_none=True)
        fabric.backward(loss)
        opt.step()
        sched.step()
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    module = getattr(model, "module", model)
    return module.eval().cpu()


@torch.inference_mode()
def predict_proba(model: SmallCNN, images: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    model.eval()
    out = [F.softmax(model(to_input(images[i : i + batch_size])), dim=1) for i in range(0, len(images), batch_size)]
    return torch.cat(out) if out else torch.zeros(0, model.head.out_features)


@torch.inference_mode()
def extract_features(model: SmallCNN, images: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    model.eval()
    return torch.cat([model.features(to_input(images[i : i + batch_size])) for i in range(0, len(images), batch_size)])


def evaluate(y_true: np.ndarray | torch.Tensor, y_pred: np.ndarray | torch.Tensor, num_classes: int) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro-F1, per-class recall and the confusion matrix (scikit-learn)."""
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        confusion_matrix,
        f1_score,
        recall_score,
    )

    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    classes = list(range(num_classes))
    return {
        "accuracy": float(accuracy_score(yt, yp)),
        "balanced_accuracy": float(balanced_accuracy_score(yt, yp)),
        "macro_f1": float(f1_score(yt, yp, average="macro", labels=classes, zero_division=0)),
        "per_class_recall": [float(r) for r in recall_score(yt, yp, average=None, labels=classes, zero_division=0)],
        "confusion_matrix": confusion_matrix(yt, yp, labels=classes).tolist(),
    }
