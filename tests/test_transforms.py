import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import ConcatDataset, DataLoader
from torchvision import tv_tensors
from torchvision.transforms import v2

import ganaug
from ganaug.errors import ConfigError
from ganaug.transforms import SyntheticSwap


@pytest.mark.parametrize("kind", ["pil", "tensor", "tv_image"])
def test_swap_keeps_the_form_and_label(tiny_provider, kind):
    base = np.zeros((28, 28), np.uint8)
    img = {
        "pil": Image.fromarray(base),
        "tensor": torch.from_numpy(base)[None],
        "tv_image": tv_tensors.Image(torch.from_numpy(base)[None]),
    }[kind]
    always = SyntheticSwap(tiny_provider, p=1.0, seed=0)
    new, label = always(img, 7)
    assert label == 7 and new is not img
    assert type(new) is type(img)
    if kind == "pil":
        assert new.size == (28, 28) and new.mode == "L"
    else:
        assert new.shape == (1, 28, 28) and new.dtype == torch.uint8
    never = SyntheticSwap(tiny_provider, p=0.0)
    out = never(img, 7)
    assert out[0] is img


def test_swap_composes_and_pickles(tiny_provider):
    t = v2.Compose([SyntheticSwap(tiny_provider, p=1.0, seed=1)])
    x = torch.zeros(1, 28, 28, dtype=torch.uint8)
    new, y = t(x, 3)
    assert y == 3 and not torch.equal(new, x)
    back = pickle.loads(pickle.dumps(t))
    a, _ = back(x, 3)
    b, _ = pickle.loads(pickle.dumps(t))(x, 3)
    assert torch.equal(a, b)  # same seed, same first sample
    with pytest.raises(ConfigError, match=r"p must be a probability in \[0, 1\]"):
        SyntheticSwap(tiny_provider, p=1.5)


def test_synthetic_dataset_is_deterministic_and_worker_safe(tiny_provider):
    ds = ganaug.SyntheticDataset(tiny_provider, counts={0: 30, 5: 20}, seed=2, chunk_size=16)
    assert len(ds) == 50
    x0, y0 = ds[0]
    assert x0.shape == (1, 28, 28) and x0.dtype == torch.uint8 and y0 == 0 and ds[49][1] == 5
    again = ganaug.SyntheticDataset(tiny_provider, counts={0: 30, 5: 20}, seed=2, chunk_size=16)
    assert all(torch.equal(ds[i][0], again[i][0]) for i in (0, 17, 49))
    assert not torch.equal(ds[0][0], ganaug.SyntheticDataset(tiny_provider, counts={0: 30, 5: 20}, seed=3)[0][0])
    real = [(torch.zeros(1, 28, 28, dtype=torch.uint8), 1)] * 10
    loader = DataLoader(ConcatDataset([real, ds]), batch_size=20, num_workers=2, shuffle=False)
    xs = torch.cat([x for x, _ in loader])
    assert xs.shape == (60, 1, 28, 28)
    assert torch.equal(xs[10:], torch.stack([ds[i][0] for i in range(50)]))


class _SwappedZeros(torch.utils.data.Dataset):
    """8 blank digits labelled 3, each passed through ``swap``."""

    def __init__(self, swap):
        self.swap = swap

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return self.swap(torch.zeros(1, 28, 28, dtype=torch.uint8), 3)[0]


def test_dataloader_workers_draw_their_own_swaps_reproducibly(tiny_provider):
    def run():
        loader = DataLoader(_SwappedZeros(SyntheticSwap(tiny_provider, p=1.0, seed=5)), batch_size=4, num_workers=2)
        return list(loader)  # batch 0 comes from worker 0, batch 1 from worker 1

    first, again = run(), run()
    assert len(first) == 2 and all(b.shape == (4, 1, 28, 28) for b in first)
    assert not torch.equal(first[0], first[1]), "two workers made the same swaps with the same images"
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True)), "same seed and workers, other images"
    # in the main process the stream is the seed's own, as before
    main = [_SwappedZeros(SyntheticSwap(tiny_provider, p=1.0, seed=5))[i] for i in range(4)]
    assert torch.equal(
        torch.stack(main),
        torch.stack([_SwappedZeros(SyntheticSwap(tiny_provider, p=1.0, seed=5))[i] for i in range(4)]),
    )


def test_default_provider_is_a_copy_per_caller():
    a, b = ganaug.default_provider(), ganaug.default_provider()
    assert a is not b and a.generator is not b.generator
    assert a.content_hash == b.content_hash
    p = next(a.generator.parameters())
    with torch.no_grad():
        p.add_(1.0)  # what a caller does to its provider (move it, cast it, change it) stays with that caller
    assert not torch.equal(p, next(b.generator.parameters()))
    assert not torch.equal(p, next(ganaug.default_provider().generator.parameters()))
