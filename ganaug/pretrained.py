"""The bundled MNIST provider, trained on mnist-mini train (never its test split) by
``recipes/pretrain-mnist-mini.toml``; loaded once, lazily."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from .provider import Provider, load_provider


def default_provider_path() -> Path:
    return Path(str(resources.files("ganaug").joinpath("pretrained", "mnist")))


@lru_cache(maxsize=1)
def default_provider() -> Provider:
    """The bundled class-conditional MNIST generator (28×28 grey digits, labels 0-9)."""
    return load_provider(default_provider_path())
