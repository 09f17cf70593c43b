"""``mix``: one provider whose synthetic images come from several, in fixed shares per class.

The measured use: a pair GAN's variants of a rare class's own images beside a label-conditioned GAN's new
images of it, half each (benchmarks/results/ABLATIONS.md, "Transfer through an image-conditioned pair GAN").
A ``MixedProvider`` is a ``Provider``: ``Augment``, ``balance``, ``SyntheticSwap``, ``SyntheticDataset`` and
recipes take it as they take one provider.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import torch

from ._checks import check_int
from .errors import ConfigError, ConfigTypeError, SpecMismatchError
from .provider import Provider, _generator

__all__ = ["MixedProvider", "mix"]


def mix(*providers: Provider, weights: Sequence[float] | None = None) -> MixedProvider:
    """A provider that draws each class's synthetic images from ``providers`` in the shares ``weights``
    (default equal; normalised), e.g. ``ganaug.mix(pair, label_gan)`` for half variants, half new images."""
    return MixedProvider(providers, weights)


class MixedProvider(Provider):
    """Several providers of the same image spec and classes, as one; see ``mix``.

    Within every class the images are split between the parts in exact shares (largest remainder), the
    positions drawn with the seed, so the same seed gives the same images. It is image-conditioned in the
    integrations' sense only through its parts: ``synthesize`` lets each part make its share its own way."""

    def __init__(self, parts: Sequence[Provider], weights: Sequence[float] | None = None) -> None:
        parts = tuple(parts)
        if len(parts) < 2 or not all(isinstance(p, Provider) for p in parts):
            raise ConfigTypeError(
                f"mix takes two or more ganaug.Provider objects, got {[type(p).__name__ for p in parts]}"
            )
        weights = [1.0] * len(parts) if weights is None else list(weights)
        if len(weights) != len(parts) or any(
            isinstance(w, bool) or not isinstance(w, int | float) or not w >= 0 for w in weights
        ):
            raise ConfigError(f"mix needs one non-negative weight per provider ({len(parts)}), got {weights}")
        if sum(weights) <= 0:
            raise ConfigError(f"mix weights must not all be 0, got {weights}")
        for p in parts[1:]:
            if p.spec != parts[0].spec:
                raise SpecMismatchError(
                    f"mixed providers must make the same images of the same classes: {parts[0].spec} vs {p.spec}"
                )
        self.parts = parts
        self.weights = tuple(float(w) / sum(weights) for w in weights)
        self.spec = parts[0].spec
        self.path = None
        self.meta = {"mix": [dict(p.meta, path=str(p.path)) for p in parts], "weights": list(self.weights)}

    @property
    def content_hash(self) -> str:
        key = json.dumps([[p.content_hash for p in self.parts], list(self.weights)])
        return hashlib.sha256(key.encode()).hexdigest()

    @property
    def image_conditioned(self) -> bool:
        return False  # as a whole it draws from labels; image-conditioned parts vary images in ``synthesize``

    @property
    def saved(self) -> bool:
        return all(p.saved for p in self.parts)

    @property
    def device(self) -> torch.device:
        return self.parts[0].device

    def __repr__(self) -> str:
        inner = ", ".join(f"{p!r} × {w:.2f}" for p, w in zip(self.parts, self.weights, strict=True))
        return f"MixedProvider({inner})"

    def __reduce__(self):
        return (MixedProvider, (self.parts, self.weights))

    def to(self, device: str | torch.device) -> MixedProvider:
        for p in self.parts:
            p.to(device)
        return self

    def vary(self, images: Any, *, seed: int | None = 0, batch_size: int = 256) -> torch.Tensor:
        raise ConfigError("a mixed provider does not vary given images; call vary on its image-conditioned part")

    @torch.inference_mode()
    def sample(self, labels: Any, *, seed: int | None = 0, batch_size: int = 256) -> torch.Tensor:
        """One image per label, each part making its share of every class (see ``Provider.sample``)."""
        y = self.check_labels(labels)
        check_int("seed", seed, 0, allow_none=True)
        check_int("batch_size", batch_size, 1)
        return self._by_part(y, _generator(seed), lambda p, m, s: p.sample(y[m], seed=s, batch_size=batch_size))

    def synthesize(
        self, labels: torch.Tensor, pool: Any, pool_labels: Any, seed: int, batch_size: int = 256
    ) -> torch.Tensor:
        """As ``Provider.synthesize``, each part making its share of every class its own way."""
        y = self.check_labels(labels)
        return self._by_part(y, _generator(seed), lambda p, m, s: p.synthesize(y[m], pool, pool_labels, s, batch_size))

    def _by_part(self, y: torch.Tensor, g: torch.Generator, make) -> torch.Tensor:
        part = self._assign(y, g)
        out = torch.empty((len(y), *self.spec.shape), dtype=torch.uint8)
        for k, p in enumerate(self.parts):
            m = part == k
            seed = int(torch.randint(2**62, (1,), generator=g))  # drawn for every part: shares never shift seeds
            if m.any():
                out[m] = make(p, m, seed)
        return out

    def _assign(self, y: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """The part of each position: per class, exact shares of its positions (largest remainder), shuffled."""
        w = torch.tensor(self.weights, dtype=torch.float64)
        part = torch.empty(len(y), dtype=torch.long)
        for c in y.unique().tolist():
            idx = torch.nonzero(y == c).flatten()
            quota = w * len(idx)
            counts = quota.floor().long()
            counts[torch.argsort(quota - counts, descending=True, stable=True)[: len(idx) - int(counts.sum())]] += 1
            part[idx[torch.randperm(len(idx), generator=g)]] = torch.repeat_interleave(torch.arange(len(w)), counts)
        return part
