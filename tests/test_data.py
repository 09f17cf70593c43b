import datasets
import numpy as np
import pytest
import torch
from PIL import Image

from ganaug import data
from ganaug.errors import DataError


def test_mnist_mini_has_the_hub_schema_and_counts():
    train, test = data.mnist_mini("train"), data.mnist_mini("test")
    assert len(train) == 5000 and len(test) == 10000
    for ds in (train, test):
        assert isinstance(ds.features["image"], datasets.Image)
        assert ds.features["label"].names == [str(i) for i in range(10)]
    assert np.bincount(train["label"]).tolist() == [500] * 10
    assert np.bincount(test["label"]).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    img = train[0]["image"]
    assert img.size == (28, 28) and img.mode == "L"


def test_load_images_returns_uint8_nchw_and_spec(small_ds):
    li = data.load_images(small_ds)
    assert li.images.dtype == torch.uint8 and li.images.shape == (200, 1, 28, 28)
    assert li.labels.dtype == torch.int64 and li.class_counts() == [20] * 10
    assert li.spec == data.ImageSpec(1, 28, 28, 10, tuple(str(i) for i in range(10)))
    assert li.fingerprint() == data.load_images(small_ds).fingerprint()
    # pixels are exactly the stored ones
    assert np.array_equal(li.images[0, 0].numpy(), np.asarray(small_ds[0]["image"]))


def test_sklearn_digits_source():
    li = data.load_images("sklearn-digits")
    assert li.images.shape == (1797, 1, 8, 8) and li.spec.num_classes == 10
    assert int(li.images.max()) == 255


def test_image_folder_and_save_to_disk_and_datasetdict(tmp_path, small_ds):
    root = tmp_path / "folder"
    for i in range(12):
        cls = "cat" if i % 2 else "dog"
        (root / cls).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((16, 16, 3), i * 10, np.uint8)).save(root / cls / f"{i}.png")
    li = data.load_images(str(root))
    assert li.images.shape == (12, 3, 16, 16) and li.spec.class_names == ("cat", "dog")
    small_ds.save_to_disk(str(tmp_path / "saved"))
    assert len(data.load_images(str(tmp_path / "saved"))) == 200
    dd = datasets.DatasetDict({"train": small_ds.select(range(50)), "test": small_ds.select(range(50, 60))})
    assert len(data.load_images(dd)) == 50
    assert len(data.load_images(dd, split="test")) == 10


def test_from_arrays_layouts_and_ranges():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (6, 10, 12), dtype=np.uint8)
    y = np.array([0, 1, 0, 1, 2, 2])
    for arr in (x, x[..., None], x[:, None], x.astype(np.float32) / 255.0):
        li = data.load_images(data.from_arrays(arr, y))
        assert li.images.shape == (6, 1, 10, 12)
        assert np.array_equal(li.images[:, 0].numpy(), x)
    assert data.load_images(data.from_arrays(x, y, class_names=["a", "b", "c"])).spec.class_names == ("a", "b", "c")


def test_integer_label_column_without_classlabel_and_overrides():
    ds = datasets.Dataset.from_dict({"pixels": [np.zeros((8, 8), np.uint8).tolist()] * 4, "y": [0, 1, 1, 0]})
    li = data.load_images(ds)
    assert li.image_column == "pixels" and li.label_column == "y" and li.spec.num_classes == 2
    ds2 = ds.rename_column("y", "kind").add_column("other", [3, 4, 5, 6])
    with pytest.raises(DataError, match="several possible label columns"):
        data.load_images(ds2)
    assert data.load_images(ds2, label_column="kind").label_column == "kind"
    # a name hint settles the ambiguity
    assert data.load_images(ds.add_column("other", [3, 4, 5, 6])).label_column == "y"


def test_grey_and_rgb_mix_becomes_rgb():
    imgs = [Image.new("L", (9, 9), 10), Image.new("RGB", (9, 9), (1, 2, 3))]
    ds = datasets.Dataset.from_dict(
        {"image": imgs, "label": [0, 1]},
        features=datasets.Features(image=datasets.Image(), label=datasets.ClassLabel(names=["a", "b"])),
    )
    li = data.load_images(ds)
    assert li.images.shape == (2, 3, 9, 9)
    assert li.images[0].eq(10).all() and li.images[1, :, 0, 0].tolist() == [1, 2, 3]


def test_mixed_sizes_name_the_row():
    imgs = [Image.new("L", (9, 9)), Image.new("L", (9, 9)), Image.new("L", (10, 9))]
    ds = datasets.Dataset.from_dict({"image": imgs, "label": [0, 1, 0]})
    with pytest.raises(DataError, match="row 2 .* resize"):
        data.load_images(ds)
