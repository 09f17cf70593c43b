"""``Provider``: a trained generator that hands out labelled synthetic images.

A provider is loaded from a checkpoint directory (``load_provider``) and never unpickles anything. It
pickles small (its path and weight hash, not the network) so it can travel to DataLoader workers and
``datasets.map`` processes, and each copy re-loads and re-verifies the weights.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import checkpoint as ckpt
from ._checks import check_int
from ._images import generated_to_uint8, to_hwc_uint8
from .data import ImageSpec
from .errors import CheckpointError, ConfigError, ConfigTypeError, SpecMismatchError
from .models import ModelConfig, build_generator
from .pair import source_rows, vary


class Provider:
    """Samples uint8 images N×C×H×W of given labels from a trained generator.

    Two kinds: a label-conditioned GAN (``arch`` ``"dcgan"``/``"projection"``) draws new images of a label; an
    image-conditioned pair GAN (``arch="pair"``, ``image_conditioned``) varies real images within their class:
    ``vary(images)`` returns a variant of each, and ``sample(labels)`` varies exemplars of those labels stored in
    the checkpoint (its training images)."""

    def __init__(
        self,
        generator: nn.Module,
        meta: dict[str, Any],
        path: str | os.PathLike[str] | None = None,
        exemplars: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> None:
        self.generator = generator.eval().requires_grad_(False)
        self.meta = meta
        self.spec: ImageSpec = generator.spec
        self.path = Path(path).resolve() if path is not None else None
        self.exemplars = exemplars
        if self.image_conditioned and exemplars is None:
            raise CheckpointError("a pair provider needs its exemplar images; the checkpoint lacks them")

    @property
    def saved(self) -> bool:
        """True when it was loaded from a checkpoint directory: it can then be pickled (to workers, map caches)."""
        return self.path is not None

    @property
    def image_conditioned(self) -> bool:
        """True for a pair GAN: its images are variants of real images (``vary``), not drawn from a label."""
        return self.generator.cfg.arch == "pair"

    # -- identity -----------------------------------------------------------------------------------------
    @property
    def content_hash(self) -> str:
        """SHA-256 of the generator weights: identifies the provider in fingerprints and caches."""
        return str(self.meta["generator_sha256"])

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.spec.class_names

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    def __repr__(self) -> str:
        s = self.spec
        return (
            f"Provider({str(self.path)!r}, {s.channels}x{s.height}x{s.width}, {s.num_classes} classes, "
            f"arch={self.generator.cfg.arch}, step={self.meta.get('step')})"
        )

    def __reduce__(self):
        if self.path is None:
            raise ConfigTypeError(
                "a Provider built in memory cannot be pickled; save it with ganaug.train(out=...) and load_provider"
            )
        return (_load_verified, (str(self.path), self.content_hash))

    def to(self, device: str | torch.device) -> Provider:
        """Move the generator to ``device`` (``"cuda"``, ``"cpu"``...) and return self."""
        self.generator.to(device)
        return self

    # -- sampling -----------------------------------------------------------------------------------------
    def check_labels(self, labels: Any) -> torch.Tensor:
        """Labels as an int64 tensor, refusing values outside the provider's classes."""
        if isinstance(labels, torch.Tensor):
            t = labels.detach().cpu()
        else:
            arr = np.asarray(labels)
            if arr.size == 0:
                return torch.zeros(0, dtype=torch.int64)
            if arr.dtype.kind not in "iu":
                raise ConfigTypeError(f"labels must be integers, got dtype {arr.dtype} (e.g. {arr.flat[0]!r})")
            t = torch.from_numpy(arr.astype(np.int64))
        if t.dtype.is_floating_point or t.dtype == torch.bool:
            raise ConfigTypeError(f"labels must be integers, got dtype {t.dtype}")
        t = t.to(torch.int64).flatten()
        if t.numel():
            bad = t[(t < 0) | (t >= self.spec.num_classes)]
            if bad.numel():
                raise SpecMismatchError(
                    f"label {int(bad[0])} is unknown to this provider, which knows 0..{self.spec.num_classes - 1} "
                    f"({list(self.spec.class_names)}); train a provider on data with that class"
                )
        return t

    @torch.inference_mode()
    def sample(self, labels: Any, *, seed: int | None = 0, batch_size: int = 256) -> torch.Tensor:
        """Generate one image per label: a uint8 tensor N×C×H×W on the CPU.

        The same ``seed`` and labels give the same images, whatever ``batch_size`` (the library's convention:
        every ``seed`` defaults to 0, reproducible); ``seed=None`` draws fresh randomness.
        """
        y = self.check_labels(labels)
        check_int("seed", seed, 0, allow_none=True)
        check_int("batch_size", batch_size, 1)
        n = y.numel()
        out = torch.empty((n, *self.spec.shape), dtype=torch.uint8)
        if n == 0:
            return out
        g = _generator(seed)
        if self.image_conditioned:
            return vary(self.generator, self._exemplars_of(y, g), g, batch_size)
        z = torch.randn(n, self.generator.cfg.z_dim, generator=g)
        dev = self.device
        for lo in range(0, n, batch_size):
            x = self.generator(z[lo : lo + batch_size].to(dev), y[lo : lo + batch_size].to(dev))
            out[lo : lo + batch_size] = generated_to_uint8(x)
        return out

    @torch.inference_mode()
    def vary(self, images: Any, *, seed: int | None = 0, batch_size: int = 256) -> torch.Tensor:
        """A variant of each real image (same class by construction): a uint8 tensor N×C×H×W on the CPU.

        ``images``: a uint8 tensor N×C×H×W, or a sequence of images (PIL, numpy H×W×C, tensors C×H×W) of the
        provider's size. Only an image-conditioned provider (``arch="pair"``) can vary images; the same
        ``seed`` gives the same variants."""
        if not self.image_conditioned:
            raise ConfigError(
                f"this provider ({self.generator.cfg.arch}) draws images from labels and cannot vary given images; "
                "use provider.sample(labels), or train one with arch='pair'"
            )
        check_int("seed", seed, 0, allow_none=True)
        check_int("batch_size", batch_size, 1)
        x = self._as_batch(images)
        return vary(self.generator, x, _generator(seed), batch_size) if len(x) else x

    def _as_batch(self, images: Any) -> torch.Tensor:
        if isinstance(images, torch.Tensor) and images.dtype == torch.uint8 and images.dim() == 4:
            x = images.cpu()
        else:
            from PIL import Image as PILImage

            if isinstance(images, str | bytes | dict | PILImage.Image) or not isinstance(images, Iterable):
                raise ConfigTypeError(
                    f"images must be a batch N×C×H×W or a list of images, got {type(images).__name__}; "
                    "for one image pass [image]"
                )
            if isinstance(images, torch.Tensor | np.ndarray) and images.ndim != 4:
                raise ConfigTypeError(f"images must be a batch N×C×H×W or a list of images, got shape {images.shape}")
            arrs = [to_hwc_uint8(img, f"image {i}") for i, img in enumerate(images)]
            if not arrs:
                return torch.empty((0, *self.spec.shape), dtype=torch.uint8)
            x = torch.from_numpy(np.stack([a.transpose(2, 0, 1) for a in arrs]))
        if tuple(x.shape[1:]) != self.spec.shape:
            raise SpecMismatchError(
                f"images are {tuple(x.shape[1:])} (C×H×W), but this provider varies {self.spec.shape} images; "
                "train a provider for this data"
            )
        return x

    def _exemplars_of(self, y: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """For each label, one of its stored exemplars drawn uniformly with ``g``."""
        images, labels = self.exemplars
        rows = source_rows(y, labels, g)
        if (rows < 0).any():
            c = int(y[rows < 0][0])
            raise SpecMismatchError(
                f"this pair provider stores no image of class {c} ({self.class_names[c]!r}) to vary; vary your "
                "own images of it with provider.vary(images), or train on data that holds the class"
            )
        return images[rows]

    def synthesize(
        self, labels: torch.Tensor, pool: Any, pool_labels: Any, seed: int, batch_size: int = 256
    ) -> torch.Tensor:
        """One synthetic image per label, the way the integrations (``Augment``, ``balance``) need them: a
        label-conditioned provider samples them (``sample(labels, seed=seed)``); an image-conditioned one varies a
        random image of each label in ``pool`` (a sequence of images, read only where picked; ``pool_labels`` are
        their labels), or a stored exemplar where the pool holds none of that label."""
        if not self.image_conditioned:
            return self.sample(labels, seed=seed, batch_size=batch_size)
        g = _generator(seed)
        rows = source_rows(labels, torch.as_tensor(pool_labels, dtype=torch.int64), g)
        out = torch.empty((len(labels), *self.spec.shape), dtype=torch.uint8)
        have = rows >= 0
        if have.any():
            picked = rows[have].tolist()
            out[have] = self.vary(
                [pool[i] for i in picked], seed=int(torch.randint(2**62, (1,), generator=g)), batch_size=batch_size
            )
        if not have.all():
            out[~have] = self.sample(
                labels[~have], seed=int(torch.randint(2**62, (1,), generator=g)), batch_size=batch_size
            )
        return out

    def sample_counts(
        self, counts: Mapping[int | str, int], *, seed: int | None = 0, batch_size: int = 256
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Generate ``counts[label]`` images per label (labels as ints or class names); returns (images, labels)."""
        labels = counts_to_labels(counts, self.spec)
        return self.sample(labels, seed=seed, batch_size=batch_size), labels

    @staticmethod
    def to_pil(images: torch.Tensor) -> list:
        """uint8 N×C×H×W → list of PIL images (mode L or RGB)."""
        from PIL import Image

        arr = images.permute(0, 2, 3, 1).numpy()
        if arr.shape[-1] == 1:
            return [Image.fromarray(a[..., 0], mode="L") for a in arr]
        return [Image.fromarray(a, mode="RGB") for a in arr]


def counts_to_labels(counts: Mapping[int | str, int], spec: ImageSpec) -> torch.Tensor:
    if not isinstance(counts, Mapping):
        raise ConfigTypeError(f"counts must be a mapping label -> number, got {type(counts).__name__}")
    parts = []
    for key, n in counts.items():
        label = label_index(key, spec)
        if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 0:
            raise ConfigError(f"count for label {key!r} must be a non-negative integer, got {n!r}")
        parts.append(torch.full((int(n),), label, dtype=torch.int64))
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.int64)


def label_index(key: int | str, spec: ImageSpec) -> int:
    """A label given as an int or a class name → its index."""
    if isinstance(key, str) and key in spec.class_names:
        return spec.class_names.index(key)
    if isinstance(key, str) and key.lstrip("-").isdigit():
        key = int(key)
    if isinstance(key, int | np.integer) and not isinstance(key, bool) and 0 <= int(key) < spec.num_classes:
        return int(key)
    raise SpecMismatchError(
        f"label {key!r} is unknown to this provider; it knows 0..{spec.num_classes - 1} named {list(spec.class_names)}"
    )


def load_provider(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> Provider:
    """Load a provider from a checkpoint directory (``generator.safetensors`` + ``meta.json``), strictly."""
    meta = ckpt.read_meta(path)
    try:
        spec = ImageSpec.from_dict(meta["spec"])
        mcfg = ModelConfig.from_dict(meta["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{Path(path) / ckpt.META_FILE} describes no valid model ({exc}); the checkpoint is damaged"
        ) from exc
    state = ckpt.load_generator_state(path, meta)
    exemplars = _pop_exemplars(state, path) if mcfg.arch == "pair" else None
    gen = build_generator(spec, mcfg)
    missing, unexpected = _key_diff(gen.state_dict(), state)
    if missing or unexpected:
        raise CheckpointError(
            f"{Path(path) / ckpt.GENERATOR_FILE} does not match the model in {ckpt.META_FILE}: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}; the weights and meta come from different runs"
        )
    try:
        gen.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        sizes = "; ".join(line.strip() for line in str(exc).splitlines()[1:4] if line.strip())
        raise CheckpointError(
            f"weights in {path} do not fit the model in {ckpt.META_FILE} ({sizes}); the weights and meta come from "
            "different runs: retrain, or restore the matching meta.json"
        ) from exc
    # channels_last: ~1.5x faster transposed convolutions on CPU (benchmarks/speed.py), same interface
    return Provider(gen.to(memory_format=torch.channels_last), meta, path, exemplars).to(device)


def _pop_exemplars(state: dict[str, torch.Tensor], path: str | os.PathLike[str]) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = state.pop(ckpt.EXEMPLAR_IMAGES, None), state.pop(ckpt.EXEMPLAR_LABELS, None)
    if images is None or labels is None or images.dtype != torch.uint8 or len(images) != len(labels):
        raise CheckpointError(
            f"{Path(path) / ckpt.GENERATOR_FILE} holds a pair generator without valid exemplar images; the "
            "checkpoint is damaged: retrain it"
        )
    return images, labels.to(torch.int64)


def _generator(seed: int | None) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(int(seed)) if seed is not None else g.seed()
    return g


def _key_diff(expected: Mapping[str, Any], got: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    return sorted(set(expected) - set(got)), sorted(set(got) - set(expected))


_IMPORT_PID = os.getpid()


def _single_thread_if_forked() -> None:
    """In a process forked after torch ran OpenMP work (``datasets.map(num_proc=...)``), the first parallel
    region can deadlock; one intra-op thread per worker avoids it (the workers are the parallelism)."""
    if os.getpid() != _IMPORT_PID and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def _load_verified(path: str, content_hash: str) -> Provider:
    _single_thread_if_forked()
    provider = load_provider(path)
    if provider.content_hash != content_hash:
        raise CheckpointError(f"the checkpoint at {path} changed since this provider was pickled; reload it")
    return provider


# ---------------------------------------------------------------------------------------------------------
# the bundled MNIST provider, trained on mnist-mini train (never its test split) by recipes/pretrain-mnist-mini.toml


def default_provider_path() -> Path:
    """Where the bundled checkpoint lies inside the installed package."""
    return Path(str(resources.files("ganaug").joinpath("pretrained", "mnist")))


def bundled_content_hash() -> str:
    """SHA-256 of the bundled generator weights, read from its ``meta.json`` (cheap: no weights are loaded)."""
    return str(ckpt.read_meta(default_provider_path())["generator_sha256"])


@lru_cache(maxsize=1)
def _bundled() -> Provider:
    return load_provider(default_provider_path())


def default_provider() -> Provider:
    """The bundled class-conditional MNIST generator (28×28 grey digits, labels 0-9).

    The checkpoint is read once per process; every call returns a Provider of its own (a copy of the small
    generator), so ``default_provider().to("cuda")`` moves nobody else's."""
    shared = _bundled()
    return Provider(copy.deepcopy(shared.generator), dict(shared.meta), shared.path, shared.exemplars)


def as_provider(provider: Provider | str | os.PathLike[str] | None) -> Provider:
    """Accept a ``Provider``, a checkpoint path, or None for the bundled MNIST provider."""
    if provider is None:
        return default_provider()
    if isinstance(provider, Provider):
        return provider
    if isinstance(provider, str | os.PathLike):
        return load_provider(provider)
    raise ConfigTypeError(
        f"provider must be a ganaug.Provider, a checkpoint path or None, got {type(provider).__name__}"
    )
