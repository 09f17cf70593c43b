"""Choosing which synthetic samples to keep: diverse ones, not only confident ones.

Classifier-confidence filtering keeps the most typical samples, i.e. the least diverse. ``select_diverse``
keeps samples a judge recognises (confidence gate) and, among them, covers feature space greedily
(k-center / farthest-point), starting from the real images so that near-copies of them come last.
"""

from __future__ import annotations

import torch

__all__ = ["k_center_greedy", "select_diverse"]


def k_center_greedy(features: torch.Tensor, n: int, anchors: torch.Tensor | None = None) -> torch.Tensor:
    """Indices of ``n`` rows of ``features`` chosen one by one as the row farthest from everything chosen so far.

    ``anchors`` (rows already covered, e.g. the real images' features) count as chosen from the start; without
    them the first row is the one farthest from the mean. Deterministic; ties go to the lowest index.
    """
    m = len(features)
    if not 0 <= n <= m:
        raise ValueError(f"cannot choose {n} of {m} rows")
    x = features.double()
    if anchors is not None and len(anchors):
        nearest = torch.cdist(x, anchors.double()).min(dim=1).values
    else:
        nearest = torch.full((m,), float("inf"), dtype=torch.float64)
        if n:
            nearest = (x - x.mean(0)).norm(dim=1)
    chosen = torch.empty(n, dtype=torch.int64)
    for i in range(n):
        j = int(torch.argmax(nearest))
        chosen[i] = j
        nearest = torch.minimum(nearest, (x - x[j]).norm(dim=1))
        nearest[j] = -1.0  # never chosen twice
    return chosen


def select_diverse(
    features: torch.Tensor,
    confidence: torch.Tensor,
    n: int,
    *,
    min_confidence: float = 0.9,
    anchors: torch.Tensor | None = None,
) -> torch.Tensor:
    """Indices of ``n`` candidates: those with ``confidence >= min_confidence`` (topped up with the most
    confident others when too few pass), then k-center among them, anchored at ``anchors``."""
    m = len(features)
    if len(confidence) != m:
        raise ValueError(f"{m} feature rows but {len(confidence)} confidences")
    if not 0 <= n <= m:
        raise ValueError(f"cannot choose {n} of {m} candidates")
    order = torch.argsort(confidence, descending=True, stable=True)
    passing = int((confidence >= min_confidence).sum())
    pool = order[: max(passing, n)]
    return pool[k_center_greedy(features[pool], n, anchors)]
