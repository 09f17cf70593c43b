"""Dataset loading and validation.

Everything a user can hand us (a ``datasets.Dataset`` or ``DatasetDict``, a hub name or local path for
``datasets.load_dataset``, an image folder, numpy arrays, or one of the bundled sources) is turned into
``LabelledImages``: uint8 images N×C×H×W, int64 labels and the ``ImageSpec`` that describes them.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._columns import _IMAGE_NAME_HINTS, _LABEL_NAME_HINTS, detect_columns  # noqa: F401  (re-exported)
from ._images import _as_int_labels, _as_uint8_nchw, decode_column, to_hwc_uint8  # noqa: F401  (re-exported)
from .errors import ConfigError, DataError

BUNDLED_SOURCES = ("mnist-mini", "sklearn-digits")
MIN_SIDE, MAX_SIDE = 8, 256


@dataclass(frozen=True)
class ImageSpec:
    """What a provider was trained on and what it can produce."""

    channels: int  # 1 (grey) or 3 (RGB)
    height: int  # pixels
    width: int  # pixels
    num_classes: int  # labels are 0 .. num_classes - 1
    class_names: tuple[str, ...]  # one name per label, in label order

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise DataError(f"images must have 1 (grey) or 3 (RGB) channels, got {self.channels}")
        if not (MIN_SIDE <= self.height <= MAX_SIDE and MIN_SIDE <= self.width <= MAX_SIDE):
            raise DataError(
                f"image size {self.height}x{self.width} is outside the supported {MIN_SIDE}..{MAX_SIDE} px per "
                "side; resize the images first (e.g. with torchvision.transforms.v2.Resize)"
            )
        if self.num_classes < 2:
            raise DataError(
                f"a class-conditional GAN needs at least 2 classes, the data has {self.num_classes}; "
                "check the label column"
            )
        if len(self.class_names) != self.num_classes:
            raise DataError(f"{len(self.class_names)} class names given for {self.num_classes} classes")

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["class_names"] = list(self.class_names)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImageSpec:
        return cls(
            channels=int(d["channels"]),
            height=int(d["height"]),
            width=int(d["width"]),
            num_classes=int(d["num_classes"]),
            class_names=tuple(str(n) for n in d["class_names"]),
        )


@dataclass(frozen=True)
class LabelledImages:
    """Decoded training data: ``images`` uint8 N×C×H×W, ``labels`` int64 N, and where they came from."""

    images: torch.Tensor
    labels: torch.Tensor
    spec: ImageSpec
    image_column: str = "image"
    label_column: str = "label"

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def class_counts(self) -> list[int]:
        return torch.bincount(self.labels, minlength=self.spec.num_classes).tolist()

    def fingerprint(self) -> str:
        """Content hash of images, labels and spec: identifies the training data in checkpoints and caches."""
        h = hashlib.sha256()
        h.update(repr(self.spec.to_dict()).encode())
        h.update(self.images.contiguous().numpy().tobytes())
        h.update(self.labels.contiguous().numpy().tobytes())
        return h.hexdigest()


# ---------------------------------------------------------------------------------------------------------
# bundled sources


def _data_file(name: str) -> Path:
    return Path(str(resources.files("ganaug").joinpath("data_files", name)))


def _read_idx(path: Path, magic: int) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    got = int.from_bytes(raw[:4], "big")
    if got != magic:
        raise DataError(f"{path.name}: IDX magic {got}, expected {magic}; the bundled file is damaged")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


@lru_cache(maxsize=2)
def mnist_mini_arrays(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Bundled real MNIST as arrays: images uint8 N×28×28 and labels int64 N.

    ``"train"``: 5,000 training images (500 per class); ``"test"``: the standard 10,000-image test set.
    """
    if split == "train":
        with gzip.open(_data_file("mnist_5k.csv.gz"), "rt") as fh:
            table = np.loadtxt(fh, delimiter=",", dtype=np.int64)
        images = table[:, :784].astype(np.uint8).reshape(-1, 28, 28)
        labels = table[:, 784]
    elif split == "test":
        images = _read_idx(_data_file("t10k-images-idx3-ubyte.gz"), 2051)
        labels = _read_idx(_data_file("t10k-labels-idx1-ubyte.gz"), 2049).astype(np.int64)
    else:
        raise ConfigError(f"mnist-mini has the splits 'train' and 'test', not {split!r}")
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _image_label_dataset(images: np.ndarray, labels: np.ndarray, names: list[str]):
    import datasets

    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=names)})
    return datasets.Dataset.from_dict({"image": list(images), "label": labels.tolist()}, features=features)


@lru_cache(maxsize=2)
def mnist_mini(split: str = "train"):
    """Bundled real MNIST as a ``datasets.Dataset`` with the hub's MNIST schema.

    Columns ``image`` (``Image``) and ``label`` (``ClassLabel`` named "0".."9"); ``"train"`` holds 5,000
    images (500 per class), ``"test"`` the standard 10,000. Works offline.
    """
    images, labels = mnist_mini_arrays(split)
    return _image_label_dataset(images, labels, [str(i) for i in range(10)])


@lru_cache(maxsize=1)
def sklearn_digits():
    """scikit-learn's 8×8 digits (1,797 images) as a ``datasets.Dataset`` (``image``: Image, ``label``)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.clip(np.rint(bunch.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    return _image_label_dataset(images, bunch.target.astype(np.int64), [str(i) for i in range(10)])


# ---------------------------------------------------------------------------------------------------------
# resolving what the user gave us into a datasets.Dataset


def resolve_dataset(source: Any, split: str | None = None):
    """Return a ``datasets.Dataset`` for ``source``.

    ``source`` may be a ``Dataset``, a ``DatasetDict`` (``split`` or its ``"train"`` split is used),
    ``"mnist-mini"``, ``"sklearn-digits"``, a directory of images in class sub-folders (``imagefolder``), a
    directory written by ``Dataset.save_to_disk``, or any name or path ``datasets.load_dataset`` accepts.
    """
    import datasets

    if isinstance(source, datasets.DatasetDict):
        return _pick_split(source, split)
    if isinstance(source, datasets.Dataset):
        return source
    if isinstance(source, datasets.IterableDataset | datasets.IterableDatasetDict):
        raise DataError(
            "streaming (iterable) datasets are not supported for training; load it without streaming=True "
            "or take a slice with Dataset.from_list(list(ds.take(n)))"
        )
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if not isinstance(source, str):
        raise DataError(
            f"cannot read a dataset from {type(source).__name__}; pass a datasets.Dataset, a DatasetDict, "
            f"one of {BUNDLED_SOURCES}, a hub name, a path, or arrays to ganaug.data.from_arrays"
        )
    if source == "mnist-mini":
        return mnist_mini(split or "train")
    if source == "sklearn-digits":
        if split not in (None, "train"):
            raise ConfigError(f"sklearn-digits has a single split 'train', not {split!r}")
        return sklearn_digits()
    path = Path(source)
    if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
        loaded = datasets.load_from_disk(str(path))
    elif path.is_dir() and _looks_like_image_folder(path):
        loaded = datasets.load_dataset("imagefolder", data_dir=str(path))
    elif path.exists() and not path.is_dir():
        raise DataError(f"{source!r} is a file; pass a directory or a dataset name")
    else:
        source = _hub_id(source)
        try:
            loaded = datasets.load_dataset(source)
        except FileNotFoundError as exc:
            raise DataError(
                f"no dataset found at {source!r}: it is neither a local directory nor a reachable hub dataset "
                f"({_first_line(exc)}); check the name or path"
            ) from exc
        except Exception as exc:  # offline, unknown hub name, bad builder...: one clear line, not a traceback
            raise DataError(
                f"could not load the dataset {source!r} ({type(exc).__name__}: {_first_line(exc)}); check the name "
                "or path, and the network (or HF_DATASETS_OFFLINE) for hub datasets"
            ) from exc
    if isinstance(loaded, datasets.DatasetDict):
        return _pick_split(loaded, split)
    return loaded


def _hub_id(source: str) -> str:
    """The hub id ``source`` names: ``owner/name``, or ``hub:name`` for a bare (canonical) hub name.

    A bare word that is neither bundled nor a local path is refused, not sent to the hub: a typo such as
    ``mnist_mini`` gets the bundled names back instead of a slow hub lookup or a download."""
    if source.startswith("hub:") and source[4:].strip():
        return source[4:].strip()
    looks_like_path = source.startswith(("/", ".", "~")) or "\\" in source or source.count("/") > 1
    if "/" in source and not looks_like_path:
        return source  # owner/name
    if looks_like_path:
        raise DataError(f"no dataset found at {source!r}: it is not an existing directory; check the name or path")
    import difflib

    close = difflib.get_close_matches(source, BUNDLED_SOURCES, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise DataError(
        f"{source!r} is neither a local directory nor a bundled dataset {BUNDLED_SOURCES}; {hint}for a hub dataset "
        f"give its full id 'owner/name' (e.g. 'ylecun/mnist') or write 'hub:{source}'"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _looks_like_image_folder(path: Path) -> bool:
    exts = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
    for _root, _dirs, files in os.walk(path):
        if any(Path(f).suffix.lower() in exts for f in files):
            return True
    return False


def _pick_split(dd, split: str | None):
    names = list(dd.keys())
    if split is None:
        if "train" in dd:
            return dd["train"]
        if len(names) == 1:
            return dd[names[0]]
        raise DataError(f"the dataset has the splits {names} and none is called 'train'; pass split=")
    if split not in dd:
        raise DataError(f"split {split!r} not found; the dataset has {names}")
    return dd[split]


def from_arrays(images: Any, labels: Any, class_names: list[str] | None = None):
    """Build a ``datasets.Dataset`` (``image``: Image, ``label``: ClassLabel) from arrays.

    ``images``: N×H×W, N×H×W×C or N×C×H×W (C in 1, 3), uint8 or floats in [0, 1] or [0, 255];
    ``labels``: N non-negative integers.
    """
    arr = _as_uint8_nchw(np.asarray(images), "images")
    lab = _as_int_labels(np.asarray(labels), "labels")
    if arr.shape[0] != lab.shape[0]:
        raise DataError(f"{arr.shape[0]} images but {lab.shape[0]} labels; give one label per image")
    n_cls = int(lab.max()) + 1 if lab.size else 0
    names = class_names or [str(i) for i in range(max(n_cls, 1))]
    if len(names) < n_cls:
        raise DataError(f"labels go up to {n_cls - 1} but only {len(names)} class names were given")
    hwc = arr.transpose(0, 2, 3, 1)
    if hwc.shape[-1] == 1:
        hwc = hwc[..., 0]
    return _image_label_dataset(hwc, lab, list(names))


# ---------------------------------------------------------------------------------------------------------
# columns and decoding


def class_names_of(ds, label_column: str, labels: np.ndarray | None = None) -> tuple[str, ...]:
    import datasets

    feat = ds.features[label_column]
    if isinstance(feat, datasets.ClassLabel):
        return tuple(feat.names)
    top = int(labels.max()) if labels is not None and labels.size else 0
    return tuple(str(i) for i in range(top + 1))


def load_images(
    source: Any,
    image_column: str | None = None,
    label_column: str | None = None,
    split: str | None = None,
) -> LabelledImages:
    """Read ``source`` (see ``resolve_dataset``) into uint8 tensors, validating every row."""
    ds = resolve_dataset(source, split)
    if len(ds) == 0:
        raise DataError("the dataset is empty; it needs labelled images of at least 2 classes")
    image_column, label_column = detect_columns(ds, image_column, label_column)
    labels = _as_int_labels(np.asarray(ds.with_format("numpy")[label_column]), f"column {label_column!r}")
    names = class_names_of(ds, label_column, labels)
    if labels.size and labels.max() >= len(names):
        bad = int(np.argmax(labels >= len(names)))
        raise DataError(
            f"label {int(labels[bad])} at row {bad} of column {label_column!r} is outside 0..{len(names) - 1}"
        )
    present = np.unique(labels)
    if present.size < 2:
        raise DataError(
            f"column {label_column!r} holds a single class ({int(present[0])}); a class-conditional GAN needs at "
            "least 2 classes"
        )
    images = decode_column(ds, image_column)
    spec = ImageSpec(images.shape[1], images.shape[2], images.shape[3], len(names), names)
    return LabelledImages(torch.from_numpy(images), torch.from_numpy(labels), spec, image_column, label_column)
