"""Property tests (hypothesis) for Augment, balance and SyntheticSwap on the tiny session provider."""

from __future__ import annotations

import hashlib
import math
from fractions import Fraction

import numpy as np
import torch
from datasets import ClassLabel, Dataset, Features, Image, Value
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage
from torchvision import tv_tensors

import ganaug
from ganaug.transforms import SyntheticSwap

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
DIGITS = [str(i) for i in range(10)]
SIDE = 28


def _pixels(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, SIDE, SIDE), dtype=np.uint8)


def _as_kind(arr: np.ndarray, kind: str):
    """One 28×28 uint8 array in the container ``kind``."""
    if kind == "pil":
        return PILImage.fromarray(arr, mode="L")
    if kind == "numpy":
        return arr.copy()
    if kind == "torch":
        return torch.from_numpy(arr.copy())[None]
    if kind == "tv":
        return tv_tensors.Image(torch.from_numpy(arr.copy())[None])
    if kind == "float_torch":
        return torch.from_numpy(arr.astype(np.float32) / 255.0)[None]
    raise AssertionError(kind)


def _bytes(img) -> bytes:
    if isinstance(img, PILImage.Image):
        return img.mode.encode() + repr(img.size).encode() + img.tobytes()
    if isinstance(img, torch.Tensor):
        return str(img.dtype).encode() + repr(tuple(img.shape)).encode() + img.contiguous().numpy().tobytes()
    return str(img.dtype).encode() + repr(img.shape).encode() + np.ascontiguousarray(img).tobytes()


def _check_form(img, kind: str) -> None:
    if kind == "pil":
        assert type(img) is PILImage.Image and img.mode == "L" and img.size == (SIDE, SIDE)
    elif kind == "numpy":
        assert type(img) is np.ndarray and img.shape == (SIDE, SIDE) and img.dtype == np.uint8
    elif kind == "torch":
        assert type(img) is torch.Tensor and tuple(img.shape) == (1, SIDE, SIDE) and img.dtype == torch.uint8
    elif kind == "tv":
        assert type(img) is tv_tensors.Image and tuple(img.shape) == (1, SIDE, SIDE) and img.dtype == torch.uint8
    elif kind == "float_torch":
        assert type(img) is torch.Tensor and tuple(img.shape) == (1, SIDE, SIDE) and img.dtype == torch.float32
        assert 0.0 <= float(img.min()) and float(img.max()) <= 1.0
    else:
        raise AssertionError(kind)


# ---------------------------------------------------------------------------------------------------------
# Augment, batched (what dataset.map(aug, batched=True) calls)


@FUZZ
@given(
    labels=st.lists(st.integers(0, 9), max_size=12)
    | st.lists(st.sampled_from([2, 7]), min_size=1, max_size=12),  # skewed: two classes only
    kind=st.sampled_from(["pil", "numpy", "torch"]),
    ratio=st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.5]) | st.floats(0, 3, allow_nan=False),
    seed=st.integers(0, 2**31),
    pixel_seed=st.integers(0, 2**32 - 1),
)
@example(labels=[], kind="pil", ratio=1.0, seed=0, pixel_seed=0)
@example(labels=[], kind="torch", ratio=2.0, seed=1, pixel_seed=0)
@example(labels=[4], kind="numpy", ratio=1.0, seed=0, pixel_seed=1)
@example(labels=[4], kind="pil", ratio=0.4, seed=0, pixel_seed=1)  # round(0.4) == 0 synthetic rows
def test_augment_batched_properties(tiny_provider, labels, kind, ratio, seed, pixel_seed):
    n = len(labels)
    images = [_as_kind(a, kind) for a in _pixels(pixel_seed, n)]
    batch = {"image": images, "label": list(labels), "id": [f"row{i}" for i in range(n)]}
    snapshot = {col: list(v) for col, v in batch.items()}

    out = ganaug.Augment(tiny_provider, ratio=ratio, seed=seed)(batch)

    k = round(ratio * n)
    assert set(out) == {"image", "label", "id", "synthetic"}
    for col, values in out.items():
        assert len(values) == n + k, col
    for col in ("image", "label", "id"):
        assert all(out[col][i] is snapshot[col][i] for i in range(n)), f"original rows of {col!r} changed"
        assert len(batch[col]) == n and all(a is b for a, b in zip(batch[col], snapshot[col], strict=True)), (
            f"the input column {col!r} was modified in place"
        )
    assert out["synthetic"] == [False] * n + [True] * k
    assert out["id"][n:] == [None] * k
    synth_images, synth_labels = out["image"][n:], out["label"][n:]
    for img in synth_images:
        _check_form(img, kind)
    assert all(type(y) is int for y in synth_labels)
    assert set(synth_labels) <= set(labels)
    for c in range(10):  # largest-remainder allocation: each class within one row of its exact share
        assert abs(Fraction(synth_labels.count(c) * n - labels.count(c) * k, max(n, 1))) < 1, (c, synth_labels)

    again = ganaug.Augment(tiny_provider, ratio=ratio, seed=seed)(batch)
    assert again["label"] == out["label"] and again["synthetic"] == out["synthetic"]
    assert [_bytes(x) for x in again["image"]] == [_bytes(x) for x in out["image"]]

    if k > 0:
        other = ganaug.Augment(tiny_provider, ratio=ratio, seed=seed + 1)(batch)
        assert [_bytes(x) for x in other["image"][:n]] == [_bytes(x) for x in out["image"][:n]]
        assert [_bytes(x) for x in other["image"][n:]] != [_bytes(x) for x in synth_images]


def test_augment_empty_batch_returns_empty_columns(tiny_provider):
    for batch in (
        {"image": [], "label": []},
        {"image": np.zeros((0, SIDE, SIDE), np.uint8), "label": np.zeros(0, np.int64)},
    ):
        out = ganaug.Augment(tiny_provider, ratio=3.0, seed=0)(batch)
        assert out == {"image": [], "label": [], "synthetic": []}


# ---------------------------------------------------------------------------------------------------------
# balance


STRING_STRATEGIES = ["auto", "not majority", "all", "minority", "not minority"]


def _expected_counts(counts: dict[int, int], strategy) -> dict[int, int]:
    """imbalanced-learn semantics, computed independently (exact arithmetic for floats)."""
    majority, minority = max(counts.values()), min(counts.values())
    first_min = min(c for c, n in counts.items() if n == minority)
    if strategy in ("auto", "not majority", "all"):
        return {c: majority for c in counts}
    if strategy == "minority":
        return {c: (majority if c == first_min else n) for c, n in counts.items()}
    if strategy == "not minority":
        return {c: (n if c == first_min else majority) for c, n in counts.items()}
    target = math.ceil(Fraction(strategy) * majority)
    return {c: max(n, target) for c, n in counts.items()}


def _png_hashes(ds) -> list[str]:
    raw = ds.cast_column("image", Image(decode=False))
    return [hashlib.sha256(v["bytes"]).hexdigest() for v in raw["image"]]


@FUZZ
@given(
    counts=st.dictionaries(st.integers(0, 9), st.integers(1, 6), min_size=2, max_size=10),
    strategy=st.sampled_from(STRING_STRATEGIES) | st.integers(1, 64).map(lambda i: i / 64),
    seed=st.integers(0, 2**31),
)
@example(counts={2: 3, 5: 1, 7: 1}, strategy="minority", seed=0)  # tied minorities: only the first (5) grows
@example(counts={2: 3, 5: 1, 7: 1}, strategy="not minority", seed=0)  # ... and only the first stays as it is
@example(counts={0: 6, 9: 6}, strategy="auto", seed=1)  # already balanced: nothing to add
@example(counts={1: 4, 3: 1}, strategy=0.25, seed=2)  # 0.25 x 4 = 1: nothing to add
def test_balance_properties(tiny_provider, counts, strategy, seed):
    classes = sorted(counts)
    labels = [c for c in classes for _ in range(counts[c])]
    labels = [labels[i] for i in np.random.default_rng(seed).permutation(len(labels))]
    n = len(labels)
    features = Features(image=Image(), label=ClassLabel(names=DIGITS))
    ds = Dataset.from_dict({"image": list(_pixels(seed % 1000, n)), "label": labels}, features=features)

    out = ganaug.balance(ds, tiny_provider, sampling_strategy=strategy, seed=seed)

    want = _expected_counts(counts, strategy)
    got = dict(zip(*np.unique(np.asarray(out["label"]), return_counts=True), strict=True))
    assert {int(c): int(v) for c, v in got.items()} == want
    assert len(out) == sum(want.values())
    expected_features = features.copy()
    expected_features["synthetic"] = Value("bool")
    assert out.features == expected_features
    assert out["synthetic"] == [False] * n + [True] * (len(out) - n)
    assert out["label"][:n] == labels
    assert _png_hashes(out.select(range(n))) == _png_hashes(ds), "original images must come back byte-identical"
    grown = {c for c in classes if want[c] > counts[c]}
    assert set(out["label"][n:]) == grown
    for img in out["image"][n:]:
        assert img.mode == "L" and img.size == (SIDE, SIDE)


def test_balance_float_strategy_exact_target(tiny_provider):
    """0.5 × majority 10 = 5: classes below 5 are raised to exactly 5, the others are left alone."""
    labels = [0] * 10 + [1] * 2 + [2] * 6
    ds = Dataset.from_dict(
        {"image": list(_pixels(0, len(labels))), "label": labels},
        features=Features(image=Image(), label=ClassLabel(names=DIGITS)),
    )
    out = ganaug.balance(ds, tiny_provider, sampling_strategy=0.5)
    assert np.bincount(out["label"], minlength=3)[:3].tolist() == [10, 5, 6]


def test_balance_float_strategy_no_float_overshoot(tiny_provider):
    labels = [0] * 25 + [1] * 1
    ds = Dataset.from_dict(
        {"image": list(_pixels(0, len(labels))), "label": labels},
        features=Features(image=Image(), label=ClassLabel(names=DIGITS)),
    )
    out = ganaug.balance(ds, tiny_provider, sampling_strategy=0.28)
    assert np.bincount(out["label"], minlength=2)[:2].tolist() == [25, 7]  # 0.28 x 25 = 7 exactly


# ---------------------------------------------------------------------------------------------------------
# SyntheticSwap


@FUZZ
@given(
    kind=st.sampled_from(["pil", "torch", "tv", "float_torch"]),
    form=st.sampled_from(["tuple", "args", "list", "dict"]),
    label=st.integers(0, 9),
    p=st.sampled_from([0.0, 1.0]) | st.floats(0, 1),
    seed=st.integers(0, 2**31),
    calls=st.integers(1, 5),
)
@example(kind="pil", form="tuple", label=3, p=0.0, seed=0, calls=3)
@example(kind="tv", form="tuple", label=3, p=1.0, seed=0, calls=3)
@example(kind="torch", form="args", label=9, p=1.0, seed=5, calls=2)
def test_synthetic_swap_properties(tiny_provider, kind, form, label, p, seed, calls):
    swap = SyntheticSwap(tiny_provider, p=p, seed=seed, buffer_size=4)
    twin = SyntheticSwap(tiny_provider, p=p, seed=seed, buffer_size=4)
    for i, arr in enumerate(_pixels(seed % 1000, calls)):
        img = _as_kind(arr, kind)
        before = _bytes(img)
        if form == "args":
            out, out_twin = swap(img, label), twin(img, label)
        else:
            sample = {"tuple": (img, label), "list": [img, label], "dict": {"image": img, "label": label, "i": i}}[form]
            out, out_twin = swap(sample), twin(sample)
        if form == "dict":
            new_img, new_label = out["image"], out["label"]
            assert out["i"] == i
        else:
            assert type(out) is (list if form == "list" else tuple) and len(out) == 2
            new_img, new_label = out[0], out[1]
        twin_img = out_twin["image"] if form == "dict" else out_twin[0]
        assert new_label is label, "the label is never touched"
        assert _bytes(img) == before, "the input image is not modified in place"
        _check_form(new_img, kind)
        assert _bytes(twin_img) == _bytes(new_img), "same seed, same swaps"
        swapped = new_img is not img
        if form != "args":
            assert (out is sample) == (not swapped), "an unswapped sample comes back as the very same object"
        if p == 0.0:
            assert not swapped
        if p == 1.0:
            assert swapped and _bytes(new_img) != before


def test_synthetic_swap_extreme_probabilities(tiny_provider):
    img = _as_kind(_pixels(7, 1)[0], "torch")
    always, never = (
        SyntheticSwap(tiny_provider, p=1.0, seed=11, buffer_size=16),
        SyntheticSwap(tiny_provider, p=0.0, seed=11),
    )
    outs = [always((img, i % 10)) for i in range(60)]
    assert all(o[0] is not img and o[1] == i % 10 for i, o in enumerate(outs))
    assert len({_bytes(o[0]) for o in outs}) == 60, "each swap draws a fresh synthetic image"
    samples = [(img, i % 10) for i in range(60)]
    assert all(never(s) is s for s in samples)
