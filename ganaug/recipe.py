"""Recipes: TOML files that describe an experiment end to end (run by ``ganaug.runner.run_recipe``).

A recipe names the data, an optional experiment transform of the training set (keep k per class, or cut
some classes to a few images), the GAN, how synthetic data is added, the downstream classifier and its
budget, the comparison arms (``ganaug.arms``) and the seeds. This module reads and validates them into frozen
dataclasses; the sections that hold library settings are built from the library's own dataclasses.
"""

from __future__ import annotations

import math
import tomllib
import types
import typing
from dataclasses import asdict, dataclass, field, fields, make_dataclass, replace
from pathlib import Path
from typing import Any

from .arms import ARMS
from .classify import ClassifierConfig
from .config import TrainConfig
from .errors import ConfigError, ConfigTypeError
from .models import ModelConfig

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


def _section_from(name: str, sources: tuple[type, ...], exclude: set[str], extra: list[tuple[str, type, Any]]):
    """A frozen recipe-section dataclass whose fields are those of the library's settings dataclasses
    ``sources`` (same names, types and defaults: declared once, there), minus ``exclude``, plus the
    recipe-only ``extra`` fields (name, type, default)."""
    specs: list[tuple[str, Any, Any]] = []
    for cls in sources:
        hints = typing.get_type_hints(cls)
        specs += [(f.name, hints[f.name], field(default=f.default)) for f in fields(cls) if f.name not in exclude]
    specs += [(n, t, field(default=d)) for n, t, d in extra]
    section = make_dataclass(name, specs, frozen=True)
    section.__module__ = __name__
    return section


# [gan]: every TrainConfig and ModelConfig field (checked by them), plus where to run and an optional checkpoint
GanSection = _section_from(
    "GanSection",
    (TrainConfig, ModelConfig),
    exclude={"checkpoint_every", "sample_every", "log_every"},  # the runner sets these
    extra=[("checkpoint", str, ""), ("accelerator", str, "auto"), ("precision", str, "32-true")],
)

# [classifier]: the budget fields of ClassifierConfig (checked by it), plus how the arms mix and augment rows.
# augment, class_weighted and seed are set per arm and seed; elastic here is the strength the elastic arms use.
ClassifierSection = _section_from(
    "ClassifierSection",
    (ClassifierConfig,),
    exclude={"augment", "elastic", "stroke", "class_weighted", "seed"},
    extra=[
        ("synthetic_weight", float, 1.0),  # sampling weight of a synthetic row relative to a real one
        ("elastic", float, 1.0),  # typical shift (pixels) of the "elastic" and "gan+elastic" arms' distortion
        ("real_share", float, 0.0),  # GAN arms: share of each class's draws given to its real rows (0 = all alike)
        ("accelerator", str, "cpu"),
        ("jobs", int, 1),  # classifier runs at a time, each in a single-threaded process; 0 = one per CPU core
    ],
)


@dataclass(frozen=True)
class SyntheticSection:
    mode: str = "balance"  # "balance" (fill classes per sampling_strategy) or "augment" (ratio × rows, via Augment)
    sampling_strategy: str | float = "auto"  # for "balance": auto, minority, not minority, all, or a float in (0, 1]
    target_per_class: int = 0  # for "balance": if > 0, fill every class to this total instead
    target_scale: float = 1.0  # for "balance": fill the classes sampling_strategy picks to this multiple of its target
    ratio: float = 1.0  # for "augment": synthetic rows per real row
    filter_confidence: float = 0.9  # for the gan+filter arm: keep samples a real-data classifier gives >= this
    filter_candidates: float = 3.0  # for the gan+filter arm: candidates drawn per kept sample
    fresh: bool = False  # gan arms: replace every synthetic row drawn by a new sample (fresh data each step)
    selection: str = "none"  # "diverse": filter_candidates× candidates, confidence gate, then k-center (selection.py)
    mix_with: str = ""  # another recipe (path, relative to this one) whose GAN makes mix_share of the synthetic images
    mix_share: float = 0.5  # with mix_with: the share of each class's synthetic images its GAN makes
    seed: int = 0


@dataclass(frozen=True)
class GuardSection:
    against: str = "best_baseline"  # compare the best GAN arm with "real" or with the best non-GAN arm
    metric: str = "balanced_accuracy"  # accuracy, balanced_accuracy or macro_f1
    # a GAN arm of the recipe to test, chosen beforehand (e.g. on a development split), instead of the best GAN arm
    # on validation: the guard then tests one arm and its interval need not widen for a choice among several
    gan_arm: str = ""


@dataclass(frozen=True)
class Recipe:
    name: str = "recipe"
    description: str = ""
    output_dir: str = "runs/recipe"
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    # GAN seeds: every GAN arm runs once per (GAN seed, classifier seed) pair, so intervals carry the GAN's
    # own seed noise; empty = one GAN, gan.seed. The first one's synthetic rows are the ones written.
    gan_seeds: list[int] = field(default_factory=list)
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

    def gan_seed_list(self) -> list[int]:
        """The GAN seeds this recipe trains: ``gan_seeds``, or ``[gan.seed]`` when it is empty."""
        return list(self.gan_seeds) or [self.gan.seed]


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
# (section, key): (low, high) inclusive; None = unbounded. [gan] and the [classifier] budget: their dataclasses
_RANGES = {
    ("data", "test_fraction"): (0.01, 0.9),
    ("experiment", "minority_count"): (1, None),
    ("experiment", "majority_count"): (0, None),
    ("experiment", "per_class"): (1, None),
    ("experiment", "validation_fraction"): (0.0, 0.9),
    ("experiment", "validation_per_class"): (1, None),
    ("experiment", "seed"): (0, None),
    ("synthetic", "target_per_class"): (0, None),
    ("synthetic", "target_scale"): (0.01, 100.0),
    ("synthetic", "ratio"): (0.0, 1000.0),
    ("synthetic", "filter_confidence"): (0.0, 1.0),
    ("synthetic", "filter_candidates"): (1.0, 100.0),
    ("synthetic", "seed"): (0, None),
    ("synthetic", "mix_share"): (0.01, 0.99),
    ("classifier", "synthetic_weight"): (0.0, 100.0),
    ("classifier", "elastic"): (0.01, 5.0),
    ("classifier", "real_share"): (0.0, 0.99),
    ("classifier", "jobs"): (0, 256),
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
    recipe = replace(recipe, path=str(path))
    mixed_recipe(recipe)  # a mix_with recipe that is missing or runs on other data fails here, before any work
    return recipe


def mixed_recipe(r: Recipe) -> Recipe | None:
    """The recipe named by ``[synthetic] mix_with`` (resolved next to ``r``'s file), checked to run on the same
    data and split; None without one."""
    if not r.synthetic.mix_with:
        return None
    path = Path(r.synthetic.mix_with)
    if not path.is_absolute() and r.path:
        path = Path(r.path).parent / path
    other = load_recipe(path)
    if other.synthetic.mix_with:
        raise ConfigError(f"synthetic.mix_with = {str(path)!r} mixes in a recipe of its own; name a recipe without one")
    if (other.data, other.experiment) != (r.data, r.experiment):
        raise ConfigError(
            f"synthetic.mix_with = {str(path)!r} runs on other data or another split ([data] or [experiment] "
            "differs); its GAN must be trained on this recipe's training set"
        )
    return other


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
    if r.guard.gan_arm and (r.guard.gan_arm not in r.arms or not ARMS[r.guard.gan_arm].uses_gan):
        gan_arms = [a for a in r.arms if ARMS[a].uses_gan]
        raise ConfigError(f"guard.gan_arm = {r.guard.gan_arm!r} must be one of the recipe's GAN arms {gan_arms}")
    if len(set(r.arms)) != len(r.arms):
        raise ConfigError(f"arms lists an arm twice: {r.arms}")
    if not r.seeds or any(s < 0 for s in r.seeds) or len(set(r.seeds)) != len(r.seeds):
        raise ConfigError(f"seeds must be a non-empty list of distinct non-negative integers, got {r.seeds}")
    if any(s < 0 for s in r.gan_seeds) or len(set(r.gan_seeds)) != len(r.gan_seeds):
        raise ConfigError(f"gan_seeds must list distinct non-negative integers (or be empty), got {r.gan_seeds}")
    if len(r.gan_seeds) > 1 and r.gan.checkpoint:
        raise ConfigError("gan_seeds trains one GAN per seed, but gan.checkpoint reuses one: drop one of the two")
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
    if r.synthetic.target_scale != 1.0 and r.synthetic.mode != "balance":
        raise ConfigError(
            f"synthetic.target_scale = {r.synthetic.target_scale} scales what mode = 'balance' adds; with mode = "
            f"{r.synthetic.mode!r} set synthetic.ratio instead"
        )
    if r.synthetic.target_per_class > 0 and r.synthetic.target_scale != 1.0:
        raise ConfigError(
            f"synthetic.target_per_class = {r.synthetic.target_per_class} sets every class's total, and "
            f"synthetic.target_scale = {r.synthetic.target_scale} scales sampling_strategy's targets: set one of them"
        )
    if not r.output_dir:
        raise ConfigError("output_dir must name a directory for the run")
    if not r.gan.checkpoint:  # the settings that depend on each other fail here, not after the data is loaded
        gan_settings(r.gan)
    classifier_config(r.classifier, seed=0)


def gan_settings(gan: Any) -> tuple[TrainConfig, ModelConfig]:
    """The ``TrainConfig`` and ``ModelConfig`` a recipe's [gan] section asks for (its keys are their fields);
    their own checks validate it, errors prefixed with ``[gan]``."""
    section = asdict(gan)
    try:
        return (
            TrainConfig(**{f.name: section[f.name] for f in fields(TrainConfig) if f.name in section}),
            ModelConfig(**{f.name: section[f.name] for f in fields(ModelConfig) if f.name in section}),
        )
    except ConfigError as exc:
        raise ConfigError(f"[gan] {exc}") from None


def classifier_config(section: Any, seed: int, **arm: Any) -> ClassifierConfig:
    """The ``ClassifierConfig`` of one classifier run: the [classifier] budget, the seed, and what the arm sets
    (``augment``, ``elastic``, ``class_weighted``); errors prefixed with ``[classifier]``."""
    budget = {f.name: getattr(section, f.name) for f in fields(ClassifierConfig) if hasattr(section, f.name)}
    budget.pop("elastic", None)  # the section's elastic is the elastic arms' strength, not "on for every arm"
    try:
        return ClassifierConfig(**{**budget, "seed": seed, **arm})
    except ConfigError as exc:
        raise ConfigError(f"[classifier] {exc}") from None
