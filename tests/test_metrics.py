"""Generator-quality measures of ``ganaug.metrics`` on real digits, where the right answer is known."""

import torch

from ganaug.classify import SmallCNN, extract_features
from ganaug.data import load_images, mnist_mini
from ganaug.metrics import fid_against_floor


def _digits(classes, per_class, skip=0):
    data = load_images(mnist_mini("train"))
    idx = torch.cat([torch.nonzero(data.labels == c).flatten()[skip : skip + per_class] for c in classes])
    return data.images[idx], data.labels[idx]


def test_fid_against_floor_tells_real_digits_from_noise_at_matched_sizes():
    torch.manual_seed(0)
    model = SmallCNN(1, 28, 28, 10, base=8)  # any fixed feature map will do: both sides go through the same one

    def feats(images):
        return extract_features(model, images)

    ref, ref_y = _digits([3, 4, 7], 40)
    other, other_y = _digits([3, 4], 100, skip=40)  # unseen real digits of two of the reference's classes
    real = fid_against_floor(feats(other), other_y, feats(ref), ref_y, seed=1)
    assert real["classes"] == [3, 4]  # only the classes the synthetic set holds are compared
    assert real["sizes"] == {"reference_half": 40, "compared": 40, "synthetic": 40}
    assert 0.6 < real["synthetic"] / real["real_floor"] < 1.6  # real digits sit at the floor
    noise = torch.randint(0, 256, other.shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    fake = fid_against_floor(feats(noise), other_y, feats(ref), ref_y, seed=1)
    assert fake["real_floor"] == real["real_floor"]  # same seed, same halves
    assert fake["synthetic"] > 5 * fake["real_floor"]
    few = fid_against_floor(feats(other[:15]), other_y[:15], feats(ref), ref_y)  # 15 threes where the half holds 20
    assert few["classes"] == [3] and few["sizes"] == {"reference_half": 20, "compared": 20, "synthetic": 15}
    assert fid_against_floor(feats(other), torch.full_like(other_y, 5), feats(ref), ref_y) is None  # no shared class


def test_synthetic_cas_scores_only_the_synthetic_classes_and_catches_wrong_labels():
    """Rows that teach their classes (real digits standing in for synthetic ones) score high; the same rows with
    their labels swapped score near zero; the real reference trains on the rare classes' few real images."""
    from ganaug.data import LabelledImages
    from ganaug.experiment import build_splits
    from ganaug.recipe import recipe_from_dict
    from ganaug.synthetic import synthetic_cas

    recipe = recipe_from_dict(
        {
            "name": "cas",
            "arms": ["real", "gan"],
            "data": {"source": "mnist-mini", "test_split": "test"},
            "experiment": {
                "kind": "imbalance",
                "minority_classes": [0, 1],
                "minority_count": 3,
                "majority_count": 12,
                "validation": "pool",
                "validation_per_class": 20,
            },
            "classifier": {"steps": 120, "batch_size": 32, "width": 8},
        }
    )
    splits = build_splits(recipe.data, recipe.experiment)
    test = load_images(mnist_mini("test"))  # never in the splits, which come from the train split
    idx = torch.cat([torch.nonzero(test.labels == c).flatten()[:40] for c in (0, 1)])
    rows = LabelledImages(test.images[idx], test.labels[idx], splits.spec)
    good = synthetic_cas(recipe, splits, rows, splits.val)
    assert good["classes"] == [0, 1] and good["synthetic_rows"] == 80 and good["real_rows"] == 6
    assert good["synthetic"] > 0.8 and 0 <= good["real"] <= 1
    swapped = LabelledImages(rows.images, 1 - rows.labels, splits.spec)
    assert synthetic_cas(recipe, splits, swapped, splits.val)["synthetic"] < 0.2
    one_class = LabelledImages(rows.images[:40], rows.labels[:40], splits.spec)
    assert synthetic_cas(recipe, splits, one_class, splits.val) is None  # a one-class score means nothing


def test_matched_precision_recall_draws_the_larger_synthetic_set_down_and_still_sees_memorised_copies():
    from ganaug.metrics import matched_precision_recall, precision_recall

    g = torch.Generator().manual_seed(0)
    real = torch.randn(50, 8, generator=g)
    few = torch.randn(30, 8, generator=g)
    assert matched_precision_recall(real, few) == precision_recall(real, few)  # smaller: compared whole
    # 2,000 jittered copies of 5 of the real points, as a generator that redraws its 5 training images: drawn down
    # to 50 it must still cover about 5 of the 50 real points, not more
    copies = real[:5].repeat(400, 1) + 0.01 * torch.randn(2000, 8, generator=g)
    precision, recall = matched_precision_recall(real, copies, seed=1)
    assert recall <= 0.12 and precision == 1.0
    assert matched_precision_recall(real, copies, seed=1) == (precision, recall)  # same seed, same draws
