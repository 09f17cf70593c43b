"""``balance``: fill a dataset's classes with synthetic rows, with imbalanced-learn's ``sampling_strategy``
semantics."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from ._checks import check_int
from ._columns import detect_columns
from ._rows import SYNTHETIC_COLUMN, _check_image, images_like
from .errors import ConfigError, ConfigTypeError, DataError, SpecMismatchError
from .provider import Provider, as_provider, counts_to_labels, label_index

STRATEGIES = ("auto", "not majority", "minority", "not minority", "all")


def balance(
    dataset,
    provider: Provider | str | os.PathLike[str] | None = None,
    *,
    label_column: str | None = None,
    image_column: str | None = None,
    sampling_strategy: str | float | Mapping[Any, int] | Callable[[dict[int, int]], Mapping[Any, int]] = "auto",
    seed: int = 0,
    batch_size: int = 1024,
):
    """Return a new dataset: every original row, in order, then synthetic rows that bring classes up to
    the targets of ``sampling_strategy`` (imbalanced-learn semantics).

    ``"auto"``/``"not majority"``: every class but the majority up to the majority count; ``"minority"``:
    only the smallest class; ``"not minority"``, ``"all"``; a float r in (0, 1]: every class up to
    ``r × majority``; a dict ``{label: target total}``; or a callable ``counts -> dict``. Column
    ``synthetic`` marks the new rows; the other columns of new rows are None. With an image-conditioned provider
    (``arch="pair"``) a class's new rows are variants of its own real images.
    """
    import datasets

    if not isinstance(dataset, datasets.Dataset):
        raise ConfigTypeError(f"balance takes a datasets.Dataset, got {type(dataset).__name__}; pick a split first")
    check_int("seed", seed, 0)
    prov = as_provider(provider)
    if len(dataset) == 0:
        raise DataError("the dataset is empty; there are no classes to balance")
    image_col, label_col = detect_columns(dataset, image_column, label_column)
    labels = np.asarray(dataset.with_format("numpy")[label_col])
    if labels.dtype.kind not in "iu":
        raise DataError(f"label column {label_col!r} must hold integers, got dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        bad = int(np.argmin(labels))
        raise DataError(
            f"row {bad} of column {label_col!r} has the label {int(labels[bad])}, datasets' mark of a missing label; "
            "drop those rows first, e.g. ds.filter(lambda ex: ex[col] >= 0)"
        )
    if np.unique(labels).size < 2:
        raise DataError(
            f"column {label_col!r} holds a single class ({int(labels[0])}); balancing needs at least 2 classes"
        )
    prov.check_labels(labels)
    _check_class_names(dataset, label_col, prov)
    _check_image(dataset[0][image_col], prov, f"row 0 of column {image_col!r}")
    counts = {int(c): int(n) for c, n in zip(*np.unique(labels, return_counts=True), strict=True)}
    targets = sampling_targets(counts, sampling_strategy, prov)
    need = {c: t - counts.get(c, 0) for c, t in targets.items() if t > counts.get(c, 0)}
    base = (
        dataset
        if SYNTHETIC_COLUMN in dataset.column_names
        else dataset.add_column(SYNTHETIC_COLUMN, [False] * len(dataset), feature=datasets.Value("bool"))
    )
    if not need:
        return base
    # sampled from the labels, or (image-conditioned provider) variants of each class's own images
    new_labels = counts_to_labels(need, prov.spec)
    images = prov.synthesize(new_labels, _RowImages(dataset, image_col), labels, seed, batch_size)
    return datasets.concatenate_datasets([base, synthetic_rows(base, images, new_labels, image_col, label_col)])


class _RowImages:
    """A dataset's image column, read row by row where indexed (a pair GAN needs only the rows it varies)."""

    def __init__(self, dataset, image_col: str) -> None:
        self.dataset, self.image_col = dataset, image_col

    def __getitem__(self, i: int) -> Any:
        return self.dataset[int(i)][self.image_col]


def synthetic_rows(like, images: torch.Tensor, labels: torch.Tensor, image_col: str, label_col: str):
    """A ``datasets.Dataset`` of synthetic rows with the features of ``like`` (other columns None)."""
    import datasets

    features = like.features.copy()
    if SYNTHETIC_COLUMN not in features:
        features[SYNTHETIC_COLUMN] = datasets.Value("bool")
    n = len(labels)
    first = like[0][image_col] if len(like) else None
    cols: dict[str, list] = {}
    for col in features:
        if col == image_col:
            cols[col] = images_like(images, first)
        elif col == label_col:
            cols[col] = labels.tolist()
        elif col == SYNTHETIC_COLUMN:
            cols[col] = [True] * n
        else:
            cols[col] = [None] * n
    return datasets.Dataset.from_dict(cols, features=features)


def sampling_targets(counts: dict[int, int], strategy: Any, provider: Provider) -> dict[int, int]:
    """Target total per class for an imbalanced-learn style ``sampling_strategy``."""
    desc = ", ".join(f"{c}: {n}" for c, n in sorted(counts.items()))
    full = dict(sorted(counts.items()))  # like imbalanced-learn: string and float strategies see present classes
    majority = max(full.values())
    minority = min(full.values())
    if callable(strategy) and not isinstance(strategy, str):
        strategy = strategy(dict(full))
        if not isinstance(strategy, Mapping):
            raise ConfigTypeError(
                f"a callable sampling_strategy must return a dict label -> target, got {type(strategy).__name__}"
            )
    if isinstance(strategy, str):
        if strategy not in STRATEGIES:
            raise ConfigError(
                f"sampling_strategy {strategy!r} is unknown; use one of {STRATEGIES}, a float, a dict or a callable"
            )
        if strategy in ("auto", "not majority"):
            chosen = [c for c in full if full[c] != majority]
        elif strategy == "minority":
            chosen = [c for c in full if full[c] == minority][:1]
        elif strategy == "not minority":
            first_min = next(c for c in full if full[c] == minority)
            chosen = [c for c in full if c != first_min]
        else:
            chosen = list(full)
        return {c: majority for c in chosen}
    if isinstance(strategy, float | int) and not isinstance(strategy, bool):
        if not 0 < strategy <= 1:
            raise ConfigError(
                f"a float sampling_strategy is the wanted ratio minority/majority in (0, 1], got {strategy}"
            )
        target = math.ceil(Fraction(repr(strategy)) * majority)  # exact: 0.28 * 25 is 7, not 7.000000000000001
        return {c: target for c in full if full[c] < target}
    if isinstance(strategy, Mapping):
        out = {}
        for key, target in strategy.items():
            c = label_index(key, provider.spec)
            if isinstance(target, bool) or not isinstance(target, int | np.integer) or target < 0:
                raise ConfigError(
                    f"sampling_strategy target for class {key!r} must be a non-negative integer, got {target!r}"
                )
            have = full.get(c, 0)
            if target < have:
                raise ConfigError(
                    f"sampling_strategy asks for {target} samples of class {key!r}, which already has {have}; "
                    f"balance only adds rows (class counts: {desc}). Ask for at least {have}"
                )
            out[c] = int(target)
        return out
    raise ConfigTypeError(f"sampling_strategy must be a str, float, dict or callable, got {type(strategy).__name__}")


def _check_class_names(dataset, label_col: str, provider: Provider) -> None:
    import datasets

    feat = dataset.features[label_col]
    default = tuple(str(i) for i in range(provider.spec.num_classes))
    if isinstance(feat, datasets.ClassLabel) and provider.class_names != default:
        if tuple(feat.names) != provider.class_names:
            raise SpecMismatchError(
                f"the dataset's classes {feat.names} differ from the provider's {list(provider.class_names)}; "
                "use a provider trained on this dataset"
            )
