import json

import datasets
import pytest

from ganaug.cli import main


def test_train_dry_run_prints_resolved_settings(capsys, tmp_path):
    assert (
        main(
            [
                "train",
                "mnist-mini",
                "--out",
                str(tmp_path / "x"),
                "--steps",
                "7",
                "--diffaug",
                "translation",
                "--mode-seeking",
                "0.5",
                "--r1",
                "0.1",
                "--real-augment",
                "0.25",
                "--no-class-balanced",
                "--label-dim",
                "4",
                "--dry-run",
            ]
        )
        == 0
    )
    resolved = json.loads(capsys.readouterr().out)
    assert resolved["train"]["steps"] == 7 and resolved["train"]["diffaug"] == "translation"
    assert resolved["train"]["mode_seeking"] == 0.5 and resolved["train"]["r1"] == 0.1
    assert resolved["train"]["real_augment"] == 0.25
    assert resolved["train"]["class_balanced"] is False and resolved["model"]["label_dim"] == 4
    assert resolved["model"]["arch"] == "dcgan" and resolved["fabric"]["accelerator"] == "auto"
    assert resolved["train"]["lr_g"] == 2e-4 and resolved["model"]["z_dim"] == 64  # not given: the defaults
    assert not (tmp_path / "x").exists()


def test_every_training_setting_has_a_documented_flag():
    from dataclasses import fields

    from ganaug.cli import _field_comments
    from ganaug.config import TrainConfig
    from ganaug.models import ModelConfig

    for cls in (TrainConfig, ModelConfig):
        notes = _field_comments(cls)
        assert set(notes) == {f.name for f in fields(cls)}, f"{cls.__name__}: a field lacks its # comment"


def test_cli_flags_recipe_sections_and_dataclasses_agree(capsys):
    """Every setting is declared once: ``ganaug train --help``, a recipe's [gan]/[classifier] and the library's
    dataclasses show the same names and defaults."""
    import re
    import typing
    from dataclasses import fields

    from ganaug.classify import ClassifierConfig
    from ganaug.config import TrainConfig
    from ganaug.models import ModelConfig
    from ganaug.recipe import ClassifierSection, GanSection

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = re.sub(r"\s+", " ", capsys.readouterr().out)
    gan, clf = {f.name: f for f in fields(GanSection)}, {f.name: f for f in fields(ClassifierSection)}
    for cls in (TrainConfig, ModelConfig):
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            assert f"--{f.name.replace('_', '-')} " in help_text and f"(default: {f.default!r})" in help_text
            if f.name in ("checkpoint_every", "sample_every", "log_every"):
                assert f.name not in gan  # set by the runner, not by a recipe
                continue
            assert gan[f.name].default == f.default and gan[f.name].type == hints[f.name], f.name
    for name in ("steps", "batch_size", "lr", "width"):
        assert clf[name].default == next(f.default for f in fields(ClassifierConfig) if f.name == name), name


def test_sample_writes_a_dataset_with_the_training_features(tiny_provider_dir, tmp_path, capsys):
    out = tmp_path / "synth"
    assert main(["sample", str(tiny_provider_dir), "--counts", "3:5,7:4", "--out", str(out), "--seed", "1"]) == 0
    ds = datasets.load_from_disk(str(out))
    assert len(ds) == 9 and sorted(ds["label"]) == [3] * 5 + [7] * 4 and all(ds["synthetic"])
    assert isinstance(ds.features["image"], datasets.Image)
    assert ds.features["label"].names == [str(i) for i in range(10)]
    # written atomically: nothing but the dataset directory is left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synth"]


def test_balance_command(tiny_provider_dir, small_ds, tmp_path):
    src = tmp_path / "src"
    small_ds.select(range(0, 200, 7)).save_to_disk(str(src))
    out = tmp_path / "balanced"
    assert main(["balance", str(src), "--provider", str(tiny_provider_dir), "--out", str(out)]) == 0
    ds = datasets.load_from_disk(str(out))
    counts = [ds["label"].count(c) for c in range(10)]
    assert len(set(counts)) == 1


def test_user_errors_are_one_line_exit_2(capsys, tmp_path):
    assert main(["sample", str(tmp_path / "missing"), "--counts", "1:2", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganaug: error:") and err.count("\n") == 1 and "Traceback" not in err
    with pytest.raises(SystemExit) as exc:
        main(["sample", str(tmp_path), "--counts", "three", "--out", "x"])
    assert exc.value.code == 2
