"""Recipes: TOML files that describe an experiment end to end, and the runner behind ``ganaug run``.

A recipe names the data, an optional experiment transform of the training set (keep k per class, or cut
some classes to a few images), the GAN, how synthetic data is added, the downstream classifier and its
budget, the comparison arms and the seeds. ``run_recipe`` trains everything, evaluates every arm on the
same untouched test rows, applies the gain guard on a validation split, and writes the report.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
import types
import typing
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, ConfigTypeError

ARMS = (
    "real",
    "oversample",
    "class_weighted",
    "smote",
    "classical",
    "elastic",
    "gan",
    "gan+classical",
    "gan+elastic",
    "gan+filter",
)
GAN_ARMS = ("gan", "gan+classical", "gan+elastic", "gan+filter")


# ---------------------------------------------------------------------------------------------------------
# the recipe dataclasses (every field documented; defaults are what a user gets when a key is left out)


@dataclass(frozen=True)
class DataSection:
    source: str = "mnist-mini"  # mnist-mini, sklearn-digits, a hub name, a save_to_disk dir or an image folder
    train_split: str = "train"  # split the training set (and validation) come from
    test_split: str = ""  # split for the final evaluation; "" = carve test_fraction out of train_split
    test_fraction: float = 0.25  # used only when test_split is ""
    image_column: str = ""  # "" = detect
    label_column: str = ""  # "" = detect


@dataclass(frozen=True)
class ExperimentSection:
    kind: str = "none"  # "none", "imbalance" (cut minority_classes to minority_count), "per_class" (keep per_class)
    minority_classes: list[int] = field(default_factory=list)  # for "imbalance"
    minority_count: int = 5  # images kept per minority class, for "imbalance"
    majority_count: int = 0  # images kept per other class, for "imbalance"; 0 = all
    per_class: int = 20  # images kept per class, for "per_class"
    validation: str = (
        "holdout"  # "holdout": a stratified fraction of the training set; "pool": unused rows of the split
    )
    validation_fraction: float = 0.2  # for "holdout"
    validation_per_class: int = 50  # for "pool"
    seed: int = 0  # which rows are drawn


@dataclass(frozen=True)
class GanSection:
    checkpoint: str = ""  # reuse this checkpoint directory instead of training
    steps: int = 2000
    batch_size: int = 128
    arch: str = "dcgan"
    loss: str = "bce"
    diffaug: str = ""
    ema_decay: float = 0.999
    class_balanced: bool = True
    mode_seeking: float = 0.0
    lecam: float = 0.0
    r1: float = 0.0  # R1 penalty weight on D at real images (see TrainConfig)
    info: float = 0.0
    reconstruction: float = 0.0
    real_augment: float = 0.0  # share of real images given a random affine before D (see TrainConfig)
    transition_start: int = 0  # labels ignored by G and D before this step, then faded in...
    transition_end: int = 0  # ...until this one (0, 0 = conditional throughout); see TrainConfig
    g_width: int = 32
    d_width: int = 32
    z_dim: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    seed: int = 0
    accelerator: str = "auto"
    precision: str = "32-true"


@dataclass(frozen=True)
class SyntheticSection:
    mode: str = "balance"  # "balance" (fill classes per sampling_strategy) or "augment" (ratio × rows, via Augment)
    sampling_strategy: str | float = "auto"  # for "balance": auto, minority, not minority, all, or a float in (0, 1]
    target_per_class: int = 0  # for "balance": if > 0, fill every class to this total instead
    ratio: float = 1.0  # for "augment": synthetic rows per real row
    filter_confidence: float = 0.9  # for the gan+filter arm: keep samples a real-data classifier gives >= this
    filter_candidates: float = 3.0  # for the gan+filter arm: candidates drawn per kept sample
    fresh: bool = False  # gan arms: replace every synthetic row drawn by a new sample (fresh data each step)
    selection: str = "none"  # "diverse": filter_candidates× candidates, confidence gate, then k-center (selection.py)
    seed: int = 0


@dataclass(frozen=True)
class ClassifierSection:
    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    width: int = 32
    synthetic_weight: float = 1.0  # sampling weight of a synthetic row relative to a real one
    elastic: float = 1.0  # typical shift (pixels) of the elastic distortion the "elastic" and "gan+elastic" arms add
    real_share: float = 0.0  # GAN arms: share of each class's draws given to its real rows (0 = every row alike)
    accelerator: str = "cpu"


@dataclass(frozen=True)
class GuardSection:
    against: str = "best_baseline"  # compare the best GAN arm with "real" or with the best non-GAN arm
    metric: str = "balanced_accuracy"  # accuracy, balanced_accuracy or macro_f1


@dataclass(frozen=True)
class Recipe:
    name: str = "recipe"
    description: str = ""
    output_dir: str = "runs/recipe"
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    arms: list[str] = field(default_factory=lambda: ["real", "oversample", "classical", "gan", "gan+classical"])
    data: DataSection = field(default_factory=DataSection)
    experiment: ExperimentSection = field(default_factory=ExperimentSection)
    gan: GanSection = field(default_factory=GanSection)
    synthetic: SyntheticSection = field(default_factory=SyntheticSection)
    classifier: ClassifierSection = field(default_factory=ClassifierSection)
    guard: GuardSection = field(default_factory=GuardSection)
    path: str = ""  # where the recipe was read from (set by load_recipe)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_SECTIONS = {
    "data": DataSection,
    "experiment": ExperimentSection,
    "gan": GanSection,
    "synthetic": SyntheticSection,
    "classifier": ClassifierSection,
    "guard": GuardSection,
}
_CHOICES = {
    ("experiment", "kind"): ("none", "imbalance", "per_class"),
    ("experiment", "validation"): ("holdout", "pool"),
    ("synthetic", "mode"): ("balance", "augment"),
    ("synthetic", "selection"): ("none", "diverse"),
    ("guard", "against"): ("real", "best_baseline"),
    ("guard", "metric"): ("accuracy", "balanced_accuracy", "macro_f1"),
}
_RANGES = {  # (section, key): (low, high) inclusive; None = unbounded. [gan] is checked by TrainConfig/ModelConfig
    ("data", "test_fraction"): (0.01, 0.9),
    ("experiment", "minority_count"): (1, None),
    ("experiment", "majority_count"): (0, None),
    ("experiment", "per_class"): (1, None),
    ("experiment", "validation_fraction"): (0.0, 0.9),
    ("experiment", "validation_per_class"): (1, None),
    ("experiment", "seed"): (0, None),
    ("synthetic", "target_per_class"): (0, None),
    ("synthetic", "ratio"): (0.0, 1000.0),
    ("synthetic", "filter_confidence"): (0.0, 1.0),
    ("synthetic", "filter_candidates"): (1.0, 100.0),
    ("synthetic", "seed"): (0, None),
    ("classifier", "steps"): (1, None),
    ("classifier", "batch_size"): (1, None),
    ("classifier", "lr"): (1e-7, 1.0),
    ("classifier", "width"): (1, 1024),
    ("classifier", "synthetic_weight"): (0.0, 100.0),
    ("classifier", "elastic"): (0.01, 5.0),
    ("classifier", "real_share"): (0.0, 0.99),
}


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read and validate a recipe TOML; ``overrides`` are ``section.key=value`` strings (TOML values)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"recipe {str(path)!r} does not exist; the shipped recipes are in recipes/")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    for item in overrides or []:
        apply_override(raw, item)
    recipe = recipe_from_dict(raw)
    return replace(recipe, path=str(path))


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Apply one ``section.key=value`` override (value parsed as TOML, else a bare string) to a raw recipe dict."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects section.key=value (e.g. gan.steps=500), got {item!r}")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()  # a bare word is a string: --set gan.arch=projection
    parts = key.strip().split(".")
    target = raw
    for part in parts[:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise ConfigError(f"--set {key}: {part!r} is not a section")
    target[parts[-1]] = parsed


def recipe_from_dict(raw: dict[str, Any]) -> Recipe:
    top = {f.name: f for f in fields(Recipe) if f.name != "path"}
    unknown = sorted(set(raw) - set(top))
    if unknown:
        raise ConfigError(f"unknown recipe key(s) {unknown}; allowed top-level keys: {sorted(top)}")
    kwargs: dict[str, Any] = {}
    for name, value in raw.items():
        if name in _SECTIONS:
            if not isinstance(value, dict):
                raise ConfigTypeError(f"[{name}] must be a table (section), got {type(value).__name__}")
            kwargs[name] = _section(name, _SECTIONS[name], value)
        else:
            kwargs[name] = _typed(name, top[name], value, Recipe)
    recipe = Recipe(**kwargs)
    _check_recipe(recipe)
    return recipe


def _section(name: str, cls: type, values: dict[str, Any]):
    allowed = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown key(s) {[f'{name}.{k}' for k in unknown]}; [{name}] allows {sorted(allowed)}")
    out = {}
    for key, value in values.items():
        value = _typed(f"{name}.{key}", allowed[key], value, cls)
        choices = _CHOICES.get((name, key))
        if choices and value not in choices:
            raise ConfigError(f"{name}.{key} = {value!r} is not allowed; choose one of {list(choices)}")
        bounds = _RANGES.get((name, key))
        if bounds:
            low, high = bounds
            if (low is not None and value < low) or (high is not None and value > high):
                rng = f">= {low}" if high is None else f"in [{low}, {high}]"
                raise ConfigError(f"{name}.{key} = {value!r} is out of range; it must be {rng}")
        out[key] = value
    return cls(**out)


def _typed(where: str, f, value: Any, owner: type) -> Any:
    hint = typing.get_type_hints(owner)[f.name]
    origin = typing.get_origin(hint)
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list) or not all(_is(v, item) for v in value):
            raise ConfigTypeError(f"{where} must be a list of {item.__name__}, got {value!r}")
        return list(value)
    if origin in (typing.Union, types.UnionType):  # e.g. str | float: the first type that fits
        for t in typing.get_args(hint):
            if _is(value, t):
                return float(value) if t is float else value
        names = " or ".join(t.__name__ for t in typing.get_args(hint))
        raise ConfigTypeError(f"{where} must be {names}, got {type(value).__name__} {value!r}")
    if not _is(value, hint):
        raise ConfigTypeError(f"{where} must be {hint.__name__}, got {type(value).__name__} {value!r}")
    return float(value) if hint is float else value


def _is(value: Any, t: type) -> bool:
    if t is float:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, t)


def _check_recipe(r: Recipe) -> None:
    bad = [a for a in r.arms if a not in ARMS]
    if bad or not r.arms:
        raise ConfigError(f"arms {bad or r.arms} not allowed; choose from {list(ARMS)}")
    if len(set(r.arms)) != len(r.arms):
        raise ConfigError(f"arms lists an arm twice: {r.arms}")
    if not r.seeds or any(s < 0 for s in r.seeds) or len(set(r.seeds)) != len(r.seeds):
        raise ConfigError(f"seeds must be a non-empty list of distinct non-negative integers, got {r.seeds}")
    if r.experiment.kind == "imbalance" and not r.experiment.minority_classes:
        raise ConfigError("experiment.kind = 'imbalance' needs experiment.minority_classes, e.g. [5, 6, 7, 8, 9]")
    strategy = r.synthetic.sampling_strategy
    from .hf import STRATEGIES

    if strategy not in STRATEGIES:
        try:
            value = float(strategy)
        except ValueError:
            raise ConfigError(
                f"synthetic.sampling_strategy = {strategy!r}; choose one of {list(STRATEGIES)} or a float in (0, 1]"
            ) from None
        if not 0 < value <= 1:
            raise ConfigError(f"synthetic.sampling_strategy = {strategy!r}: a float must be in (0, 1]")
    if not r.output_dir:
        raise ConfigError("output_dir must name a directory for the run")
    if not r.gan.checkpoint:  # the settings that depend on each other fail here, not after the data is loaded
        gan_settings(r.gan)


def gan_settings(gan: GanSection) -> tuple[Any, Any]:
    """The ``TrainConfig`` and ``ModelConfig`` a recipe's [gan] section asks for (its keys are named like their
    fields); their own checks validate it, errors prefixed with ``[gan]``."""
    from .models import ModelConfig
    from .train import TrainConfig

    section = asdict(gan)
    try:
        return tuple(
            cls(**{f.name: section[f.name] for f in fields(cls) if f.name in section})
            for cls in (TrainConfig, ModelConfig)
        )
    except ConfigError as exc:
        raise ConfigError(f"[gan] {exc}") from None


def run_recipe(recipe: Recipe, guard: bool = False, force: bool = False, progress: bool = True) -> dict[str, Any]:
    """Run ``recipe`` end to end; returns the report dict (also written to ``output_dir/report.json``)."""
    from .runner import Runner

    return Runner(recipe, progress=progress).run(guard=guard, force=force)


def recipe_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def paired_ci(diffs: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean of paired differences and its t-interval; (mean, nan, nan) with a single pair."""
    d = np.asarray(diffs, dtype=np.float64)
    mean = float(d.mean()) if d.size else float("nan")
    if d.size < 2:
        return mean, float("nan"), float("nan")
    from scipy import stats

    half = float(stats.t.ppf(0.5 + level / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size))
    return mean, mean - half, mean + half
