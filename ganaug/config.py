"""The GAN's settings, declared once: ``TrainConfig`` (what the loop does), ``FabricConfig`` (where it runs)
and ``ModelConfig`` (the networks). ``ganaug train``'s flags and a recipe's ``[gan]`` table are generated from
these fields, so their names, types and defaults cannot drift apart (tests/test_cli.py and tests/test_recipe.py
check it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from ._checks import check_int, check_off_or_up_to
from .diffaug import parse_policy
from .errors import ConfigError

LOSSES = ("bce", "hinge")


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; saved in ``meta.json`` beside the weights."""

    steps: int = 2000  # optimisation steps of G (each with one D step)
    batch_size: int = 128  # real images per step and process
    lr_g: float = 2e-4  # Adam learning rate of G
    lr_d: float = 2e-4  # Adam learning rate of D
    beta1: float = 0.5  # Adam beta1 (DCGAN's 0.5 damps oscillation)
    beta2: float = 0.999  # Adam beta2
    loss: str = "bce"  # "bce" (non-saturating, default) or "hinge" (for the projection family)
    diffaug: str = ""  # DiffAugment policy for D's inputs, e.g. "translation,cutout"; "" = off
    ema_decay: float = 0.999  # EMA of G's weights used for sampling; 0 disables
    class_balanced: bool = True  # draw real batches uniformly over classes (minority classes get seen)
    mode_seeking: float = 0.0  # weight of the mode-seeking term (MSGAN): G pays for similar outputs of one label
    r1: float = 0.0  # weight (gamma) of the R1 penalty on D's gradient at real images; 0 = off
    real_augment: float = 0.0  # share of real images given a random affine before D sees them (G learns it too)
    seed: int = 0  # everything random derives from it
    checkpoint_every: int = 500  # steps between checkpoints (and the last step)
    sample_every: int = 0  # steps between sample-grid PNGs; 0 = only at the end
    log_every: int = 50  # steps between logged losses

    def __post_init__(self) -> None:
        for name, low in (("steps", 1), ("batch_size", 2), ("seed", 0), ("checkpoint_every", 1)):
            check_int(name, getattr(self, name), low)
        check_int("sample_every", self.sample_every, 0)
        check_int("log_every", self.log_every, 1)
        for name in ("lr_g", "lr_d"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < 1:
                raise ConfigError(f"{name} must be a number in (0, 1), got {v!r}")
        for name in ("mode_seeking", "r1"):
            check_off_or_up_to(name, getattr(self, name), 100, "a number")
        check_off_or_up_to("real_augment", self.real_augment, 1, "a share")
        if self.mode_seeking and self.batch_size < 4:
            raise ConfigError(f"mode_seeking needs batch_size >= 4 (pairs of samples), got {self.batch_size}")
        for name in ("beta1", "beta2", "ema_decay"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < 1:
                raise ConfigError(f"{name} must be a number in [0, 1), got {v!r}")
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        parse_policy(self.diffaug)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FabricConfig:
    """Where and how to run: passed straight to ``lightning.fabric.Fabric``."""

    accelerator: str = "auto"  # "cpu", "cuda", "mps", "auto"
    devices: int | str = 1  # devices per node, or "auto"
    strategy: str = "auto"  # "auto", "ddp", "ddp_spawn", ...
    precision: str = "32-true"  # "32-true", "bf16-mixed", "16-mixed"
    num_nodes: int = 1  # machines

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Arch = Literal["dcgan", "projection", "pair"]
ARCHS = ("dcgan", "projection", "pair")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture settings; stored in every checkpoint so a loader can rebuild the generator."""

    arch: str = "dcgan"  # "dcgan" (default, best on CPU budgets), "projection", or "pair" (varies real images)
    z_dim: int = 64  # latent size
    g_width: int = 32  # channels of G's last hidden stage; earlier stages double it
    d_width: int = 32  # channels of D's first stage; later stages double it
    label_dim: int = 10  # size of the label embedding given to G (and to D as maps, for "dcgan")
    redraw: float = 0.0  # "pair" only: G may also redraw strokes near the ink by up to this share of [-1, 1]; 0 = off

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ConfigError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        for name in ("z_dim", "g_width", "d_width", "label_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 4096:
                raise ConfigError(f"{name} must be an integer in 1..4096, got {value!r}")
        check_off_or_up_to("redraw", self.redraw, 2, "a share of the [-1, 1] range")
        if self.redraw and self.arch != "pair":
            raise ConfigError(
                f"redraw applies to arch='pair' only (it redraws a real image's strokes), got arch={self.arch!r}; "
                "set redraw = 0 or arch = 'pair'"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown model settings {unknown}; allowed: {sorted(known)}")
        return cls(**d)
