"""Hugging Face ``datasets`` integration: ``Augment`` for ``dataset.map`` and ``balance``.

``Augment`` pickles to its parameters plus the provider's path and weight hash (never a live network), so
``datasets`` computes a stable fingerprint (cache reuse) and can ship it to ``num_proc`` workers.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from ._checks import check_int, check_probability
from .data import _IMAGE_NAME_HINTS, _LABEL_NAME_HINTS, detect_columns, to_hwc_uint8
from .errors import CheckpointError, ConfigError, ConfigTypeError, DataError, SpecMismatchError
from .provider import Provider, as_provider, label_index

SYNTHETIC_COLUMN = "synthetic"
_BUFFER_SIZE = 256  # per-class refill size for unbatched map


class Augment:
    """A callable for ``dataset.map`` that adds (batched) or swaps in (unbatched) synthetic images.

    * ``dataset.map(aug, batched=True)``: every original row comes back unchanged, followed by
      ``round(ratio × len(batch))`` synthetic rows whose labels follow the batch's label distribution (or
      ``class_distribution``); column ``synthetic`` marks them, other columns of synthetic rows are None.
    * ``dataset.map(aug)``: with probability ``p`` the example's image is replaced by a synthetic image of
      the same label, and ``synthetic`` is set to True.

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
        if self._provider.path is None:
            raise ConfigError("Augment needs a provider loaded from a checkpoint directory (ganaug.load_provider)")
        self.ratio, self.p, self.seed, self.batch_size = float(ratio), float(p), seed, batch_size
        self.label_column, self.image_column = label_column, image_column
        self.class_distribution = _check_distribution(class_distribution, self._provider)
        self._buffers: dict[int, list[torch.Tensor]] = {}

    @property
    def provider(self) -> Provider:
        return self._provider

    # -- pickling and fingerprint: parameters + provider path and weight hash ------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {
            "provider_path": str(self._provider.path),
            "provider_hash": self._provider.content_hash,
            "ratio": self.ratio,
            "p": self.p,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "label_column": self.label_column,
            "image_column": self.image_column,
            "class_distribution": self.class_distribution,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        from .provider import _load_verified

        self._provider = _load_verified(state.pop("provider_path"), state.pop("provider_hash"))
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
        synth = self._provider.sample(new_labels, seed=batch_seed, batch_size=self.batch_size)
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
            out[image_col] = images_like(self._take(y, g), example[image_col])[0]
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


# ---------------------------------------------------------------------------------------------------------
# balance

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
    ``synthetic`` marks the new rows; the other columns of new rows are None.
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
    images, new_labels = prov.sample_counts(need, seed=seed, batch_size=batch_size)
    return datasets.concatenate_datasets([base, synthetic_rows(base, images, new_labels, image_col, label_col)])


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


# ---------------------------------------------------------------------------------------------------------
# small helpers shared by Augment, balance and the torchvision transforms


def images_like(images: torch.Tensor, like: Any) -> list:
    """uint8 N×C×H×W → a list in the form of ``like`` (PIL, numpy, torch, encoded dict)."""
    from PIL import Image as PILImage

    if like is None or isinstance(like, PILImage.Image):
        return Provider.to_pil(images)
    if isinstance(like, dict):
        import io

        out = []
        for img in Provider.to_pil(images):
            buf = io.BytesIO()
            img.save(buf, format="PNG")
            out.append({"bytes": buf.getvalue(), "path": None})
        return out
    if isinstance(like, torch.Tensor):
        chw = like.ndim == 3 and like.shape[0] in (1, 3)
        out_t = images if chw else (images[:, 0] if like.ndim == 2 else images.permute(0, 2, 3, 1))
        return [_restore_dtype_torch(t, like) for t in out_t.unbind(0)]
    arr = np.asarray(like)
    hwc = images.permute(0, 2, 3, 1).numpy()
    if arr.ndim == 2:
        hwc = hwc[..., 0]
    elif arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        hwc = images.numpy()
    if isinstance(like, list):
        return [_restore_dtype_np(a, arr).tolist() for a in hwc]
    return [_restore_dtype_np(a, arr) for a in hwc]


def _restore_dtype_np(a: np.ndarray, like: np.ndarray) -> np.ndarray:
    if like.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if np.issubdtype(like.dtype, np.floating) and like.size and float(np.nanmax(like)) <= 1.0:
        return (a.astype(np.float64) / 255.0).astype(like.dtype)
    return a.astype(like.dtype)


def _restore_dtype_torch(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if like.dtype == torch.uint8:
        return t.clone()
    if like.dtype.is_floating_point and like.numel() and float(like.max()) <= 1.0:
        return (t.double() / 255.0).to(like.dtype)
    return t.to(like.dtype)


def _check_image(img: Any, provider: Provider, where: str) -> None:
    """Refuse an image whose size or channel count differs from what the provider makes."""
    from PIL import Image as PILImage

    spec = provider.spec
    if isinstance(img, PILImage.Image):
        w, h = img.size
        c = 1 if img.mode in ("L", "1", "I", "I;16", "F") else 3
    else:
        a = to_hwc_uint8(img, where)
        h, w, c = a.shape
    if (h, w, c) != (spec.height, spec.width, spec.channels):
        raise SpecMismatchError(
            f"{where} is {h}x{w} with {c} channel(s), but this provider makes {spec.height}x{spec.width} images "
            f"with {spec.channels} channel(s); train a provider for this data: "
            "provider = ganaug.train(dataset, out='runs/mydata')"
        )


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


def _find_columns(example: Mapping[str, Any], image_col: str | None, label_col: str | None) -> tuple[str, str]:
    keys = list(example.keys())
    for name, col in (("image_column", image_col), ("label_column", label_col)):
        if col is not None and col not in example:
            raise DataError(f"{name} {col!r} not found; the data has the columns {keys}")
    if image_col is None:
        image_col = _by_hint(keys, _IMAGE_NAME_HINTS, "image", keys)
    if label_col is None:
        label_col = _by_hint([k for k in keys if k != image_col], _LABEL_NAME_HINTS, "label", keys)
    return image_col, label_col


def _by_hint(candidates: list[str], hints: tuple[str, ...], what: str, keys: list[str]) -> str:
    hit = [k for k in candidates if k.lower() in hints]
    if len(hit) == 1:
        return hit[0]
    if not hit:
        raise DataError(f"no {what} column among {keys}; pass {what}_column= to Augment")
    raise DataError(f"several possible {what} columns {hit}; pass {what}_column= to Augment")


def _is_batch_of_labels(value: Any) -> bool:
    """A batch's label column is a list or a 1-d array; a single example's (any format) is a scalar, which
    numpy- and torch-formatted datasets give as a 0-d array or tensor."""
    if isinstance(value, np.ndarray | torch.Tensor):
        return value.ndim >= 1
    return isinstance(value, list | tuple)


def _is_single_image(value: Any) -> bool:
    from PIL import Image as PILImage

    return isinstance(value, PILImage.Image | dict)


def _labels_list(values: Any, label_col: str) -> list[int]:
    return [_scalar_label(v, label_col) for v in (values.tolist() if hasattr(values, "tolist") else values)]


def _scalar_label(v: Any, label_col: str) -> int:
    if isinstance(v, torch.Tensor | np.ndarray):
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, int | np.integer):
        raise DataError(
            f"column {label_col!r} holds {v!r}; labels must be integers 0..K-1 (encode strings with "
            "ds.class_encode_column)"
        )
    return int(v)


def _image_bytes(img: Any) -> bytes:
    from PIL import Image as PILImage

    if isinstance(img, PILImage.Image):
        return img.tobytes()
    if isinstance(img, dict):
        return bytes(img.get("bytes") or b"") + str(img.get("path")).encode()
    if isinstance(img, torch.Tensor):
        return img.detach().cpu().contiguous().numpy().tobytes()
    return np.ascontiguousarray(np.asarray(img)).tobytes()


def _check_distribution(dist: Mapping[int | str, float] | None, provider: Provider) -> dict[int, float] | None:
    if dist is None:
        return None
    if not isinstance(dist, Mapping) or not dist:
        raise ConfigTypeError("class_distribution must be a non-empty dict label -> weight")
    out = {}
    for key, w in dist.items():
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or w < 0:
            raise ConfigError(f"class_distribution weight for {key!r} must be a finite number >= 0, got {w!r}")
        out[label_index(key, provider.spec)] = float(w)
    if sum(out.values()) <= 0:
        raise ConfigError("class_distribution weights sum to 0; give at least one positive weight")
    return out
