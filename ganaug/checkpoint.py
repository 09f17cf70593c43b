"""Checkpoint directories: ``generator.safetensors`` (weights for sampling) + ``meta.json`` (everything needed
to rebuild the generator and trace where it came from), and ``trainer.pt`` (state for resuming).

Loading never unpickles: weights come from safetensors, trainer state through ``torch.load(weights_only=True)``.
Every file is written under a temporary name and renamed into place; ``meta.json`` is written last and
records the SHA-256 of the weights, so a torn, truncated or tampered checkpoint is refused on load.
"""

from __future__ import annotations

import functools
import json
import os
import platform
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ._io import atomic_write, atomic_write_json, sha256_file
from ._version import __version__
from .errors import CheckpointError

FORMAT_VERSION = 1
GENERATOR_FILE = "generator.safetensors"
META_FILE = "meta.json"
TRAINER_FILE = "trainer.pt"
# a pair GAN's exemplars (the training images it varies) live in the generator file, under the weight hash
EXEMPLAR_IMAGES = "exemplars.images"
EXEMPLAR_LABELS = "exemplars.labels"


def library_versions() -> dict[str, str]:
    import datasets
    import lightning_fabric

    return {
        "ganaug": __version__,
        "torch": torch.__version__,
        "lightning_fabric": lightning_fabric.__version__,
        "datasets": datasets.__version__,
        "python": platform.python_version(),
    }


@functools.cache
def cpu_isa() -> str:
    """The CPU instruction sets torch's kernels run with here: torch's dispatch level (``AVX512``, ``AVX2``, ...)
    plus ``+AMX`` where the CPU has AMX tiles (oneDNN uses them). CPU runs on two of them can give results that
    differ in the last bits, and seeded training then drifts apart: results cached on one are not those of the
    other."""
    level = torch.backends.cpu.get_cpu_capability()
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:  # not Linux: the dispatch level alone
        flags = []
    return level + ("+AMX" if "amx_tile" in flags else "")


def save_generator(
    directory: str | os.PathLike[str], state_dict: dict[str, torch.Tensor], meta: dict[str, Any]
) -> None:
    """Write the generator weights, then ``meta.json`` with their hash and the format version."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    atomic_write(directory / GENERATOR_FILE, lambda p: save_file(tensors, str(p)))
    meta = dict(meta)
    meta["format_version"] = FORMAT_VERSION
    meta["generator_sha256"] = sha256_file(directory / GENERATOR_FILE)
    meta.setdefault("versions", library_versions())
    atomic_write_json(directory / META_FILE, meta)


def read_meta(directory: str | os.PathLike[str]) -> dict[str, Any]:
    directory = Path(directory)
    if not directory.exists():
        raise CheckpointError(f"checkpoint directory {str(directory)!r} does not exist; train one with ganaug.train")
    if not directory.is_dir():
        raise CheckpointError(f"{str(directory)!r} is a file; a checkpoint is a directory holding {META_FILE}")
    path = directory / META_FILE
    if not path.exists():
        raise CheckpointError(
            f"{str(directory)!r} holds no {META_FILE}; it is not a ganaug checkpoint "
            "(or training did not reach its first checkpoint)"
        )
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}); the checkpoint is damaged") from exc
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} must hold a JSON object")
    version = meta.get("format_version")
    if not isinstance(version, int):
        raise CheckpointError(f"{path} has no integer format_version; the checkpoint is damaged")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} is checkpoint format {version}, newer than this ganaug {__version__} reads "
            f"(format {FORMAT_VERSION}); upgrade ganaug with pip install -U ganaug"
        )
    for key in ("spec", "model", "generator_sha256"):
        if key not in meta:
            raise CheckpointError(f"{path} lacks the key {key!r}; the checkpoint is damaged")
    return meta


def load_generator_state(directory: str | os.PathLike[str], meta: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Load the weights after checking their hash against ``meta.json``."""
    path = Path(directory) / GENERATOR_FILE
    if not path.exists():
        raise CheckpointError(
            f"{str(directory)!r} holds {META_FILE} but no {GENERATOR_FILE}; the checkpoint is incomplete"
        )
    digest = sha256_file(path)
    if digest != meta["generator_sha256"]:
        raise CheckpointError(
            f"{path} does not match the hash recorded in {META_FILE} (file {digest[:12]}…, recorded "
            f"{str(meta['generator_sha256'])[:12]}…): it was truncated, replaced or tampered with; "
            "retrain or restore it"
        )
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file ({exc})") from exc


def save_trainer_state(directory: str | os.PathLike[str], state: dict[str, Any]) -> None:
    atomic_write(Path(directory) / TRAINER_FILE, lambda p: torch.save(state, p))


def load_trainer_state(directory: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(directory) / TRAINER_FILE
    if not path.exists():
        raise CheckpointError(f"nothing to resume: {path} does not exist; start without resume")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses anything that is not plain tensors and containers
        raise CheckpointError(
            f"{path} holds something other than plain tensors ({type(exc).__name__}) and was refused unread: it is "
            "damaged or not from ganaug; delete it and train without resume"
        ) from exc
