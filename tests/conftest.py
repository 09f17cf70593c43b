"""Shared fixtures: tiny real data and a tiny trained provider (seconds on 2 CPU cores)."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
torch.set_num_threads(2)


@pytest.fixture(scope="session")
def mnist_train():
    from ganaug.data import mnist_mini

    return mnist_mini("train")


@pytest.fixture(scope="session")
def small_ds(mnist_train):
    """200 real MNIST digits, 20 per class, interleaved so that every slice holds several classes."""
    import numpy as np

    labels = np.asarray(mnist_train["label"])
    idx = np.concatenate([np.nonzero(labels == c)[0][:20] for c in range(10)])
    order = np.argsort(np.tile(np.arange(20), 10), kind="stable")
    return mnist_train.select(idx[order].tolist())


@pytest.fixture(scope="session")
def tiny_provider_dir(tmp_path_factory, small_ds):
    """A tiny 28×28 MNIST GAN (40 steps): fast, for API tests that need a real checkpoint."""
    from ganaug.models import ModelConfig
    from ganaug.train import TrainConfig, train

    out = tmp_path_factory.mktemp("tiny_provider")
    train(
        small_ds,
        out,
        config=TrainConfig(steps=40, batch_size=32, checkpoint_every=20, ema_decay=0.9),
        model=ModelConfig(g_width=8, d_width=8),
        progress=False,
    )
    return out


@pytest.fixture(scope="session")
def tiny_provider(tiny_provider_dir):
    from ganaug import load_provider

    return load_provider(tiny_provider_dir)
