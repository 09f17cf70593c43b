"""Row-level helpers shared by ``Augment``, ``balance`` and the torchvision transforms: synthetic images in the
form of the user's (PIL, numpy, torch, encoded), image and label checks, column detection in a batch."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ._columns import _IMAGE_NAME_HINTS, _LABEL_NAME_HINTS
from ._images import to_hwc_uint8
from .errors import ConfigError, ConfigTypeError, DataError, SpecMismatchError
from .provider import Provider, label_index

SYNTHETIC_COLUMN = "synthetic"


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
    if isinstance(img, dict) and (img.get("bytes") or img.get("path")):
        (w, h), mode = _encoded_size_mode(img, where)  # a column cast with decode=False: read the header only
    elif isinstance(img, PILImage.Image):
        (w, h), mode = img.size, img.mode
    else:
        h, w, c = to_hwc_uint8(img, where).shape
        mode = None
    if mode is not None:
        c = 1 if mode in ("L", "1", "I", "I;16", "F") else 3
    if (h, w, c) != (spec.height, spec.width, spec.channels):
        raise SpecMismatchError(
            f"{where} is {h}x{w} with {c} channel(s), but this provider makes {spec.height}x{spec.width} images "
            f"with {spec.channels} channel(s); train a provider for this data: "
            "provider = ganaug.train(dataset, out='runs/mydata')"
        )


def _encoded_size_mode(value: dict, where: str) -> tuple[tuple[int, int], str]:
    """Size and mode of an encoded ``{"bytes", "path"}`` image from its header, without decoding the pixels."""
    import io

    from PIL import Image as PILImage

    source = io.BytesIO(value["bytes"]) if value.get("bytes") else value["path"]
    try:
        with PILImage.open(source) as img:
            return img.size, img.mode
    except OSError as e:  # includes PIL.UnidentifiedImageError
        raise DataError(f"{where} could not be read as an image ({e}); check the column holds image files") from e


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
