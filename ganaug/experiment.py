"""The splits of a recipe's experiment: training rows (made small or imbalanced on purpose), validation rows
(for every choice: best arms, the gain guard) and test rows (evaluation only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .data import ImageSpec, LabelledImages, detect_columns, load_images, resolve_dataset
from .errors import ConfigError


@dataclass(frozen=True)
class Splits:
    """The data of one recipe run. ``train_ds`` is the training rows as a ``datasets.Dataset`` (what the public
    API augments); ``train``/``val``/``test`` are decoded uint8 images with labels."""

    train_ds: Any
    image_column: str
    label_column: str
    train: LabelledImages
    val: LabelledImages
    test: LabelledImages

    @property
    def spec(self) -> ImageSpec:
        return self.train.spec

    @property
    def minority(self) -> list[int]:
        """Classes with fewer than half the training images of the largest class."""
        counts = self.train.class_counts()
        return [c for c, n in enumerate(counts) if n < 0.5 * max(counts)]


def build_splits(data: Any, experiment: Any) -> Splits:
    """Split the recipe's ``[data]`` source as its ``[experiment]`` section says (seeded by ``experiment.seed``)."""
    pool_ds = resolve_dataset(data.source, data.train_split)
    img_col, lab_col = detect_columns(pool_ds, data.image_column or None, data.label_column or None)
    pool = load_images(pool_ds, img_col, lab_col)
    rng = np.random.default_rng(experiment.seed)
    labels = pool.labels.numpy()
    available = np.arange(len(labels))
    if data.test_split:
        test = load_images(resolve_dataset(data.source, data.test_split), img_col, lab_col)
        if test.spec.shape != pool.spec.shape:
            raise ConfigError(f"test split images are {test.spec.shape}, training images {pool.spec.shape}")
    else:
        test_idx = _stratified(labels, available, rng, fraction=data.test_fraction)
        test = subset(pool, test_idx)
        available = np.setdiff1d(available, test_idx)
    n_cls = pool.spec.num_classes
    if experiment.validation == "pool":
        # set aside validation_per_class rows of every class first; training rows come from the rest
        val_idx = np.concatenate(
            [
                rng.permutation(available[labels[available] == c])[: experiment.validation_per_class]
                for c in range(n_cls)
            ]
        )
        train_idx = _experiment_rows(experiment, labels, np.setdiff1d(available, val_idx), rng, n_cls)
    else:
        train_idx = _experiment_rows(experiment, labels, available, rng, n_cls)
        val_idx = _stratified(labels, train_idx, rng, fraction=experiment.validation_fraction, keep_two=True)
        train_idx = np.setdiff1d(train_idx, val_idx)
    train_idx, val_idx = np.sort(train_idx), np.sort(val_idx)
    return Splits(
        train_ds=pool_ds.select(train_idx.tolist()),
        image_column=img_col,
        label_column=lab_col,
        train=subset(pool, train_idx),
        val=subset(pool, val_idx),
        test=test,
    )


def _experiment_rows(
    e: Any, labels: np.ndarray, available: np.ndarray, rng: np.random.Generator, num_classes: int
) -> np.ndarray:
    if e.kind == "none":
        return available
    rows = []
    for c in range(num_classes):
        idx = rng.permutation(available[labels[available] == c])
        if e.kind == "per_class":
            take = e.per_class
        elif c in e.minority_classes:
            take = e.minority_count
        else:
            take = e.majority_count or len(idx)
        if len(idx) < take:
            raise ConfigError(f"class {c} has {len(idx)} images, the experiment asks for {take}")
        rows.append(idx[:take])
    return np.concatenate(rows)


def subset(li: LabelledImages, idx: np.ndarray) -> LabelledImages:
    """The rows ``idx`` of ``li``."""
    t = torch.as_tensor(np.asarray(idx, dtype=np.int64))
    return LabelledImages(li.images[t], li.labels[t], li.spec, li.image_column, li.label_column)


def _stratified(
    labels: np.ndarray, rows: np.ndarray, rng: np.random.Generator, fraction: float, keep_two: bool = False
) -> np.ndarray:
    """A per-class ``fraction`` of ``rows`` (at least one per class that has enough rows)."""
    out = []
    for c in np.unique(labels[rows]):
        idx = rng.permutation(rows[labels[rows] == c])
        n = int(round(fraction * len(idx)))
        if fraction > 0 and n == 0 and len(idx) >= (3 if keep_two else 2):
            n = 1
        if keep_two:
            n = min(n, max(len(idx) - 2, 0))  # the training side keeps at least 2 images of every class
        out.append(idx[:n])
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
