"""Finding the image and label columns of a ``datasets`` dataset (or checking the names a user gave)."""

from __future__ import annotations

from typing import Any

from .errors import DataError

_IMAGE_NAME_HINTS = ("image", "img", "images", "pixel_values", "pixels", "x")
_LABEL_NAME_HINTS = ("label", "labels", "target", "targets", "class", "y", "digit")


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
