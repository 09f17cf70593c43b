"""Generator quality in the feature space of a classifier trained on real images: domain FID, improved
precision and recall (overall and per class), and the classification accuracy score (CAS).

Used by ``benchmarks/quality.py`` and by every recipe report (per-class coverage of the synthetic rows, and
domain FID beside the floor real images reach at the same sizes)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from .classify import ClassifierConfig, evaluate, extract_features, predict_proba, train_classifier

__all__ = [
    "cas",
    "domain_fid",
    "fid_against_floor",
    "frechet_distance",
    "matched_precision_recall",
    "per_class_precision_recall",
    "precision_recall",
]


def frechet_distance(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to the rows of ``a`` and ``b`` (N×D features)."""
    from scipy import linalg

    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    mu_a, mu_b = a64.mean(0), b64.mean(0)
    cov_a, cov_b = np.cov(a64, rowvar=False), np.cov(b64, rowvar=False)
    with warnings.catch_warnings():  # dead ReLU units make the covariances singular: sqrtm still converges
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(cov_a @ cov_b)
        if not np.isfinite(covmean).all():  # offset the diagonals, as the reference FID code does
            eps = 1e-6 * np.eye(cov_a.shape[0])
            covmean = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    covmean = np.real(covmean)
    d = mu_a - mu_b
    return float(d @ d + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean))


def domain_fid(model, images_a: torch.Tensor, images_b: torch.Tensor) -> float:
    """Fréchet distance between ``model``'s penultimate features of two uint8 image sets (N×C×H×W)."""
    return frechet_distance(extract_features(model, images_a), extract_features(model, images_b))


def fid_against_floor(
    synthetic: torch.Tensor,
    synthetic_labels: torch.Tensor,
    reference: torch.Tensor,
    reference_labels: torch.Tensor,
    repeats: int = 5,
    seed: int = 0,
) -> dict[str, Any] | None:
    """Domain FID of ``synthetic`` features against real ``reference`` ones (N×D, e.g. ``extract_features`` of a
    classifier), beside the floor that real images reach at the same sample sizes; None when too few reference
    images.

    FID's bias grows as the samples shrink: a few hundred validation images give a large FID even between two
    sets of real digits, so a lone number cannot be read. Each repeat splits the reference images of the classes
    the synthetic set holds into two random halves A and B within every class; the floor is FID(B, A), and the
    synthetic score is FID(S, A) with S drawn from the synthetic images to B's per-class counts (all of a class's
    synthetic images where it has fewer). Same sizes and class mix on both sides; means over ``repeats`` splits.
    """
    g = torch.Generator().manual_seed(seed)
    classes = [c for c in torch.unique(synthetic_labels).tolist() if int((reference_labels == c).sum()) >= 2]
    if not classes:
        return None
    ref_idx = {c: torch.nonzero(reference_labels == c).flatten() for c in classes}
    syn_idx = {c: torch.nonzero(synthetic_labels == c).flatten() for c in classes}
    fids, floors = [], []
    for _ in range(repeats):
        a, b, s = [], [], []
        for c in classes:
            perm = ref_idx[c][torch.randperm(len(ref_idx[c]), generator=g)]
            half = len(perm) // 2
            a.append(perm[:half])
            b.append(perm[half:])
            s.append(syn_idx[c][torch.randperm(len(syn_idx[c]), generator=g)[: len(perm) - half]])
        a_f = reference[torch.cat(a)]
        fids.append(frechet_distance(synthetic[torch.cat(s)], a_f))
        floors.append(frechet_distance(reference[torch.cat(b)], a_f))
    return {
        "synthetic": float(np.mean(fids)),
        "real_floor": float(np.mean(floors)),
        "classes": classes,
        "sizes": {"reference_half": len(torch.cat(a)), "compared": len(torch.cat(b)), "synthetic": len(torch.cat(s))},
        "repeats": repeats,
    }


def _kth_radii(x: torch.Tensor, k: int, chunk: int = 4096) -> torch.Tensor:
    """Distance of every row of ``x`` to its k-th nearest other row."""
    out = []
    for lo in range(0, len(x), chunk):
        d = torch.cdist(x[lo : lo + chunk], x)
        out.append(d.kthvalue(k + 1, dim=1).values)  # +1: the row itself is at distance 0
    return torch.cat(out)


def _coverage(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int = 4096) -> float:
    """Fraction of ``points`` inside at least one ball (``centres``, ``radii``)."""
    inside = []
    for lo in range(0, len(points), chunk):
        d = torch.cdist(points[lo : lo + chunk], centres)
        inside.append((d <= radii[None, :]).any(dim=1))
    return float(torch.cat(inside).double().mean())


def precision_recall(
    real: torch.Tensor | np.ndarray, fake: torch.Tensor | np.ndarray, k: int = 3
) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of ``fake`` against ``real`` features.

    Precision: the fraction of fake samples inside the real manifold (the union of balls around every real
    sample reaching its k-th nearest real neighbour); recall: the fraction of real samples inside the fake
    manifold, built the same way.
    """
    r = torch.as_tensor(np.asarray(real), dtype=torch.float64)
    f = torch.as_tensor(np.asarray(fake), dtype=torch.float64)
    if len(r) <= k or len(f) <= k:
        return float("nan"), float("nan")
    precision = _coverage(f, r, _kth_radii(r, k))
    recall = _coverage(r, f, _kth_radii(f, k))
    return precision, recall


def matched_precision_recall(
    real: torch.Tensor, fake: torch.Tensor, k: int = 3, repeats: int = 5, seed: int = 0
) -> tuple[float, float]:
    """``precision_recall`` with ``fake`` drawn to the size of ``real`` (all of it where it is smaller), averaged
    over ``repeats`` draws. Each set's k-NN balls shrink as it grows, so at unequal sizes the numbers move with the
    number of samples compared as well as with the generator (Kynkäänniemi et al. compare equal sizes); drawn to one
    size, a recipe's coverage compares across volumes."""
    if len(fake) <= len(real):
        return precision_recall(real, fake, k)
    g = torch.Generator().manual_seed(seed)
    draws = [
        precision_recall(real, fake[torch.randperm(len(fake), generator=g)[: len(real)]], k) for _ in range(repeats)
    ]
    return float(np.mean([d[0] for d in draws])), float(np.mean([d[1] for d in draws]))


def per_class_precision_recall(
    real: torch.Tensor,
    real_labels: torch.Tensor,
    fake: torch.Tensor,
    fake_labels: torch.Tensor,
    num_classes: int,
    k: int = 3,
) -> dict[str, list[float]]:
    """``precision_recall`` within each class; returns {"precision": [...], "recall": [...]} per class."""
    prec, rec = [], []
    for c in range(num_classes):
        p, r = precision_recall(real[real_labels == c], fake[fake_labels == c], k)
        prec.append(p)
        rec.append(r)
    return {"precision": prec, "recall": rec}


def _accuracy(model, images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict[str, float]:
    m = evaluate(labels, predict_proba(model, images).argmax(1), num_classes)
    return {"accuracy": m["accuracy"], "balanced_accuracy": m["balanced_accuracy"]}


def cas(
    provider, real_train, test, seed: int = 0, steps: int = 1000, batch_size: int = 64, per_class: int = 500
) -> dict[str, Any]:
    """Classification accuracy score: a SmallCNN trained only on ``per_class`` synthetic samples per class
    (sampled with ``seed``), and the same CNN trained on ``real_train``, both tested on ``test``.

    ``real_train`` and ``test`` are ``ganaug.data.LabelledImages``. Returns the metrics, the ratio, the
    real-data model and the synthetic samples with their labels (for the feature-space metrics).
    """
    k = real_train.spec.num_classes
    cfg = ClassifierConfig(steps=steps, batch_size=batch_size, seed=seed)
    syn_labels = torch.arange(k).repeat_interleave(per_class)
    syn_images = provider.sample(syn_labels, seed=seed)
    real_model = train_classifier(real_train.images, real_train.labels, k, cfg)
    syn_model = train_classifier(syn_images, syn_labels, k, cfg)
    ref = _accuracy(real_model, test.images, test.labels, k)
    score = _accuracy(syn_model, test.images, test.labels, k)
    return {
        "cas": score["accuracy"],
        "cas_balanced": score["balanced_accuracy"],
        "real_reference": ref["accuracy"],
        "real_reference_balanced": ref["balanced_accuracy"],
        "cas_over_real": score["accuracy"] / ref["accuracy"] if ref["accuracy"] else float("nan"),
        "real_model": real_model,
        "synthetic_images": syn_images,
        "synthetic_labels": syn_labels,
    }
