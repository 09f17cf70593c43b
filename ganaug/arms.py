"""The comparison arms of a recipe, as data: one ``Arm`` entry per arm says which rows the classifier trains on,
how they are drawn, and which classical augmentation they get. A new arm is one entry in ``ARMS``; the runner,
the statistics, the report and the benchmarks read what an arm means from here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import torch

from .classify import ClassifierConfig
from .data import LabelledImages
from .errors import ConfigError


@dataclass(frozen=True)
class Arm:
    """What one arm's classifier trains on."""

    name: str
    synthetic: Literal["none", "plain", "filtered"] = "none"  # GAN rows added: none, as drawn, or judge-filtered
    # random affine; affine + elastic distortion; random stroke width, then affine + elastic
    augmentation: Literal["none", "classical", "elastic", "stroke"] = "none"
    draws: Literal["uniform", "class_balanced"] = "uniform"  # real-only arms: rows drawn alike or per class
    class_weighted: bool = False  # loss weighted by inverse class frequency
    resampler: Literal["none", "smote"] = "none"  # imbalanced-learn resampling of the real rows

    @property
    def uses_gan(self) -> bool:
        return self.synthetic != "none"


ARMS: dict[str, Arm] = {
    a.name: a
    for a in (
        Arm("real"),
        Arm("oversample", draws="class_balanced"),
        Arm("class_weighted", class_weighted=True),
        Arm("smote", resampler="smote"),
        Arm("classical", augmentation="classical", draws="class_balanced"),
        Arm("elastic", augmentation="elastic", draws="class_balanced"),
        Arm("stroke", augmentation="stroke", draws="class_balanced"),
        Arm("gan", synthetic="plain"),
        Arm("gan+classical", synthetic="plain", augmentation="classical"),
        Arm("gan+elastic", synthetic="plain", augmentation="elastic"),
        Arm("gan+stroke", synthetic="plain", augmentation="stroke"),
        Arm("gan+filter", synthetic="filtered"),
    )
}
GAN_ARMS = tuple(name for name, arm in ARMS.items() if arm.uses_gan)


def uses_gan(name: str) -> bool:
    """Whether the arm ``name`` trains on synthetic rows."""
    return ARMS[name].uses_gan


def classifier_inputs(
    arm: Arm,
    base: ClassifierConfig,
    real: LabelledImages,
    synthetic: LabelledImages | None = None,
    *,
    elastic: float = 1.0,
    synthetic_weight: float = 1.0,
    real_share: float = 0.0,
    fresh_sampler: Callable[[torch.Tensor, int], torch.Tensor] | None = None,
) -> dict[str, Any]:
    """The keyword arguments of ``train_classifier`` for ``arm``: rows, labels, sampling weights and config.

    ``base`` holds the budget and seed; ``synthetic`` the GAN rows of a GAN arm; ``elastic`` the strength of the
    elastic and stroke arms' distortion; ``synthetic_weight`` and ``real_share`` how GAN arms draw their rows; with
    ``fresh_sampler(labels, seed)``, GAN arms with plain rows get new samples at every step."""
    cfg = replace(
        base,
        augment=arm.augmentation != "none",
        elastic=elastic if arm.augmentation in ("elastic", "stroke") else 0.0,
        stroke=arm.augmentation == "stroke",
        class_weighted=arm.class_weighted,
    )
    if arm.resampler == "smote":
        images, labels = smote(real, seed=base.seed)
        return {"images": images, "labels": labels, "cfg": cfg}
    if not arm.uses_gan:
        weights = balanced_weights(real.labels, real.spec.num_classes) if arm.draws == "class_balanced" else None
        return {"images": real.images, "labels": real.labels, "cfg": cfg, "sample_weight": weights}
    if synthetic is None:
        raise ConfigError(f"the arm {arm.name!r} needs synthetic rows")
    labels = torch.cat([real.labels, synthetic.labels])
    weights = torch.cat([torch.ones(len(real)), torch.full((len(synthetic),), synthetic_weight)]).double()
    if real_share:
        weights = split_class_mass(weights, labels, len(real), real_share, real.spec.num_classes)
    inputs = {
        "images": torch.cat([real.images, synthetic.images]),
        "labels": labels,
        "cfg": cfg,
        "sample_weight": weights,
    }
    if fresh_sampler is not None and arm.synthetic == "plain":
        inputs["fresh_mask"] = torch.cat(
            [torch.zeros(len(real), dtype=torch.bool), torch.ones(len(synthetic), dtype=torch.bool)]
        )
        inputs["fresh_sampler"] = fresh_sampler
    return inputs


def balanced_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per row 1 / (rows of its class): draws uniform over classes (random oversampling)."""
    counts = torch.bincount(labels, minlength=num_classes).double().clamp_min(1)
    return 1.0 / counts[labels]


def smote(real: LabelledImages, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """imbalanced-learn's SMOTE on the flattened images: every class filled to the largest."""
    from imblearn.over_sampling import SMOTE

    min_count = min(n for n in real.class_counts() if n > 0)
    if min_count < 2:
        raise ConfigError("the smote arm needs at least 2 images in every class")
    x = real.images.flatten(1).numpy().astype(np.float32)
    xr, yr = SMOTE(k_neighbors=min(5, min_count - 1), random_state=seed).fit_resample(x, real.labels.numpy())
    images = torch.from_numpy(np.clip(np.rint(xr), 0, 255).astype(np.uint8)).view(-1, *real.spec.shape)
    return images, torch.from_numpy(yr.astype(np.int64))


def split_class_mass(
    weights: torch.Tensor, labels: torch.Tensor, n_real: int, real_share: float, num_classes: int
) -> torch.Tensor:
    """Re-split each class's sampling mass: ``real_share`` of it to its real rows (the first ``n_real``), the
    rest to its synthetic rows, each side uniform. A class's total mass is kept; a class with rows on one
    side only keeps them as they were."""
    out = weights.clone()
    is_real = torch.arange(len(labels)) < n_real
    for c in range(num_classes):
        in_c = labels == c
        real_c, synth_c = in_c & is_real, in_c & ~is_real
        if not real_c.any() or not synth_c.any():
            continue
        mass = weights[in_c].sum()
        out[real_c] = mass * real_share / real_c.sum()
        out[synth_c] = mass * (1 - real_share) / synth_c.sum()
    return out
