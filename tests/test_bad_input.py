"""Bad-input matrix: every public entry point refuses bad input with a ganaug error that names the problem
and the fix, and the CLI turns those errors into one line on stderr and exit code 2.

Each case is (id, trigger, expected exception class, regex the message must match). Cases where the library
does not answer with a clear ganaug error would be marked ``xfail(strict=True)`` with the finding as reason
(none are left: every finding so far has been fixed in the library).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import datasets
import numpy as np
import pytest
import torch
from datasets import ClassLabel, Dataset, Features, Image, Value

import ganaug
from ganaug.checkpoint import GENERATOR_FILE, META_FILE
from ganaug.cli import main
from ganaug.data import from_arrays, load_images, resolve_dataset
from ganaug.errors import (
    CheckpointError,
    ConfigError,
    ConfigTypeError,
    DataError,
    GanaugError,
    SpecMismatchError,
)
from ganaug.models import ModelConfig
from ganaug.train import TrainConfig
from ganaug.transforms import SyntheticDataset, SyntheticSwap

DIGITS = [str(i) for i in range(10)]


# ---------------------------------------------------------------------------------------------------------
# tiny inputs


def grey(n: int, side: int = 28) -> list[np.ndarray]:
    return [np.full((side, side), 10 * i % 256, dtype=np.uint8) for i in range(n)]


def rgb(n: int, side: int = 28) -> list[np.ndarray]:
    return [np.full((side, side, 3), 10 * i % 256, dtype=np.uint8) for i in range(n)]


def ds_image_label(images, labels, label_feature=None) -> Dataset:
    feats = Features(image=Image(), label=label_feature if label_feature is not None else ClassLabel(names=DIGITS))
    return Dataset.from_dict({"image": images, "label": labels}, features=feats)


def ckpt_copy(ctx, name: str) -> Path:
    """A private copy of the shared tiny checkpoint, to damage."""
    dst = ctx.tmp / name
    shutil.copytree(ctx.provider_dir, dst)
    return dst


def edit_meta(directory: Path, edit) -> None:
    meta = json.loads((directory / META_FILE).read_text())
    edit(meta)
    (directory / META_FILE).write_text(json.dumps(meta))


# ---------------------------------------------------------------------------------------------------------
# triggers (each takes the ctx fixture)


def missing_image_column(ctx):
    ds = Dataset.from_dict(
        {"label": [0, 1], "note": ["a", "b"]},
        features=Features(label=ClassLabel(names=["0", "1"]), note=Value("string")),
    )
    load_images(ds)


def ambiguous_image_columns(ctx):
    ds = Dataset.from_dict(
        {"front": grey(2), "back": grey(2), "label": [0, 1]},
        features=Features(front=Image(), back=Image(), label=ClassLabel(names=["0", "1"])),
    )
    load_images(ds)


def missing_label_column(ctx):
    load_images(Dataset.from_dict({"image": grey(2)}, features=Features(image=Image())))


def ambiguous_label_columns(ctx):
    ds = Dataset.from_dict(
        {"image": grey(2), "coarse": [0, 1], "fine": [1, 0]},
        features=Features(image=Image(), coarse=ClassLabel(names=["a", "b"]), fine=ClassLabel(names=["c", "d"])),
    )
    load_images(ds)


def classlabel_minus_one(ctx):
    load_images(ds_image_label(grey(4), [0, 1, -1, 1], ClassLabel(names=["a", "b"])))


def classlabel_beyond_names(ctx):
    ds = ds_image_label(grey(4), [0, 1, 5, 1], Value("int64")).cast_column("label", ClassLabel(names=["a", "b"]))
    load_images(ds)


def float_labels_named_column(ctx):
    load_images(ds_image_label(grey(4), [0.5, 1.0, 0.0, 1.0], Value("float32")), label_column="label")


def float_labels_autodetected(ctx):
    load_images(ds_image_label(grey(4), [0.5, 1.0, 0.0, 1.0], Value("float32")))


def string_labels(ctx):
    load_images(ds_image_label(grey(4), ["cat", "dog", "cat", "dog"], Value("string")))


def single_class(ctx):
    ganaug.train(ds_image_label(grey(4), [3, 3, 3, 3]), ctx.tmp / "out", steps=1, progress=False)


def empty_dataset(ctx):
    load_images(ds_image_label([], []))


def mixed_image_sizes(ctx):
    load_images(ds_image_label(grey(1) + grey(1, side=32), [0, 1]))


def images_too_small(ctx):
    load_images(ds_image_label(grey(2, side=4), [0, 1]))


def train_unwritable_out(ctx):
    blocker = ctx.tmp / "afile"
    blocker.write_text("a regular file, not a directory")
    ganaug.train(ctx.small_ds, blocker / "out", steps=1, progress=False)


def train_resume_without_state(ctx):
    ganaug.train(ctx.small_ds, ctx.tmp / "fresh", steps=1, resume=True, progress=False)


def _require_offline() -> None:
    if not datasets.config.HF_HUB_OFFLINE:  # online, the hub answers 'not found' (FileNotFoundError) instead
        pytest.skip("needs HF offline mode, which conftest.py sets by default")


def hub_name_offline(ctx):
    _require_offline()
    resolve_dataset("hub:no_such_dataset_ganaug_test")


# -- Augment -----------------------------------------------------------------------------------------------


def aug(ctx, **kw):
    return ganaug.Augment(ctx.provider, **kw)


def augment_rgb_for_grey(ctx):
    aug(ctx)({"image": rgb(2), "label": [0, 1]})


def augment_wrong_size(ctx):
    aug(ctx)({"image": grey(2, side=32), "label": [0, 1]})


def augment_label_beyond_provider(ctx):
    aug(ctx)({"image": grey(2), "label": [0, 10]})


def augment_float_label(ctx):
    aug(ctx)({"image": grey(2), "label": [0, 1.5]})


def augment_no_image_column(ctx):
    aug(ctx)({"pic": grey(2), "label": [0, 1]})


def augment_two_image_columns(ctx):
    aug(ctx)({"image": grey(2), "img": grey(2), "label": [0, 1]})


def augment_no_label_column(ctx):
    aug(ctx)({"image": grey(2)})


# -- balance -----------------------------------------------------------------------------------------------


def imbalanced(ctx) -> Dataset:
    return ds_image_label(grey(5), [0, 0, 0, 1, 2])


def balance_rgb_for_grey(ctx):
    ganaug.balance(ds_image_label(rgb(3), [0, 1, 1]), ctx.provider)


def balance_empty(ctx):
    ganaug.balance(ds_image_label([], []), ctx.provider)


def balance_label_beyond_provider(ctx):
    names = [str(i) for i in range(12)]
    ganaug.balance(ds_image_label(grey(3), [0, 1, 11], ClassLabel(names=names)), ctx.provider)


def balance_missing_label_rows(ctx):
    ganaug.balance(ds_image_label(grey(3), [0, 1, -1]), ctx.provider)


def balance_string_labels(ctx):
    ganaug.balance(ds_image_label(grey(3), ["cat", "dog", "cat"], Value("string")), ctx.provider)


def balance_dict_below_existing(ctx):
    ganaug.balance(imbalanced(ctx), ctx.provider, sampling_strategy={0: 2})


def balance_unknown_strategy(ctx):
    ganaug.balance(imbalanced(ctx), ctx.provider, sampling_strategy="most")


def balance_dict_unknown_class(ctx):
    ganaug.balance(imbalanced(ctx), ctx.provider, sampling_strategy={"cat": 10})


def balance_dataset_dict(ctx):
    ganaug.balance(datasets.DatasetDict(train=imbalanced(ctx)), ctx.provider)


# -- SyntheticSwap / SyntheticDataset / Provider -------------------------------------------------------------


def swap_rgb_for_grey(ctx):
    SyntheticSwap(ctx.provider, p=1.0, seed=0)(torch.zeros(3, 28, 28, dtype=torch.uint8), 1)


def swap_float_label(ctx):
    SyntheticSwap(ctx.provider, p=1.0, seed=0)(torch.zeros(1, 28, 28, dtype=torch.uint8), 1.5)


def swap_string_label(ctx):
    SyntheticSwap(ctx.provider, p=1.0, seed=0)(torch.zeros(1, 28, 28, dtype=torch.uint8), "cat")


# -- checkpoints -------------------------------------------------------------------------------------------


def ckpt_missing(ctx):
    ganaug.load_provider(ctx.tmp / "no_such_checkpoint")


def ckpt_without_meta(ctx):
    d = ckpt_copy(ctx, "nometa")
    (d / META_FILE).unlink()
    ganaug.load_provider(d)


def ckpt_without_weights(ctx):
    d = ckpt_copy(ctx, "noweights")
    (d / GENERATOR_FILE).unlink()
    ganaug.load_provider(d)


def ckpt_truncated(ctx):
    d = ckpt_copy(ctx, "truncated")
    data = (d / GENERATOR_FILE).read_bytes()
    (d / GENERATOR_FILE).write_bytes(data[: len(data) // 2])
    ganaug.load_provider(d)


def ckpt_byte_flipped(ctx):
    d = ckpt_copy(ctx, "flipped")
    data = bytearray((d / GENERATOR_FILE).read_bytes())
    data[len(data) - 100] ^= 0xFF  # inside the tensor data, past the header
    (d / GENERATOR_FILE).write_bytes(bytes(data))
    ganaug.load_provider(d)


def ckpt_newer_format(ctx):
    d = ckpt_copy(ctx, "newer")
    edit_meta(d, lambda m: m.update(format_version=m["format_version"] + 1))
    ganaug.load_provider(d)


def ckpt_meta_not_json(ctx):
    d = ckpt_copy(ctx, "notjson")
    (d / META_FILE).write_text('{"format_version": 1, "spec": ')
    ganaug.load_provider(d)


def ckpt_meta_width_mismatch(ctx):
    """meta.json says g_width=16 while the (hash-valid) weights were trained with g_width=8."""
    d = ckpt_copy(ctx, "width")

    def edit(m):
        assert m["model"]["g_width"] != 16
        m["model"]["g_width"] = 16
        m["generator_sha256"] = hashlib.sha256((d / GENERATOR_FILE).read_bytes()).hexdigest()

    edit_meta(d, edit)
    ganaug.load_provider(d)


def ckpt_meta_arch_mismatch(ctx):
    d = ckpt_copy(ctx, "arch")
    edit_meta(d, lambda m: m["model"].update(arch="projection"))
    ganaug.load_provider(d)


def ckpt_trainer_state_missing(ctx):
    d = ckpt_copy(ctx, "notrainer")
    (d / "trainer.pt").unlink()
    ganaug.checkpoint.load_trainer_state(d)


# -- from_arrays -------------------------------------------------------------------------------------------


def arrays_nan(ctx):
    imgs = np.zeros((2, 28, 28), dtype=np.float32)
    imgs[1, 3, 4] = np.nan
    from_arrays(imgs, [0, 1])


def arrays_inf(ctx):
    imgs = np.zeros((2, 28, 28), dtype=np.float64)
    imgs[0, 0, 0] = np.inf
    from_arrays(imgs, [0, 1])


CASES = [
    # columns
    (
        "missing-image-column",
        missing_image_column,
        DataError,
        r"no image column found among \['label', 'note'\]; pass image_column=",
    ),
    (
        "named-image-column-absent",
        lambda c: ganaug.train(c.small_ds, c.tmp / "o", image_column="pixels", steps=1, progress=False),
        DataError,
        r"image column 'pixels' not found; the dataset has the columns \['image', 'label'\]",
    ),
    (
        "ambiguous-image-columns",
        ambiguous_image_columns,
        DataError,
        r"several possible image columns \['front', 'back'\]; pass image_column=",
    ),
    (
        "missing-label-column",
        missing_label_column,
        DataError,
        r"no label column found among \['image'\]; pass label_column=",
    ),
    (
        "ambiguous-label-columns",
        ambiguous_label_columns,
        DataError,
        r"several possible label columns \['coarse', 'fine'\]; pass label_column=",
    ),
    (
        "augment-no-image-column",
        augment_no_image_column,
        DataError,
        r"no image column among \['pic', 'label'\]; pass image_column= to Augment",
    ),
    (
        "augment-two-image-columns",
        augment_two_image_columns,
        DataError,
        r"several possible image columns \['image', 'img'\]; pass image_column=",
    ),
    ("augment-no-label-column", augment_no_label_column, DataError, r"no label column .*pass label_column= to Augment"),
    # labels
    ("classlabel-minus-one", classlabel_minus_one, DataError, r"label -1 at row 2.*missing label.*drop those rows"),
    (
        "classlabel-beyond-names",
        classlabel_beyond_names,
        DataError,
        r"label 5 at row 2 of column 'label' is outside 0\.\.1",
    ),
    (
        "float-labels-named-column",
        float_labels_named_column,
        DataError,
        r"'label' has dtype float32; labels must be integers.*ClassLabel",
    ),
    (
        "float-labels-autodetected",
        float_labels_autodetected,
        DataError,
        r"'label'.*float",
    ),
    (
        "string-labels",
        string_labels,
        DataError,
        r"\['label'\] hold strings\. Encode them first with ds = ds\.class_encode_column\('label'\)",
    ),
    (
        "from-arrays-float-labels",
        lambda c: from_arrays(np.zeros((2, 28, 28), np.uint8), [0.5, 1.0]),
        DataError,
        r"non-integer labels; labels must be integers 0\.\.K-1",
    ),
    (
        "from-arrays-negative-label",
        lambda c: from_arrays(np.zeros((3, 28, 28), np.uint8), [0, 1, -2]),
        DataError,
        r"label -2 at row 2; labels must be 0\.\.K-1",
    ),
    (
        "from-arrays-too-few-names",
        lambda c: from_arrays(np.zeros((3, 28, 28), np.uint8), [0, 1, 5], class_names=["a", "b"]),
        DataError,
        r"labels go up to 5 but only 2 class names were given",
    ),
    (
        "augment-label-beyond-provider",
        augment_label_beyond_provider,
        SpecMismatchError,
        r"label 10 is unknown to this provider, which knows 0\.\.9.*train a provider",
    ),
    (
        "augment-float-label",
        augment_float_label,
        DataError,
        r"column 'label' holds 1\.5; labels must be integers 0\.\.K-1",
    ),
    (
        "balance-label-beyond-provider",
        balance_label_beyond_provider,
        SpecMismatchError,
        r"label 11 is unknown to this provider, which knows 0\.\.9",
    ),
    (
        "balance-missing-label-rows",
        balance_missing_label_rows,
        DataError,
        r"label -1.*(missing|drop)",
    ),
    ("balance-string-labels", balance_string_labels, DataError, r"hold strings\. Encode them first"),
    # image shapes
    (
        "augment-rgb-for-grey",
        augment_rgb_for_grey,
        SpecMismatchError,
        r"28x28 with 3 channel\(s\), but this provider makes 28x28 images with 1 channel\(s\); train a provider",
    ),
    (
        "balance-rgb-for-grey",
        balance_rgb_for_grey,
        SpecMismatchError,
        r"28x28 with 3 channel\(s\), but this provider makes 28x28 images with 1 channel\(s\); train a provider",
    ),
    (
        "swap-rgb-for-grey",
        swap_rgb_for_grey,
        SpecMismatchError,
        r"28x28 with 3 channel\(s\), but this provider makes 28x28 images with 1 channel\(s\); train a provider",
    ),
    (
        "augment-wrong-size",
        augment_wrong_size,
        SpecMismatchError,
        r"32x32 with 1 channel\(s\), but this provider makes 28x28",
    ),
    (
        "mixed-image-sizes",
        mixed_image_sizes,
        DataError,
        r"row 1 of column 'image' is 32x32 px but row 0 is 28x28; .*resize them",
    ),
    ("images-too-small", images_too_small, DataError, r"image size 4x4 is outside the supported 8\.\.256 px.*resize"),
    # empty / single class
    ("empty-dataset", empty_dataset, DataError, r"the dataset is empty"),
    ("balance-empty-dataset", balance_empty, DataError, r"the dataset is empty; there are no classes to balance"),
    (
        "from-arrays-empty",
        lambda c: from_arrays(np.zeros((0, 28, 28), np.uint8), []),
        DataError,
        r"images are empty; give at least one image",
    ),
    (
        "single-class",
        single_class,
        DataError,
        r"holds a single class \(3\); a class-conditional GAN needs at least 2 classes",
    ),
    # Augment / SyntheticSwap parameters
    (
        "augment-ratio-negative",
        lambda c: aug(c, ratio=-0.5),
        ConfigError,
        r"ratio must be a finite number >= 0.*got -0\.5",
    ),
    (
        "augment-ratio-nan",
        lambda c: aug(c, ratio=float("nan")),
        ConfigError,
        r"ratio must be a finite number >= 0.*got nan",
    ),
    (
        "augment-ratio-inf",
        lambda c: aug(c, ratio=float("inf")),
        ConfigError,
        r"ratio must be a finite number >= 0.*got inf",
    ),
    ("augment-p-above-one", lambda c: aug(c, p=1.5), ConfigError, r"p must be a probability in \[0, 1\], got 1\.5"),
    (
        "swap-p-negative",
        lambda c: SyntheticSwap(c.provider, p=-0.1),
        ConfigError,
        r"p must be a probability in \[0, 1\], got -0\.1",
    ),
    (
        "swap-p-nan",
        lambda c: SyntheticSwap(c.provider, p=float("nan")),
        ConfigError,
        r"p must be a probability in \[0, 1\], got nan",
    ),
    # seeds
    ("augment-seed-negative", lambda c: aug(c, seed=-1), ConfigError, r"seed must be a non-negative integer, got -1"),
    (
        "balance-seed-negative",
        lambda c: ganaug.balance(imbalanced(c), c.provider, seed=-1),
        ConfigError,
        r"seed must be a non-negative integer, got -1",
    ),
    (
        "swap-seed-negative",
        lambda c: SyntheticSwap(c.provider, seed=-3),
        ConfigError,
        r"seed must be a non-negative integer or None, got -3",
    ),
    (
        "synthetic-dataset-seed-negative",
        lambda c: SyntheticDataset(c.provider, per_class=1, seed=-1),
        ConfigError,
        r"seed must be a non-negative integer, got -1",
    ),
    (
        "trainconfig-seed-negative",
        lambda c: TrainConfig(seed=-1),
        ConfigError,
        r"seed must be a non-negative integer, got -1",
    ),
    (
        "provider-sample-seed-negative",
        lambda c: c.provider.sample([1], seed=-1),
        ConfigError,
        r"seed",
    ),
    # sampling strategies
    (
        "strategy-dict-below-existing",
        balance_dict_below_existing,
        ConfigError,
        r"asks for 2 samples of class 0, which already has 3; balance only adds rows.*Ask for at least 3",
    ),
    (
        "strategy-unknown-string",
        balance_unknown_strategy,
        ConfigError,
        r"sampling_strategy 'most' is unknown; use one of \('auto'",
    ),
    (
        "strategy-float-above-one",
        lambda c: ganaug.balance(imbalanced(c), c.provider, sampling_strategy=1.5),
        ConfigError,
        r"float sampling_strategy .* in \(0, 1\], got 1\.5",
    ),
    (
        "strategy-float-zero",
        lambda c: ganaug.balance(imbalanced(c), c.provider, sampling_strategy=0.0),
        ConfigError,
        r"float sampling_strategy .* in \(0, 1\], got 0\.0",
    ),
    (
        "strategy-float-nan",
        lambda c: ganaug.balance(imbalanced(c), c.provider, sampling_strategy=float("nan")),
        ConfigError,
        r"float sampling_strategy .* in \(0, 1\], got nan",
    ),
    (
        "strategy-dict-unknown-class",
        balance_dict_unknown_class,
        SpecMismatchError,
        r"label 'cat' is unknown to this provider; it knows 0\.\.9",
    ),
    (
        "balance-dataset-dict",
        balance_dataset_dict,
        ConfigTypeError,
        r"balance takes a datasets\.Dataset, got DatasetDict; pick a split first",
    ),
    # checkpoints
    (
        "checkpoint-missing",
        ckpt_missing,
        CheckpointError,
        r"checkpoint directory .*no_such_checkpoint' does not exist; train one with ganaug\.train",
    ),
    (
        "checkpoint-without-meta",
        ckpt_without_meta,
        CheckpointError,
        r"holds no meta\.json; it is not a ganaug checkpoint",
    ),
    (
        "checkpoint-without-weights",
        ckpt_without_weights,
        CheckpointError,
        r"holds meta\.json but no generator\.safetensors; the checkpoint is incomplete",
    ),
    (
        "checkpoint-truncated",
        ckpt_truncated,
        CheckpointError,
        r"generator\.safetensors does not match the hash recorded in meta\.json"
        r".*truncated, replaced or tampered with; retrain or restore it",
    ),
    (
        "checkpoint-byte-flipped",
        ckpt_byte_flipped,
        CheckpointError,
        r"generator\.safetensors does not match the hash recorded in meta\.json.*tampered with",
    ),
    (
        "checkpoint-newer-format",
        ckpt_newer_format,
        CheckpointError,
        r"checkpoint format 2, newer than this ganaug .* reads \(format 1\); upgrade ganaug",
    ),
    (
        "checkpoint-meta-not-json",
        ckpt_meta_not_json,
        CheckpointError,
        r"meta\.json is not valid JSON .*the checkpoint is damaged",
    ),
    (
        "checkpoint-meta-arch-mismatch",
        ckpt_meta_arch_mismatch,
        CheckpointError,
        r"does not match the model in meta\.json: missing .*the weights and meta come from different runs",
    ),
    (
        "checkpoint-meta-width-mismatch",
        ckpt_meta_width_mismatch,
        CheckpointError,
        r"do not fit the model in meta\.json.*size mismatch",
    ),
    (
        "trainer-state-missing",
        ckpt_trainer_state_missing,
        CheckpointError,
        r"nothing to resume: .*trainer\.pt does not exist; start without resume",
    ),
    (
        "train-resume-without-state",
        train_resume_without_state,
        CheckpointError,
        r"resume=True but .*trainer\.pt does not exist; train without resume first",
    ),
    # arrays
    ("from-arrays-nan", arrays_nan, DataError, r"images contains NaN or infinite values; clean the data first"),
    ("from-arrays-inf", arrays_inf, DataError, r"images contains NaN or infinite values; clean the data first"),
    (
        "from-arrays-length-mismatch",
        lambda c: from_arrays(np.zeros((3, 28, 28), np.uint8), [0, 1]),
        DataError,
        r"3 images but 2 labels; give one label per image",
    ),
    # output directory
    (
        "train-unwritable-out",
        train_unwritable_out,
        ConfigError,
        r"cannot create the output directory .*afile/out'.*choose a writable path",
    ),
    # provider.sample / sample_counts / SyntheticDataset
    (
        "sample-unknown-label",
        lambda c: c.provider.sample([3, 10]),
        SpecMismatchError,
        r"label 10 is unknown to this provider, which knows 0\.\.9",
    ),
    (
        "sample-negative-label",
        lambda c: c.provider.sample([-1]),
        SpecMismatchError,
        r"label -1 is unknown to this provider",
    ),
    (
        "sample-float-labels",
        lambda c: c.provider.sample([0.5, 1.0]),
        ConfigTypeError,
        r"labels must be integers, got dtype float64",
    ),
    (
        "sample-float-tensor-labels",
        lambda c: c.provider.sample(torch.tensor([1.0, 2.0])),
        ConfigTypeError,
        r"labels must be integers, got dtype torch\.float32",
    ),
    (
        "sample-counts-negative",
        lambda c: c.provider.sample_counts({0: 2, 1: -1}),
        ConfigError,
        r"count for label 1 must be a non-negative integer, got -1",
    ),
    (
        "sample-counts-unknown-name",
        lambda c: c.provider.sample_counts({"cat": 1}),
        SpecMismatchError,
        r"label 'cat' is unknown to this provider",
    ),
    (
        "synthetic-dataset-counts-and-per-class",
        lambda c: SyntheticDataset(c.provider, counts={0: 1}, per_class=1),
        ConfigError,
        r"give exactly one of counts=\{label: n\} or per_class=n",
    ),
    (
        "swap-float-label",
        swap_float_label,
        GanaugError,
        r"integer",
    ),
    (
        "swap-string-label",
        swap_string_label,
        GanaugError,
        r"cat",
    ),
    # training and model settings
    ("trainconfig-steps-zero", lambda c: TrainConfig(steps=0), ConfigError, r"steps must be a positive integer, got 0"),
    ("trainconfig-lr-g-two", lambda c: TrainConfig(lr_g=2), ConfigError, r"lr_g must be a number in \(0, 1\), got 2"),
    (
        "trainconfig-unknown-loss",
        lambda c: TrainConfig(loss="wgan"),
        ConfigError,
        r"loss must be one of \('bce', 'hinge'\), got 'wgan'",
    ),
    (
        "trainconfig-unknown-diffaug",
        lambda c: TrainConfig(diffaug="translation,zoom"),
        ConfigError,
        r"unknown DiffAugment policy \['zoom'\]; allowed: \['color', 'translation', 'cutout'\]",
    ),
    (
        "trainconfig-mode-seeking-negative",
        lambda c: TrainConfig(mode_seeking=-1),
        ConfigError,
        r"mode_seeking must be a number in \[0, 100\] \(0 turns it off\), got -1",
    ),
    (
        "trainconfig-real-augment-above-one",
        lambda c: TrainConfig(real_augment=1.5),
        ConfigError,
        r"real_augment must be a share in \[0, 1\] \(0 turns it off\), got 1.5",
    ),
    (
        "trainconfig-mode-seeking-tiny-batch",
        lambda c: TrainConfig(mode_seeking=1.0, batch_size=2),
        ConfigError,
        r"mode_seeking needs batch_size >= 4 \(pairs of samples\), got 2",
    ),
    (
        "trainconfig-batch-size-one",
        lambda c: TrainConfig(batch_size=1),
        ConfigError,
        r"batch_size must be an integer >= 2, got 1",
    ),
    (
        "train-steps-kwarg-zero",
        lambda c: ganaug.train(c.small_ds, c.tmp / "o", steps=0, progress=False),
        ConfigError,
        r"steps must be a positive integer, got 0",
    ),
    (
        "modelconfig-unknown-arch",
        lambda c: ModelConfig(arch="resnet"),
        ConfigError,
        r"arch must be one of \('dcgan', 'projection', 'pair'\), got 'resnet'",
    ),
    # the pair GAN: settings it cannot honour, and what a label-conditioned provider cannot do
    (
        "modelconfig-redraw-without-pair",
        lambda c: ModelConfig(arch="dcgan", redraw=1.0),
        ConfigError,
        r"redraw applies to arch='pair' only",
    ),
    (
        "train-pair-real-augment",
        lambda c: ganaug.train(
            c.small_ds, c.tmp / "o", config=TrainConfig(real_augment=0.25), model=ModelConfig(arch="pair")
        ),
        ConfigError,
        r"real_augment does not apply to arch='pair' .*; set it to 0",
    ),
    (
        "train-pair-not-class-balanced",
        lambda c: ganaug.train(
            c.small_ds, c.tmp / "o", config=TrainConfig(class_balanced=False), model=ModelConfig(arch="pair")
        ),
        ConfigError,
        r"class_balanced=False does not apply to arch='pair'.*leave class_balanced at True",
    ),
    (
        "vary-with-a-label-provider",
        lambda c: c.provider.vary(c.small_ds.select(range(2))["image"]),
        ConfigError,
        r"cannot vary given images; use provider\.sample\(labels\), or train one with arch='pair'",
    ),
    # data sources
    (
        "nonexistent-local-path",
        lambda c: resolve_dataset("/nonexistent/dir"),
        DataError,
        r"no dataset found at '/nonexistent/dir'.*check the name or path",
    ),
    (
        "hub-name-offline",
        hub_name_offline,
        DataError,
        r"could not load the dataset 'no_such_dataset_ganaug_test'",
    ),
    (
        "bare-name-typo-never-reaches-the-hub",
        lambda c: resolve_dataset("mnist_mini"),
        DataError,
        r"'mnist_mini' is neither a local directory nor a bundled dataset .*did you mean 'mnist-mini'\? "
        r".*'hub:mnist_mini'",
    ),
]


@pytest.fixture
def ctx(tiny_provider, tiny_provider_dir, small_ds, tmp_path):
    return SimpleNamespace(
        provider=tiny_provider, provider_dir=Path(tiny_provider_dir), small_ds=small_ds, tmp=tmp_path
    )


def test_matrix_is_large_enough():
    assert len(CASES) >= 35
    ids = [c.values[0] if hasattr(c, "values") else c[0] for c in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("case_id", "trigger", "exc_type", "pattern"),
    CASES,
    ids=[c.values[0] if hasattr(c, "values") else c[0] for c in CASES],
)
def test_bad_input_raises_ganaug_error(case_id, trigger, exc_type, pattern, ctx):
    assert issubclass(exc_type, GanaugError)
    with pytest.raises(exc_type, match=pattern) as info:
        trigger(ctx)
    err = info.value
    assert isinstance(err, GanaugError)
    assert isinstance(err, ValueError | TypeError), "ganaug errors are ValueError/TypeError subclasses"
    assert "\n" not in str(err), "the CLI prints errors as one line"


def test_shared_checkpoint_untouched(tiny_provider_dir, tiny_provider):
    """The damaging cases work on copies: the session checkpoint still loads and has its hash."""
    again = ganaug.load_provider(tiny_provider_dir)
    assert again.content_hash == tiny_provider.content_hash
    assert hashlib.sha256((Path(tiny_provider_dir) / GENERATOR_FILE).read_bytes()).hexdigest() == again.content_hash


# ---------------------------------------------------------------------------------------------------------
# the CLI: ganaug errors become one line on stderr and exit code 2; argparse errors are its usual usage + error


@pytest.fixture(scope="module")
def ds_dir(tmp_path_factory, small_ds):
    d = tmp_path_factory.mktemp("cli_ds") / "ds"
    small_ds.save_to_disk(str(d))
    return d


def _tampered(provider_dir: Path, tmp: Path) -> Path:
    d = tmp / "tampered"
    shutil.copytree(provider_dir, d)
    data = bytearray((d / GENERATOR_FILE).read_bytes())
    data[-1] ^= 0x01
    (d / GENERATOR_FILE).write_bytes(bytes(data))
    return d


# (id, argv builder(ctx) -> list, kind: "ganaug" | "argparse", regex for the error line)
CLI_CASES = [
    (
        "train-pair-real-augment",
        lambda c: ["train", str(c.ds_dir), "--out", str(c.out), "--arch", "pair", "--real-augment", "0.25"],
        "ganaug",
        r"real_augment does not apply to arch='pair'",
    ),
    (
        "train-redraw-without-pair",
        lambda c: ["train", str(c.ds_dir), "--out", str(c.out), "--redraw", "1.0"],
        "ganaug",
        r"redraw applies to arch='pair' only",
    ),
    (
        "sample-missing-checkpoint",
        lambda c: ["sample", str(c.tmp / "nope"), "--counts", "0:2", "--out", str(c.out)],
        "ganaug",
        r"checkpoint directory .*nope' does not exist; train one with ganaug\.train",
    ),
    (
        "sample-tampered-checkpoint",
        lambda c: ["sample", str(_tampered(c.provider_dir, c.tmp)), "--counts", "0:2", "--out", str(c.out)],
        "ganaug",
        r"does not match the hash recorded in meta\.json",
    ),
    (
        "sample-bad-counts",
        lambda c: ["sample", str(c.provider_dir), "--counts", "0-2", "--out", str(c.out)],
        "argparse",
        r"^ganaug sample: error: argument --counts: --counts expects LABEL:N pairs .*got '0-2'$",
    ),
    (
        "sample-unknown-label",
        lambda c: ["sample", str(c.provider_dir), "--counts", "3:2,12:3", "--out", str(c.out)],
        "ganaug",
        r"label 12 is unknown to this provider; it knows 0\.\.9",
    ),
    (
        "balance-unknown-strategy",
        lambda c: [
            "balance",
            str(c.ds_dir),
            "--provider",
            str(c.provider_dir),
            "--sampling-strategy",
            "most",
            "--out",
            str(c.out),
        ],
        "ganaug",
        r"sampling_strategy 'most' is unknown; use one of",
    ),
    (
        "balance-bad-json-strategy",
        lambda c: [
            "balance",
            str(c.ds_dir),
            "--provider",
            str(c.provider_dir),
            "--sampling-strategy",
            "{0: 5",
            "--out",
            str(c.out),
        ],
        "ganaug",
        r"--sampling-strategy '\{0: 5' is not a JSON object of label: count",
    ),
    (
        "balance-float-strategy-above-one",
        lambda c: [
            "balance",
            str(c.ds_dir),
            "--provider",
            str(c.provider_dir),
            "--sampling-strategy",
            "1.5",
            "--out",
            str(c.out),
        ],
        "ganaug",
        r"float sampling_strategy .* in \(0, 1\], got 1\.5",
    ),
    (
        "train-steps-zero",
        lambda c: ["train", str(c.ds_dir), "--out", str(c.out), "--steps", "0", "--no-progress"],
        "ganaug",
        r"steps must be a positive integer, got 0",
    ),
    (
        "train-nonexistent-path",
        lambda c: ["train", "/nonexistent/dir", "--out", str(c.out), "--steps", "1", "--no-progress"],
        "ganaug",
        r"no dataset found at '/nonexistent/dir'.*check the name or path",
    ),
    (
        "train-out-under-a-file",
        lambda c: ["train", str(c.ds_dir), "--out", str(c.blocker / "out"), "--steps", "1", "--no-progress"],
        "ganaug",
        r"cannot create the output directory .*choose a writable path",
    ),
    (
        "train-unknown-diffaug",
        lambda c: ["train", str(c.ds_dir), "--out", str(c.out), "--steps", "1", "--diffaug", "zoom"],
        "ganaug",
        r"unknown DiffAugment policy \['zoom'\]",
    ),
    (
        "train-unknown-loss",
        lambda c: ["train", str(c.ds_dir), "--out", str(c.out), "--loss", "wgan"],
        "argparse",
        r"^ganaug train: error: argument --loss: invalid choice: 'wgan'",
    ),
    (
        "train-hub-name-offline",
        lambda c: (
            _require_offline()
            or ["train", "hub:no_such_dataset_ganaug_test", "--out", str(c.out), "--steps", "1", "--no-progress"]
        ),
        "ganaug",
        r"no_such_dataset_ganaug_test",
    ),
]


@pytest.mark.parametrize(
    ("case_id", "argv", "kind", "pattern"),
    CLI_CASES,
    ids=[c.values[0] if hasattr(c, "values") else c[0] for c in CLI_CASES],
)
def test_cli_bad_invocation(case_id, argv, kind, pattern, capsys, tmp_path, tiny_provider_dir, ds_dir):
    blocker = tmp_path / "afile"
    blocker.write_text("not a directory")
    c = SimpleNamespace(
        tmp=tmp_path, out=tmp_path / "out", provider_dir=Path(tiny_provider_dir), ds_dir=ds_dir, blocker=blocker
    )
    args = argv(c)
    capsys.readouterr()
    if kind == "argparse":
        with pytest.raises(SystemExit) as info:
            main(args)
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith(f"usage: ganaug {args[0]} ")
        assert re.search(pattern, err.strip().splitlines()[-1]), err
    else:
        rc = main(args)
        err = capsys.readouterr().err
        assert rc == 2, err
        assert err.endswith("\n") and err.count("\n") == 1, f"expected one line on stderr, got {err!r}"
        assert err.startswith("ganaug: error: ")
        assert re.search(pattern, err), err
    assert "Traceback" not in err
    assert not c.out.exists(), "a failed command must not leave an output behind"
