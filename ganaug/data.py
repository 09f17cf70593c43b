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

from .errors import ConfigError, DataError

BUNDLED_SOURCES = ("mnist-mini", "sklearn-digits")
_IMAGE_NAME_HINTS = ("image", "img", "images", "pixel_values", "pixels", "x")
_LABEL_NAME_HINTS = ("label", "labels", "target", "targets", "class", "y", "digit")
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


def detect_columns(ds, image_column: str | None = None, label_column: str | None = None) -> tuple[str, str]:
    """Find the image and label columns of ``ds`` (or check the names given)."""
    import datasets

    feats = ds.features
    cols = list(feats.keys())
    if image_column is not None:
        if image_column not in feats:
            raise DataError(f"image column {image_column!r} not found; the dataset has the columns {cols}")
    else:
        image_column = _pick_column(
            [c for c, f in feats.items() if isinstance(f, datasets.Image)]
            or [c for c, f in feats.items() if _is_array_feature(f)],
            _IMAGE_NAME_HINTS,
            "image",
            cols,
        )
    if label_column is not None:
        if label_column not in feats:
            raise DataError(f"label column {label_column!r} not found; the dataset has the columns {cols}")
    else:
        candidates = [c for c, f in feats.items() if isinstance(f, datasets.ClassLabel)]
        if not candidates:
            candidates = [
                c
                for c, f in feats.items()
                if c != image_column and isinstance(f, datasets.Value) and _is_int_dtype(f.dtype)
            ]
        if not candidates:
            floats = [
                c
                for c in cols
                if c.lower() in _LABEL_NAME_HINTS
                and isinstance(feats[c], datasets.Value)
                and feats[c].dtype.startswith("float")
            ]
            if floats:
                label_column = floats[0]  # named like a label: report its dtype below
        if not candidates and label_column is None:
            strings = [
                c for c, f in feats.items() if isinstance(f, datasets.Value) and f.dtype in ("string", "large_string")
            ]
            if strings:
                raise DataError(
                    f"no integer or ClassLabel label column; {strings} hold strings. Encode them first with "
                    f"ds = ds.class_encode_column({strings[0]!r}) or pass label_column="
                )
        if label_column is None:
            label_column = _pick_column(candidates, _LABEL_NAME_HINTS, "label", cols)
    feat = feats[label_column]
    if isinstance(feat, datasets.Value) and feat.dtype in ("string", "large_string"):
        raise DataError(
            f"label column {label_column!r} holds strings; encode it first with "
            f"ds = ds.class_encode_column({label_column!r})"
        )
    if isinstance(feat, datasets.Value) and not _is_int_dtype(feat.dtype):
        raise DataError(
            f"label column {label_column!r} has dtype {feat.dtype}; labels must be integers 0..K-1 or a "
            "ClassLabel (cast with ds.cast_column(name, datasets.ClassLabel(names=[...])))"
        )
    if image_column == label_column:
        raise DataError(f"the image and label columns are both {image_column!r}; pass distinct names")
    return image_column, label_column


def _pick_column(candidates: list[str], hints: tuple[str, ...], what: str, cols: list[str]) -> str:
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise DataError(
            f"no {what} column found among {cols}; pass {what}_column= with the name of the column that holds "
            f"the {what}s"
        )
    hinted = [c for c in candidates if c.lower() in hints]
    if len(hinted) == 1:
        return hinted[0]
    raise DataError(f"several possible {what} columns {candidates}; pass {what}_column= to choose one")


def _is_int_dtype(dtype: str) -> bool:
    return dtype.startswith("int") or dtype.startswith("uint")


def _is_array_feature(feat: Any) -> bool:
    import datasets

    if isinstance(feat, datasets.Array2D | datasets.Array3D):
        return True
    if isinstance(feat, datasets.Sequence) and isinstance(feat.feature, datasets.Sequence):
        return True
    if isinstance(feat, list) and feat and isinstance(feat[0], list | datasets.Sequence):
        return True
    if type(feat).__name__ == "List":  # datasets>=4 spells nested lists as List(List(...))
        inner = getattr(feat, "feature", None)
        return type(inner).__name__ in ("List", "Sequence") or isinstance(inner, datasets.Sequence)
    return False


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


def decode_column(ds, image_column: str, batch_size: int = 1000) -> np.ndarray:
    """Decode every image of ``ds[image_column]`` into one uint8 array N×C×H×W (checks sizes agree)."""
    chunks: list[np.ndarray] = []
    want_rgb = False
    first_hw: tuple[int, int] | None = None
    raw: list[list[np.ndarray]] = []
    row = 0
    for batch in ds.select_columns([image_column]).iter(batch_size=batch_size):
        arrs = []
        for value in batch[image_column]:
            a = to_hwc_uint8(value, f"row {row} of column {image_column!r}")
            if first_hw is None:
                first_hw = a.shape[:2]
            elif a.shape[:2] != first_hw:
                raise DataError(
                    f"row {row} of column {image_column!r} is {a.shape[0]}x{a.shape[1]} px but row 0 is "
                    f"{first_hw[0]}x{first_hw[1]}; all images must have one size: resize them first, e.g. "
                    "with ds.map and torchvision.transforms.v2.Resize"
                )
            want_rgb = want_rgb or a.shape[2] == 3
            arrs.append(a)
            row += 1
        raw.append(arrs)
    for arrs in raw:
        if want_rgb:
            arrs = [np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a for a in arrs]
        chunks.append(np.stack(arrs).transpose(0, 3, 1, 2))
    return np.ascontiguousarray(np.concatenate(chunks))


def to_hwc_uint8(value: Any, where: str = "image") -> np.ndarray:
    """One image (PIL, numpy, torch, nested list) as a uint8 H×W×C array, C in (1, 3)."""
    from PIL import Image as PILImage

    if isinstance(value, PILImage.Image):
        img = (
            value
            if value.mode in ("L", "RGB")
            else value.convert("L" if value.mode in ("1", "I", "I;16", "F") else "RGB")
        )
        a = np.asarray(img)
        return a[..., None] if a.ndim == 2 else a
    if value is None:
        raise DataError(
            f"{where} is empty (None); drop such rows first, e.g. ds.filter(lambda ex: ex[col] is not None)"
        )
    if isinstance(value, dict) and ("bytes" in value or "path" in value):
        import datasets

        return to_hwc_uint8(datasets.Image().decode_example(value), where)
    if isinstance(value, torch.Tensor):
        a = value.detach().cpu().numpy()
        if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[2] not in (1, 3):
            a = a.transpose(1, 2, 0)
        elif a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[2] in (1, 3):
            a = a.transpose(1, 2, 0)  # torch images are C×H×W
    else:
        a = np.asarray(value)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise DataError(f"{where} has shape {tuple(a.shape)}; expected H×W, H×W×C or C×H×W with C in (1, 3)")
    return _to_uint8(a, where)


def _to_uint8(a: np.ndarray, where: str) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype == bool or not np.issubdtype(a.dtype, np.number):
        raise DataError(f"{where} has dtype {a.dtype}; images must hold numbers")
    if not np.isfinite(a).all():
        raise DataError(f"{where} contains NaN or infinite values; clean the data first")
    lo, hi = float(a.min()) if a.size else 0.0, float(a.max()) if a.size else 0.0
    if lo < 0 or hi > 255:
        raise DataError(f"{where} has values in [{lo:g}, {hi:g}]; expected [0, 1] or [0, 255]")
    if np.issubdtype(a.dtype, np.floating) and hi <= 1.0:
        a = a * 255.0
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def _as_uint8_nchw(a: np.ndarray, where: str) -> np.ndarray:
    if a.ndim == 3:
        a = a[:, None]
    elif a.ndim == 4 and a.shape[-1] in (1, 3) and a.shape[1] not in (1, 3):
        a = a.transpose(0, 3, 1, 2)
    elif a.ndim == 4 and a.shape[-1] in (1, 3) and a.shape[1] in (1, 3):
        a = a.transpose(0, 3, 1, 2)  # ambiguous tiny images: take channels-last, numpy's usual layout
    if a.ndim != 4 or a.shape[1] not in (1, 3):
        raise DataError(f"{where} have shape {tuple(a.shape)}; expected N×H×W, N×H×W×C or N×C×H×W with C in (1, 3)")
    if a.shape[0] == 0:
        raise DataError(f"{where} are empty; give at least one image per class for 2 or more classes")
    return np.ascontiguousarray(_to_uint8(a, where))


def _as_int_labels(a: np.ndarray, where: str) -> np.ndarray:
    if a.ndim != 1:
        raise DataError(f"{where}: labels must be one integer per row, got shape {tuple(a.shape)}")
    if a.dtype.kind in "US" or a.dtype == object:
        raise DataError(
            f"{where} holds non-integer labels (e.g. {a[0]!r}); encode them with ds.class_encode_column(name)"
        )
    if a.dtype.kind == "f":
        if not np.isfinite(a).all() or not np.all(a == np.round(a)):
            raise DataError(f"{where} holds non-integer labels; labels must be integers 0..K-1")
    elif a.dtype.kind not in "iub":
        raise DataError(f"{where} has dtype {a.dtype}; labels must be integers 0..K-1")
    a = a.astype(np.int64)
    if a.size and a.min() < 0:
        bad = int(np.argmin(a))
        raise DataError(
            f"{where} holds the label {int(a[bad])} at row {bad}; labels must be 0..K-1 (-1 marks a missing "
            "label in datasets: drop those rows first)"
        )
    return a
