"""The morph probe of benchmarks/pair_variants.py (``--morph``): registration and in-between shapes."""

import numpy as np
import torch

import ganaug.pair as pairgan
from benchmarks.morph import GRID, morphs, partner_rows, register


def _digits(ds, n: int) -> torch.Tensor:
    return torch.tensor(np.stack([np.asarray(im) for im in ds.select(range(n))["image"]])).unsqueeze(1)


def test_register_recovers_a_known_shift_and_leaves_an_image_on_itself_in_place(small_ds):
    x = _digits(small_ds, 3).float() / 127.5 - 1
    shift = torch.zeros(3, 2, GRID, GRID)
    shift[:, 0] = 2.0  # 2 px along x everywhere
    moved = pairgan.warp(x, shift, None, None)
    field = register(x, moved)
    assert (pairgan.warp(x, field, None, None) - moved).pow(2).mean() < 0.2 * (x - moved).pow(2).mean()
    inner = field[:, :, 2:-2, 2:-2]  # where the digits' ink is
    assert (inner[:, 0].mean() - 2.0).abs() < 0.6 and inner[:, 1].abs().mean() < 0.6
    assert register(x, x).abs().max() < 0.05


def test_morphs_lie_between_source_and_partner_and_repeat_with_the_seed(small_ds):
    d = _digits(small_ds, 4)
    src, tgt = d[[0, 1, 0, 1]], d[[2, 3, 2, 3]]
    a = morphs(src, tgt, torch.Generator().manual_seed(0))
    assert a.dtype == torch.uint8 and a.shape == src.shape
    assert torch.equal(a, morphs(src, tgt, torch.Generator().manual_seed(0)))
    assert not torch.equal(a[:2], a[2:])  # the same pairs, another t per row
    dist = lambda u, v: (u.float() - v.float()).pow(2).mean((1, 2, 3))  # noqa: E731
    assert (dist(a, src) < dist(tgt, src)).all()


def test_partner_rows_are_other_rows_of_the_same_label():
    pool_labels = torch.tensor([0, 1, 0, 1, 0, 2])
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    rows = torch.tensor([0, 2, 4, 1, 3, 5])
    got = partner_rows(rows, labels, pool_labels, torch.Generator().manual_seed(0))
    assert torch.equal(pool_labels[got], labels)
    assert (got[:5] != rows[:5]).all() and got[5] == 5  # label 2 has one row: its own
