"""Contract tests every augmenter path passes: counts reached, originals untouched (hash of every original
row), dtype and shape kept, same seed same output, pickle round-trip, features preserved, caching."""

import hashlib
import logging
import pickle

import datasets
import numpy as np
import pytest
import torch

import ganaug
from ganaug.errors import ConfigError, SpecMismatchError


def _row_hashes(ds, n=None):
    raw = ds.cast_column("image", datasets.Image(decode=False))
    rows = raw.select(range(n)) if n is not None else raw
    return [hashlib.sha256(r["image"]["bytes"] + str(r["label"]).encode()).hexdigest() for r in rows]


def test_batched_map_appends_flagged_rows_and_keeps_originals(small_ds, tiny_provider):
    aug = ganaug.Augment(tiny_provider, ratio=0.5, seed=3)
    out = small_ds.map(aug, batched=True, batch_size=40)
    assert len(out) == 200 + 5 * 20
    flags = np.asarray(out["synthetic"])
    assert flags.sum() == 100
    assert out.features == datasets.Features({**small_ds.features, "synthetic": datasets.Value("bool")})
    # originals: every row byte-identical, in order, at the head of each batch
    orig = out.filter(lambda ex: not ex["synthetic"])
    assert _row_hashes(orig) == _row_hashes(small_ds)
    # synthetic rows follow the batch label distribution: 10 classes x 2 per class per 40-row batch
    synth_labels = np.asarray(out["label"])[flags]
    assert np.bincount(synth_labels, minlength=10).tolist() == [10] * 10
    img = out[int(np.nonzero(flags)[0][0])]["image"]
    assert img.size == (28, 28) and img.mode == "L"


def test_same_seed_same_rows_other_seed_other_rows(small_ds, tiny_provider):
    a = small_ds.map(ganaug.Augment(tiny_provider, ratio=1.0, seed=1), batched=True, load_from_cache_file=False)
    b = small_ds.map(ganaug.Augment(tiny_provider, ratio=1.0, seed=1), batched=True, load_from_cache_file=False)
    c = small_ds.map(ganaug.Augment(tiny_provider, ratio=1.0, seed=2), batched=True, load_from_cache_file=False)
    assert _row_hashes(a) == _row_hashes(b)
    assert _row_hashes(a)[200:] != _row_hashes(c)[200:]


@pytest.mark.parametrize("form", ["pil", "numpy", "torch"])
def test_images_come_back_in_the_form_they_came_in(small_ds, tiny_provider, form):
    batch = small_ds[:6]
    if form == "numpy":
        batch["image"] = [np.asarray(im) for im in batch["image"]]
    elif form == "torch":
        batch["image"] = [torch.from_numpy(np.asarray(im).copy())[None] for im in batch["image"]]
    before = [im for im in batch["image"]]
    out = ganaug.Augment(tiny_provider, ratio=1.0)(dict(batch))
    assert len(out["image"]) == 12 and out["synthetic"] == [False] * 6 + [True] * 6
    for orig, back in zip(before, out["image"][:6], strict=True):
        assert back is orig
    new = out["image"][6:]
    if form == "pil":
        assert all(im.size == (28, 28) and im.mode == "L" for im in new)
    elif form == "numpy":
        assert all(isinstance(a, np.ndarray) and a.shape == (28, 28) and a.dtype == np.uint8 for a in new)
    else:
        assert all(isinstance(t, torch.Tensor) and t.shape == (1, 28, 28) and t.dtype == torch.uint8 for t in new)


def test_unbatched_map_swaps_with_probability_p(small_ds, tiny_provider):
    out = small_ds.map(ganaug.Augment(tiny_provider, p=0.5, seed=0))
    flags = np.asarray(out["synthetic"])
    assert len(out) == 200 and 60 < flags.sum() < 140
    assert out["label"] == small_ds["label"]
    keep = np.nonzero(~flags)[0].tolist()
    assert _row_hashes(out.select(keep)) == _row_hashes(small_ds.select(keep))
    assert _row_hashes(out.select(np.nonzero(flags)[0].tolist())) != _row_hashes(
        small_ds.select(np.nonzero(flags)[0].tolist())
    )
    none = small_ds.map(ganaug.Augment(tiny_provider, p=0.0))
    assert not any(none["synthetic"]) and _row_hashes(none) == _row_hashes(small_ds)


def test_pickles_small_and_fingerprints_stably(tiny_provider, tmp_path, small_ds, caplog):
    from datasets.fingerprint import Hasher

    aug = ganaug.Augment(tiny_provider, ratio=0.5, seed=1)
    blob = pickle.dumps(aug)
    assert len(blob) < 2000
    back = pickle.loads(blob)
    assert back.provider.content_hash == tiny_provider.content_hash and back.ratio == 0.5
    assert Hasher.hash(aug) == Hasher.hash(ganaug.Augment(tiny_provider, ratio=0.5, seed=1))
    assert Hasher.hash(aug) != Hasher.hash(ganaug.Augment(tiny_provider, ratio=0.5, seed=2))
    assert Hasher.hash(aug) != Hasher.hash(ganaug.Augment(tiny_provider, ratio=0.7, seed=1))
    # the cache: an on-disk dataset, the same call twice hits the cache, a different seed does not
    small_ds.save_to_disk(str(tmp_path / "ds"))
    disk = datasets.load_from_disk(str(tmp_path / "ds"))
    with caplog.at_level(logging.WARNING):
        first = disk.map(aug, batched=True)
        again = disk.map(ganaug.Augment(tiny_provider, ratio=0.5, seed=1), batched=True)
        other = disk.map(ganaug.Augment(tiny_provider, ratio=0.5, seed=2), batched=True)
    assert "couldn't be hashed" not in caplog.text and "could not be hashed" not in caplog.text
    assert first.cache_files == again.cache_files
    assert other.cache_files != first.cache_files


def test_num_proc_two(tmp_path, small_ds, tiny_provider):
    small_ds.save_to_disk(str(tmp_path / "ds"))
    disk = datasets.load_from_disk(str(tmp_path / "ds"))
    aug = ganaug.Augment(tiny_provider, ratio=1.0, seed=4)
    two = disk.map(aug, batched=True, batch_size=50, num_proc=2)
    one = disk.map(aug, batched=True, batch_size=50, load_from_cache_file=False)
    assert len(two) == 400
    assert sorted(_row_hashes(two)) == sorted(_row_hashes(one))


@pytest.mark.parametrize(
    "strategy,expected",
    [
        ("auto", {0: 8, 1: 8, 2: 8}),
        ("not majority", {0: 8, 1: 8, 2: 8}),
        ("minority", {0: 8, 1: 8, 2: 5}),
        ("not minority", {0: 8, 1: 2, 2: 8}),
        ("all", {0: 8, 1: 8, 2: 8}),
        (0.5, {0: 8, 1: 4, 2: 5}),
        ({1: 6}, {0: 8, 1: 6, 2: 5}),
        (lambda counts: {c: 10 for c in counts}, {0: 10, 1: 10, 2: 10}),
    ],
)
def test_balance_follows_imbalanced_learn_semantics(small_ds, tiny_provider, strategy, expected):
    labels = np.asarray(small_ds["label"])
    rows = np.concatenate(
        [np.nonzero(labels == 0)[0][:8], np.nonzero(labels == 1)[0][:2], np.nonzero(labels == 2)[0][:5]]
    )
    ds = small_ds.select(sorted(rows.tolist()))
    out = ganaug.balance(ds, tiny_provider, sampling_strategy=strategy, seed=0)
    counts = {int(c): int(n) for c, n in zip(*np.unique(out["label"], return_counts=True), strict=True)}
    assert counts == expected
    assert _row_hashes(out, len(ds)) == _row_hashes(ds)
    assert out["synthetic"] == [False] * len(ds) + [True] * (len(out) - len(ds))
    assert out.features == datasets.Features({**ds.features, "synthetic": datasets.Value("bool")})


def test_balance_errors_quote_class_counts(small_ds, tiny_provider):
    with pytest.raises(ConfigError, match=r"already has 20.*class counts: 0: 20"):
        ganaug.balance(small_ds, tiny_provider, sampling_strategy={0: 5})


def test_refuses_other_shapes_with_a_fix(tiny_provider):
    from PIL import Image

    rgb = {"image": [Image.new("RGB", (32, 32))], "label": [1]}
    with pytest.raises(SpecMismatchError, match="32x32 with 3 channel.*ganaug.train"):
        ganaug.Augment(tiny_provider)(rgb)
    with pytest.raises(SpecMismatchError, match="label 12 is unknown"):
        ganaug.Augment(tiny_provider)({"image": [Image.new("L", (28, 28))], "label": [12]})


def test_default_augment_uses_the_bundled_provider(small_ds):
    out = small_ds.select(range(20)).map(ganaug.augment, batched=True)
    assert len(out) == 40 and sum(out["synthetic"]) == 20
    assert ganaug.default_provider().spec.shape == (1, 28, 28)


def test_unbatched_map_shards_get_different_images_reproducibly(tmp_path, small_ds, tiny_provider):
    small_ds.select(range(40)).save_to_disk(str(tmp_path / "ds"))
    disk = datasets.load_from_disk(str(tmp_path / "ds"))

    def synthetic_by_shard():
        out = disk.map(ganaug.Augment(tiny_provider, p=1.0, seed=3), num_proc=2, load_from_cache_file=False)
        hashes = _row_hashes(out)
        return hashes[:20], hashes[20:]  # num_proc=2 gives two contiguous shards of 20 rows

    (a, b), again = synthetic_by_shard(), synthetic_by_shard()
    assert not set(a) & set(b), "the two num_proc workers handed out the same synthetic images"
    assert (a, b) == again


def test_single_torch_formatted_example_is_swapped_not_batched(small_ds, tiny_provider):
    example = small_ds.with_format("torch")[0]
    assert example["label"].ndim == 0 and example["image"].ndim == 3
    out = ganaug.Augment(tiny_provider, p=1.0, seed=0)(example)
    assert out["synthetic"] is True and int(out["label"]) == int(example["label"])
    assert isinstance(out["image"], torch.Tensor) and out["image"].shape == example["image"].shape
    assert out["image"].dtype == example["image"].dtype and not torch.equal(out["image"], example["image"])


def test_default_augment_fingerprint_follows_the_bundled_weights(tmp_path, monkeypatch):
    import shutil

    from datasets.fingerprint import Hasher

    import ganaug.provider as provider_mod
    from ganaug import checkpoint as ckpt

    before = Hasher.hash(ganaug.augment)
    assert Hasher.hash(ganaug.augment) == before  # stable for the same weights
    copy = tmp_path / "bundled"
    shutil.copytree(provider_mod.default_provider_path(), copy)
    state = ckpt.load_generator_state(copy, ckpt.read_meta(copy))
    state = {k: v + 1e-3 if v.is_floating_point() else v for k, v in state.items()}
    meta = {k: v for k, v in ckpt.read_meta(copy).items() if k not in ("generator_sha256", "format_version")}
    ckpt.save_generator(copy, state, meta)  # new weights, new hash
    monkeypatch.setattr(provider_mod, "default_provider_path", lambda: copy)
    assert Hasher.hash(ganaug.augment) != before, "datasets would serve rows cached from the old weights"
    back = pickle.loads(pickle.dumps(ganaug.augment))
    assert callable(back)


def test_encoded_image_column_passes_originals_through_and_checks_headers(small_ds, tiny_provider):
    import io

    from PIL import Image as PILImage

    from ganaug.errors import DataError

    raw = small_ds.cast_column("image", datasets.Image(decode=False))
    out = raw.map(ganaug.Augment(tiny_provider, ratio=0.5, seed=3), batched=True, batch_size=40)
    flags = np.asarray(out["synthetic"])
    orig = [r["image"]["bytes"] for r, f in zip(out, flags, strict=True) if not f]
    assert orig == [r["image"]["bytes"] for r in raw]  # byte for byte, never decoded
    synth = [r["image"] for r, f in zip(out, flags, strict=True) if f]
    assert len(synth) == 100 and all(PILImage.open(io.BytesIO(s["bytes"])).size == (28, 28) for s in synth)
    # reproducible: the batch's seed mixes in the encoded bytes (so it differs from the decoded column's rows)
    again = raw.map(
        ganaug.Augment(tiny_provider, ratio=0.5, seed=3), batched=True, batch_size=40, load_from_cache_file=False
    )
    assert [r["image"]["bytes"] for r in again] == [r["image"]["bytes"] for r in out]
    buf = io.BytesIO()
    PILImage.new("L", (32, 32)).save(buf, format="PNG")
    big = {"image": [{"bytes": buf.getvalue(), "path": None}], "label": [3]}
    with pytest.raises(SpecMismatchError, match="32x32"):
        ganaug.Augment(tiny_provider)(big)
    with pytest.raises(DataError, match="could not be read as an image"):
        ganaug.Augment(tiny_provider)({"image": [{"bytes": b"not a png", "path": None}], "label": [3]})
