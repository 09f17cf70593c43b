"""``ganaug`` command line: train | sample | balance | run | report.

Errors raised on purpose (``GanaugError``) become one line on stderr and exit code 2, no traceback.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any

from .errors import ConfigError, GanaugError


def _counts(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in text.split(","):
        label, sep, n = part.strip().partition(":")
        if not sep or not label or not n.strip().isdigit():
            raise argparse.ArgumentTypeError(
                f"--counts expects LABEL:N pairs joined by commas (e.g. 3:100,7:50), got {part!r}"
            )
        out[label.strip()] = out.get(label.strip(), 0) + int(n)
    return out


def _devices(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _add_train_args(p: argparse.ArgumentParser) -> None:
    from .config import LOSSES, TrainConfig
    from .models import ARCHS, ModelConfig

    p.add_argument(
        "data", help="mnist-mini, sklearn-digits, a hub dataset name, a save_to_disk directory or an image folder"
    )
    p.add_argument("--out", required=True, help="checkpoint directory to write")
    p.add_argument("--split", default=None, help="split of a DatasetDict (default: train)")
    p.add_argument("--image-column", default=None)
    p.add_argument("--label-column", default=None)
    choices = {"loss": LOSSES, "arch": ARCHS}
    for cls in (TrainConfig, ModelConfig):  # one flag per setting, declared once: in the dataclass
        _settings_flags(p.add_argument_group(f"{cls.__name__} settings"), cls, choices)
    p.add_argument("--accelerator", default="auto")
    p.add_argument("--devices", type=_devices, default=1)
    p.add_argument("--strategy", default="auto")
    p.add_argument("--precision", default="32-true")
    p.add_argument("--num-nodes", type=int, default=1)
    p.add_argument("--resume", action="store_true", help="continue from OUT/trainer.pt")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="print the resolved settings and exit")


def _settings_flags(group: Any, cls: type, choices: dict[str, tuple[str, ...]]) -> None:
    """``--some-name`` for every field ``some_name`` of the settings dataclass ``cls``: typed from its annotation,
    helped by the comment that documents the field, ``None`` (keep the dataclass default) when not given."""
    hints = typing.get_type_hints(cls)
    notes = _field_comments(cls)
    for f in fields(cls):
        flag, kind = "--" + f.name.replace("_", "-"), hints[f.name]
        text = f"{notes.get(f.name, f.name)} (default: {f.default!r})"
        if kind is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            group.add_argument(flag, type=kind, choices=choices.get(f.name), default=None, help=text)


def _field_comments(cls: type) -> dict[str, str]:
    """The trailing ``# comment`` of each field line in ``cls``'s source ({} when the source is unavailable)."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    found = (re.match(r"\s+(\w+): [^#]+#\s*(.+)$", line) for line in source.splitlines())
    return {m[1]: m[2].replace("%", "%%") for m in found if m}  # argparse %-formats help strings


def _train_settings(a: argparse.Namespace):
    from .config import TrainConfig
    from .models import ModelConfig

    given = vars(a)
    return tuple(
        cls(**{f.name: given[f.name] for f in fields(cls) if given.get(f.name) is not None})
        for cls in (TrainConfig, ModelConfig)
    )


def cmd_train(a: argparse.Namespace) -> int:
    from .config import FabricConfig
    from .train import train

    tcfg, mcfg = _train_settings(a)
    fab = FabricConfig(a.accelerator, a.devices, a.strategy, a.precision, a.num_nodes)
    if a.dry_run:
        print(
            json.dumps(
                {
                    "data": a.data,
                    "split": a.split,
                    "out": a.out,
                    "resume": a.resume,
                    "train": tcfg.to_dict(),
                    "model": mcfg.to_dict(),
                    "fabric": fab.to_dict(),
                },
                indent=2,
            )
        )
        return 0
    provider = train(
        a.data,
        a.out,
        config=tcfg,
        model=mcfg,
        image_column=a.image_column,
        label_column=a.label_column,
        split=a.split,
        accelerator=a.accelerator,
        devices=a.devices,
        strategy=a.strategy,
        precision=a.precision,
        num_nodes=a.num_nodes,
        resume=a.resume,
        progress=not a.no_progress,
    )
    print(f"trained {provider!r}")
    return 0


def cmd_sample(a: argparse.Namespace) -> int:
    import datasets

    from .hf import synthetic_rows
    from .provider import load_provider

    provider = load_provider(a.checkpoint)
    images, labels = provider.sample_counts(a.counts, seed=a.seed, batch_size=a.batch_size)
    image_col = provider.meta.get("image_column", "image")
    label_col = provider.meta.get("label_column", "label")
    schema = datasets.Dataset.from_dict(
        {image_col: [], label_col: []},
        features=datasets.Features(
            {image_col: datasets.Image(), label_col: datasets.ClassLabel(names=list(provider.class_names))}
        ),
    )
    ds = synthetic_rows(schema, images, labels, image_col, label_col)
    out = _save_dataset(ds, a.out)
    print(f"wrote {len(ds)} synthetic rows to {out}")
    return 0


def cmd_balance(a: argparse.Namespace) -> int:
    from .data import resolve_dataset
    from .hf import balance

    ds = resolve_dataset(a.data, a.split)
    strategy: Any = a.sampling_strategy
    try:
        strategy = float(strategy)
    except ValueError:
        if strategy.startswith("{"):
            try:
                strategy = {k: int(v) for k, v in json.loads(strategy).items()}
            except (json.JSONDecodeError, AttributeError, ValueError) as exc:
                raise ConfigError(
                    f"--sampling-strategy {a.sampling_strategy!r} is not a JSON object of label: count"
                ) from exc
    out_ds = balance(
        ds,
        a.provider,
        label_column=a.label_column,
        image_column=a.image_column,
        sampling_strategy=strategy,
        seed=a.seed,
    )
    out = _save_dataset(out_ds, a.out)
    print(f"wrote {len(out_ds)} rows ({len(out_ds) - len(ds)} synthetic) to {out}")
    return 0


def _save_dataset(ds, out: str) -> Path:
    """``save_to_disk`` into a temporary directory, then swap it in: never a half-written dataset at ``out``."""
    from ._io import atomic_replace_dir, ensure_writable_dir

    path = Path(out)
    ensure_writable_dir(path.parent if str(path.parent) else ".")
    atomic_replace_dir(path, lambda tmp: ds.save_to_disk(str(tmp)))
    return path


def cmd_run(a: argparse.Namespace) -> int:
    from .recipe import load_recipe
    from .report import dataset_held_back
    from .runner import run_recipe

    recipe = load_recipe(a.recipe, overrides=a.set or [])
    if a.dry_run:
        print(json.dumps(recipe.to_dict(), indent=2))
        return 0
    result = run_recipe(recipe, write_anyway=a.write_anyway, progress=not a.no_progress)
    return 3 if dataset_held_back(result) else 0


def cmd_report(a: argparse.Namespace) -> int:
    from .report import print_summary

    path = Path(a.run_dir) / "report.json"
    if not path.exists():
        raise ConfigError(f"{path} does not exist; run a recipe first (ganaug run RECIPE)")
    print_summary(json.loads(path.read_text()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from ._version import __version__

    parser = argparse.ArgumentParser(prog="ganaug", description="Class-conditional GAN data augmentation.")
    parser.add_argument("--version", action="version", version=f"ganaug {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a GAN (class-conditional, or --arch pair) and write a checkpoint directory")
    _add_train_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="write synthetic samples as a datasets dataset (save_to_disk)")
    p.add_argument("checkpoint")
    p.add_argument("--counts", type=_counts, required=True, help="LABEL:N pairs, e.g. 3:100,7:50")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=1024)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("balance", help="add synthetic rows to minority classes and save the dataset")
    p.add_argument("data")
    p.add_argument("--provider", default=None, help="checkpoint directory (default: the bundled MNIST provider)")
    p.add_argument("--out", required=True)
    p.add_argument("--split", default=None)
    p.add_argument("--image-column", default=None)
    p.add_argument("--label-column", default=None)
    p.add_argument(
        "--sampling-strategy", default="auto", help="auto, minority, not minority, all, a float or a JSON dict"
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_balance)

    p = sub.add_parser("run", help="run a recipe end to end and report the classifier gains")
    p.add_argument("recipe")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override a recipe value")
    p.add_argument("--dry-run", action="store_true", help="print the resolved recipe and exit")
    p.add_argument(
        "--write-anyway",
        "--force",
        dest="write_anyway",
        action="store_true",
        help="write the augmented dataset even when the gain guard refuses it (by default it is written only if "
        "the synthetic data wins on validation; exit code 3 when it is not)",
    )
    # guarding is the default now; the old flag is still accepted so that existing scripts keep working
    p.add_argument("--guard", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", help="print the summary of a finished run")
    p.add_argument("run_dir")
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except GanaugError as exc:
        print(f"ganaug: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ganaug: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
