"""Hugging Face ``datasets`` integration: ``Augment`` for ``dataset.map`` and ``balance``.

``Augment`` pickles to its parameters plus the provider's path and weight hash (never a live network), so
``datasets`` computes a stable fingerprint (cache reuse) and can ship it to ``num_proc`` workers.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ._checks import check_int, check_probability
from ._rows import (
    SYNTHETIC_COLUMN,
    _check_distribution,
    _check_image,
    _find_columns,
    _image_bytes,
    _is_batch_of_labels,
    _is_single_image,
    _labels_list,
    _scalar_label,
    images_like,
)
from .errors import CheckpointError, ConfigError, ConfigTypeError, DataError
from .provider import Provider, as_provider

_BUFFER_SIZE = 256  # per-class refill size for unbatched map


class Augment:
    """A callable for ``dataset.map`` that adds (batched) or swaps in (unbatched) synthetic images.

    * ``dataset.map(aug, batched=True)``: every original row comes back unchanged, followed by
      ``round(ratio × len(batch))`` synthetic rows whose labels follow the batch's label distribution (or
      ``class_distribution``); column ``synthetic`` marks them, other columns of synthetic rows are None.
    * ``dataset.map(aug)``: with probability ``p`` the example's image is replaced by a synthetic image of
      the same label, and ``synthetic`` is set to True.

    With an image-conditioned provider (``arch="pair"``) every synthetic image is a variant of a real one: a
    random row of the batch with the same label (batched; a stored exemplar where the batch has none of a
    label ``class_distribution`` asks for), or the example's own image (unbatched): a learned augmentation.

    Images come back in the form they came in (PIL, numpy or torch). The same seed gives the same rows.
    """

    def __init__(
        self,
        provider: Provider | str | os.PathLike[str] | None = None,
        *,
        ratio: float = 1.0,
        p: float = 0.5,
        label_column: str | None = None,
        image_column: str | None = None,
        seed: int = 0,
        class_distribution: Mapping[int | str, float] | None = None,
        batch_size: int = 1024,
    ) -> None:
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not math.isfinite(ratio) or ratio < 0:
            raise ConfigError(f"ratio must be a finite number >= 0 (synthetic rows per original row), got {ratio!r}")
        check_probability("p", p)
        check_int("seed", seed, 0)
        check_int("batch_size", batch_size, 1)
        for name, col in (("label_column", label_column), ("image_column", image_column)):
            if col is not None and not isinstance(col, str):
                raise ConfigTypeError(f"{name} must be a column name (str) or None, got {col!r}")
        self._provider = as_provider(provider)
        if not self._provider.saved:
            raise ConfigError("Augment needs a provider loaded from a checkpoint directory (ganaug.load_provider)")
        self.ratio, self.p, self.seed, self.batch_size = float(ratio), float(p), seed, batch_size
        self.label_column, self.image_column = label_column, image_column
        self.class_distribution = _check_distribution(class_distribution, self._provider)
        self._buffers: dict[int, list[torch.Tensor]] = {}

    @property
    def provider(self) -> Provider:
        return self._provider

    # -- pickling and fingerprint: parameters + the provider, which pickles to its path and weight hash -----
    def __getstate__(self) -> dict[str, Any]:
        return {
            "provider": self._provider,
            "ratio": self.ratio,
            "p": self.p,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "label_column": self.label_column,
            "image_column": self.image_column,
            "class_distribution": self.class_distribution,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._provider = state.pop("provider")
        self.__dict__.update(state)
        self._buffers = {}

    def __repr__(self) -> str:
        return f"Augment({self._provider!r}, ratio={self.ratio}, p={self.p}, seed={self.seed})"

    # -- the map function ----------------------------------------------------------------------------------
    def __call__(self, examples: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(examples, Mapping):
            raise ConfigTypeError(
                f"Augment is called by dataset.map with a dict of columns, got {type(examples).__name__}"
            )
        image_col, label_col = _find_columns(examples, self.image_column, self.label_column)
        if _is_batch_of_labels(examples[label_col]) and not _is_single_image(examples[image_col]):
            return self._batched(examples, image_col, label_col)
        return self._single(examples, image_col, label_col)

    def _batched(self, batch: dict[str, Any], image_col: str, label_col: str) -> dict[str, Any]:
        images, labels = list(batch[image_col]), _labels_list(batch[label_col], label_col)
        n = len(labels)
        if len(images) != n:
            raise DataError(f"the batch has {len(images)} images but {n} labels")
        for i, img in enumerate(images):
            _check_image(img, self._provider, f"row {i} of the batch, column {image_col!r}")
        y = self._provider.check_labels(labels) if n else torch.zeros(0, dtype=torch.int64)
        k = round(self.ratio * n)
        new_labels = self._allocate(y, k, batch_seed := self._batch_seed(batch, image_col, label_col))
        out: dict[str, list] = {col: list(values) for col, values in batch.items()}
        if SYNTHETIC_COLUMN not in out:
            out[SYNTHETIC_COLUMN] = [False] * n
        else:
            out[SYNTHETIC_COLUMN] = [bool(v) for v in out[SYNTHETIC_COLUMN]]
        if k == 0:
            return out
        # sampled from the labels, or (image-conditioned provider) variants of the batch's rows of those labels
        synth = self._provider.synthesize(new_labels, images, y, batch_seed, self.batch_size)
        like = images[0] if images else None
        for col in out:
            if col == image_col:
                out[col].extend(images_like(synth, like))
            elif col == label_col:
                out[col].extend(int(v) for v in new_labels)
            elif col == SYNTHETIC_COLUMN:
                out[col].extend([True] * k)
            else:
                out[col].extend([None] * k)
        return out

    def _single(self, example: dict[str, Any], image_col: str, label_col: str) -> dict[str, Any]:
        out = dict(example)
        out.setdefault(SYNTHETIC_COLUMN, False)
        label = example[label_col]
        _check_image(example[image_col], self._provider, f"column {image_col!r}")
        y = int(self._provider.check_labels([_scalar_label(label, label_col)])[0])
        g = self._row_generator(example, image_col, label_col)
        if torch.rand(1, generator=g).item() < self.p:
            if self._provider.image_conditioned:  # a variant of this very image
                new = self._provider.vary([example[image_col]], seed=int(torch.randint(2**62, (1,), generator=g)))
            else:
                new = self._take(y, g)
            out[image_col] = images_like(new, example[image_col])[0]
            out[SYNTHETIC_COLUMN] = True
        return out

    # -- helpers -------------------------------------------------------------------------------------------
    def _allocate(self, y: torch.Tensor, k: int, seed: int) -> torch.Tensor:
        """k labels: proportional to the batch's classes (or class_distribution), largest remainder, shuffled."""
        if k == 0:
            return torch.zeros(0, dtype=torch.int64)
        n_cls = self._provider.spec.num_classes
        if self.class_distribution is not None:
            weights = torch.zeros(n_cls, dtype=torch.float64)
            for c, w in self.class_distribution.items():
                weights[c] = w
        else:
            if y.numel() == 0:
                raise DataError("cannot follow the label distribution of an empty batch; pass class_distribution=")
            weights = torch.bincount(y, minlength=n_cls).double()
        quota = weights / weights.sum() * k
        counts = quota.floor().long()
        g = torch.Generator().manual_seed(seed)
        rest = quota - counts + torch.rand(n_cls, generator=g, dtype=torch.float64) * 1e-9  # seeded tie-break
        counts[torch.argsort(rest, descending=True)[: k - int(counts.sum())]] += 1
        labels = torch.repeat_interleave(torch.arange(n_cls), counts)
        return labels[torch.randperm(k, generator=g)]

    def _batch_seed(self, batch: dict[str, Any], image_col: str, label_col: str) -> int:
        """Seed for one batch: the user's seed mixed with a hash of the batch's labels and images, so the
        same batch gets the same synthetic rows in any process, and different batches get different ones."""
        h = hashlib.blake2b(digest_size=8)
        h.update(str(self.seed).encode())
        h.update(np.asarray(_labels_list(batch[label_col], label_col), dtype=np.int64).tobytes())
        for img in batch[image_col]:
            h.update(_image_bytes(img))
        return int.from_bytes(h.digest(), "little") >> 1

    def _row_generator(self, example: dict[str, Any], image_col: str, label_col: str) -> torch.Generator:
        h = hashlib.blake2b(digest_size=8)
        h.update(f"{self.seed}:{example[label_col]}".encode())
        h.update(_image_bytes(example[image_col]))
        return torch.Generator().manual_seed(int.from_bytes(h.digest(), "little") >> 1)

    def _take(self, label: int, row: torch.Generator) -> torch.Tensor:
        """One synthetic image of ``label`` from a per-class buffer refilled in large batches.

        A refill is seeded by the generator of the row that empties the buffer (seed + the row's content): each
        ``num_proc`` worker starts with empty buffers, and its first rows differ from another worker's, so shards
        get different images, the same ones again for the same data, seed and ``num_proc``."""
        buf = self._buffers.setdefault(label, [])
        if not buf:
            seed = int(torch.randint(2**62, (1,), generator=row))
            imgs = self._provider.sample([label] * _BUFFER_SIZE, seed=seed, batch_size=self.batch_size)
            buf.extend(imgs.unbind(0)[::-1])
        return buf.pop()[None]


class BundledAugment:
    """``ganaug.augment``: ``Augment`` with its defaults on the bundled MNIST provider, loaded on the first call.

    ``datasets`` fingerprints a map function by pickling it; this object pickles to the bundled weights' hash
    (not to a module-level name), so new bundled weights give new cache entries instead of stale rows."""

    def __init__(self) -> None:
        self._augment: Augment | None = None

    def __call__(self, examples: dict[str, Any]) -> dict[str, Any]:
        if self._augment is None:
            self._augment = Augment()
        return self._augment(examples)

    def __reduce__(self):
        from .provider import bundled_content_hash

        return (_bundled_augment, (bundled_content_hash(),))

    def __repr__(self) -> str:
        return "ganaug.augment (Augment on the bundled MNIST provider)"


def _bundled_augment(content_hash: str) -> BundledAugment:
    from .provider import bundled_content_hash

    if bundled_content_hash() != content_hash:
        raise CheckpointError("the bundled provider's weights changed since this augment was pickled; pickle it again")
    return BundledAugment()


augment = BundledAugment()


# re-exported: ``ganaug.hf`` is where the datasets integration is documented
from .balancing import STRATEGIES, balance, sampling_targets, synthetic_rows  # noqa: E402,F401
