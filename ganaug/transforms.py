"""torchvision integration: ``SyntheticSwap`` (a v2 transform) and ``SyntheticDataset`` (a map-style Dataset)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset, get_worker_info
from torchvision import tv_tensors
from torchvision.transforms import v2

from ._checks import check_int, check_probability
from ._rows import _check_image, _scalar_label, images_like
from .errors import ConfigError, ConfigTypeError, DataError
from .provider import Provider, as_provider, counts_to_labels


class SyntheticSwap(v2.Transform):
    """With probability ``p``, replace the image of an ``(image, label)`` sample by a synthetic image of the
    same label, in the same form (PIL, tensor or ``tv_tensors.Image``).

    Use it in a ``v2.Compose`` applied to whole samples, e.g. a dataset yielding ``(image, label)``::

        swap = SyntheticSwap(provider, p=0.3)
        image, label = swap(image, label)

    With an image-conditioned provider (``arch="pair"``) the new image is a variant of the sample's own image.
    Otherwise synthetic images come from a per-class buffer refilled in batches of ``buffer_size``. It pickles to the
    provider's path and weight hash, so DataLoader workers load their own copy.
    """

    def __init__(
        self,
        provider: Provider | str | os.PathLike[str] | None = None,
        *,
        p: float = 0.5,
        buffer_size: int = 256,
        seed: int | None = 0,
    ) -> None:
        super().__init__()
        check_probability("p", p)
        check_int("buffer_size", buffer_size, 1)
        check_int("seed", seed, 0, allow_none=True)
        self.provider = as_provider(provider)
        self.p, self.buffer_size, self.seed = float(p), buffer_size, seed
        self._gen: torch.Generator | None = None
        self._gen_worker: int | None = None
        self._buffers: dict[int, list[torch.Tensor]] = {}

    def __reduce__(self):
        return (_rebuild_swap, (self.provider, self.p, self.buffer_size, self.seed))  # the provider pickles small

    def forward(self, *inputs: Any) -> Any:
        sample = inputs if len(inputs) > 1 else inputs[0]
        image, label, rebuild = _split_sample(sample)
        y = int(self.provider.check_labels([_scalar_label(label, "the label")])[0])
        _check_image(image, self.provider, "the image")
        if torch.rand(1, generator=self._generator()).item() >= self.p:
            return sample
        if self.provider.image_conditioned:  # a learned augmentation: a variant of this very image
            seed = int(torch.randint(2**62, (1,), generator=self._generator()))
            new = images_like(self.provider.vary([image], seed=seed), image)[0]
        else:
            new = images_like(self._take(y), image)[0]
        if isinstance(image, tv_tensors.Image):
            new = tv_tensors.Image(new)
        return rebuild(new)

    def _generator(self) -> torch.Generator:
        """This process's random stream: ``seed`` in the main process, ``seed`` mixed with the worker id in a
        DataLoader worker (each worker holds a copy of the transform; without the mix they would all make the
        same swaps with the same images). Reproducible for a given seed and number of workers."""
        info = get_worker_info()
        worker = None if info is None else info.id
        if self._gen is None or worker != self._gen_worker:
            g = torch.Generator()
            if self.seed is None:
                g.seed()
            else:
                g.manual_seed(self.seed if worker is None else (self.seed * 1_000_003 + 7_919 * (worker + 1)) % 2**63)
            self._gen, self._gen_worker, self._buffers = g, worker, {}
        return self._gen

    def _take(self, label: int) -> torch.Tensor:
        buf = self._buffers.setdefault(label, [])
        if not buf:
            seed = int(torch.randint(2**62, (1,), generator=self._generator()))
            buf.extend(self.provider.sample([label] * self.buffer_size, seed=seed).unbind(0))
        return buf.pop()[None]


def _rebuild_swap(provider: Provider, p: float, buffer_size: int, seed: int | None) -> SyntheticSwap:
    return SyntheticSwap(provider, p=p, buffer_size=buffer_size, seed=seed)


def _split_sample(sample: Any):
    """(image, label) as a tuple/list or a dict with 'image' and 'label' keys → parts and a rebuild function."""
    if isinstance(sample, Mapping):
        if "image" not in sample or "label" not in sample:
            raise DataError(f"a dict sample needs the keys 'image' and 'label', got {list(sample)}")
        return sample["image"], sample["label"], lambda img: {**sample, "image": img}
    if isinstance(sample, Sequence) and len(sample) >= 2:
        kind = type(sample)
        return sample[0], sample[1], lambda img: kind([img, *sample[1:]]) if kind is list else (img, *sample[1:])
    raise ConfigTypeError(
        "SyntheticSwap transforms (image, label) samples: a tuple, a list or a dict with 'image' and 'label', "
        f"got {type(sample).__name__}"
    )


class SyntheticDataset(Dataset):
    """A map-style Dataset of ``(image, label)`` synthetic samples.

    Item ``i`` is generated deterministically from ``(seed, i)`` (in chunks of ``chunk_size``, cached per
    process), so it is reproducible and safe with ``num_workers > 0``. Images are uint8 C×H×W tensors, or
    whatever ``transform`` makes of them. Combine with real data through ``torch.utils.data.ConcatDataset``.
    """

    def __init__(
        self,
        provider: Provider | str | os.PathLike[str] | None = None,
        *,
        counts: Mapping[int | str, int] | None = None,
        per_class: int | None = None,
        transform: Any = None,
        seed: int = 0,
        chunk_size: int = 512,
    ) -> None:
        self.provider = as_provider(provider)
        if (counts is None) == (per_class is None):
            raise ConfigError("give exactly one of counts={label: n} or per_class=n")
        if per_class is not None:
            check_int("per_class", per_class, 0)
            counts = {c: per_class for c in range(self.provider.spec.num_classes)}
        check_int("seed", seed, 0)
        check_int("chunk_size", chunk_size, 1)
        self.labels = counts_to_labels(counts, self.provider.spec)
        self.transform, self.seed, self.chunk_size = transform, seed, chunk_size
        self._chunk: tuple[int, torch.Tensor] | None = None

    def __len__(self) -> int:
        return int(self.labels.numel())

    def __getitem__(self, index: int) -> tuple[Any, int]:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} synthetic samples")
        index %= n
        c = index // self.chunk_size
        if self._chunk is None or self._chunk[0] != c:
            lo = c * self.chunk_size
            seed = (self.seed * 1_000_003 + c) % (2**63 - 1)
            self._chunk = (c, self.provider.sample(self.labels[lo : lo + self.chunk_size], seed=seed))
        image = self._chunk[1][index - c * self.chunk_size]
        label = int(self.labels[index])
        if self.transform is not None:
            image = self.transform(image)
        return image, label

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_chunk"] = None
        return state
