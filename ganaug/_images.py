"""Decoding images in any form a user or ``datasets`` hands us (PIL, numpy, torch, nested lists, encoded
dicts) into uint8 arrays, with errors that say which row was wrong and how."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .errors import DataError


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


def generated_to_uint8(x: torch.Tensor) -> torch.Tensor:
    """A generator's output in [-1, 1] as uint8 pixels on the CPU (rounded, clamped)."""
    return ((x.float() + 1) * 127.5).round_().clamp_(0, 255).to(torch.uint8).cpu()
