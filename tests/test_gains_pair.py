"""benchmarks/gains.py --provider pair: each regime's recipe takes the shipped pair recipe of its kind, the
imbalance regimes mix with their own label-GAN recipe, and the label run's baselines are reused exactly."""

from __future__ import annotations

import json
import tomllib

import pytest

from benchmarks import gains
from benchmarks._common import RESULTS
from ganaug.recipe import load_recipe, mixed_recipe, recipe_from_dict


@pytest.fixture
def args():
    return gains.parse_args(["--provider", "pair", "--smoke"])


def test_pair_provider_takes_the_shipped_pair_recipes(tmp_path, args):
    assert args.tag == "pair" and args.pair_gan_steps == 3
    shipped = tomllib.loads(gains.PAIR_RECIPES["imbalance"].read_text())
    raw = gains.regime_recipe("imb100", args, tmp_path)
    assert raw["gan"] == {**shipped["gan"], "steps": 3} and raw["gan"]["arch"] == "pair"
    assert raw["classifier"]["real_share"] == shipped["classifier"]["real_share"]
    assert raw["synthetic"]["target_scale"] == shipped["synthetic"]["target_scale"]
    assert raw["experiment"] == gains.regime_recipe("imb100", args, tmp_path, provider="label")["experiment"]
    # the mix partner is this regime's label-GAN recipe, written where mix_with points, and the Runner accepts it
    path = gains.write_mix_recipe("imb100", args, raw, tmp_path)
    assert path == tmp_path / gains.MIX_RECIPE and raw["synthetic"]["mix_with"] == str(path.resolve())
    partner = mixed_recipe(recipe_from_dict(raw))
    assert partner.gan.arch == "dcgan" and partner == load_recipe(path)
    assert partner.experiment.minority_count == 5
    # low-data regimes: every digit filled to 450 rows, no mix
    for regime, n in (("low10", 10), ("low50", 50)):
        low = gains.regime_recipe(regime, args, tmp_path)
        assert low["gan"]["arch"] == "pair" and not low["synthetic"].get("mix_with")
        assert n * (1 + low["synthetic"]["ratio"]) == gains.FILL_TO
        assert gains.write_mix_recipe(regime, args, low, tmp_path) is None
    # the ceiling has no GAN arm: the same recipe for both providers
    assert gains.regime_recipe("full", args, tmp_path) == gains.regime_recipe("full", args, tmp_path, "label")


def test_pair_provider_overrides_apply_to_the_pair_gan_and_the_label_default_is_unchanged(tmp_path):
    a = gains.parse_args(["--provider", "pair", "--set", "gan.redraw=0.5", "--tag", "x"])
    assert a.tag == "pair-x" and a.pair_gan_steps == 2500 and "full" not in a.regimes
    assert gains.regime_recipe("imb100", a, tmp_path)["gan"]["redraw"] == 0.5
    label = gains.parse_args([])
    assert label.provider == "label" and label.tag is None and "full" in label.regimes
    assert gains.regime_recipe("imb100", label, tmp_path)["gan"].get("arch", "dcgan") == "dcgan"


def test_without_arms_leaves_those_arms_out_of_every_regime_and_the_plan(tmp_path):
    full = gains.parse_args(["--provider", "pair"])
    cut = gains.parse_args(["--provider", "pair", "--without-arms", "gan+stroke", "gan+filter"])
    for regime in ("imb100", "low20"):
        arms = gains.regime_recipe(regime, cut, tmp_path)["arms"]
        assert arms == [a for a in gains.regime_recipe(regime, full, tmp_path)["arms"] if a not in cut.without_arms]
        assert {"elastic", "stroke", "gan", "gan+classical", "gan+elastic"} <= set(arms)
    # 2 GAN arms x 5 classifier seeds x 2 GAN seeds, and the gan+filter judge's 5 runs, fewer per regime
    assert [r["classifier_runs"] for r in gains.plan(full)] == [r["classifier_runs"] + 25 for r in gains.plan(cut)]
    with pytest.raises(SystemExit):
        gains.parse_args(["--without-arms", "no-such-arm"])


def test_copy_baselines_copies_only_non_gan_runs(tmp_path):
    src = tmp_path / "label" / "classifier-runs"
    src.mkdir(parents=True)
    (src / "a.json").write_text(json.dumps({"row": {"seed": 0, "test": {}}}))
    (src / "b.json").write_text(json.dumps({"row": {"seed": 0, "gan_seed": 1, "test": {}}}))
    dst = tmp_path / "pair"
    assert gains.copy_baselines(tmp_path / "label", dst) == 1
    assert sorted(p.name for p in (dst / "classifier-runs").iterdir()) == ["a.json"]
    assert gains.copy_baselines(tmp_path / "label", dst) == 0  # already there: nothing overwritten
    assert gains.copy_baselines(tmp_path / "missing", dst) == 0


def test_keep_finished_takes_regimes_of_the_same_settings_from_the_results_and_runs_the_rest(
    tmp_path, monkeypatch, capsys
):
    """``--keep-finished``: a regime already in the run's results JSON, made with the same recipe (paths aside),
    library versions and CPU instruction sets, is taken from it (marked with its run's date); one whose settings or
    machine differ runs again. Here the committed 10 and 50 per class pair run is kept whole without running."""
    import shutil

    import ganaug.checkpoint as checkpoint

    old = json.loads((RESULTS / "gains-pair-low-gseed0.json").read_text())
    report = old["regimes"]["low10"]["report"]
    monkeypatch.setattr(checkpoint, "library_versions", lambda: report["versions"])
    monkeypatch.setattr(checkpoint, "cpu_isa", lambda: report["machine"]["cpu_isa"])

    class Ran(Exception):
        pass

    def run_regime(regime, *a):
        raise Ran(regime)

    monkeypatch.setattr(gains, "run_regime", run_regime)
    shutil.copy(RESULTS / "gains-pair-low-gseed0.json", tmp_path / "gains-pair-low-gseed0.json")
    argv = [
        "--provider",
        "pair",
        "--regimes",
        "low10",
        "low50",
        "--gan-seeds",
        "0",
        "--tag",
        "low-gseed0",
        "--jobs",
        "1",
    ]
    argv += ["--set", old["settings"]["set"][0], "--out", str(tmp_path), "--run-root", str(tmp_path / "runs")]
    res = gains.main([*argv, "--keep-finished"])  # another run root: the recipes differ only in their paths
    assert res["complete"] and list(res["regimes"]) == ["low10", "low50"]
    for regime, entry in res["regimes"].items():
        assert entry["kept_from"] == old["machine"]["date_utc"]
        assert entry["summary"] == old["regimes"][regime]["summary"]
    assert "Kept (`--keep-finished`) from the run of" in (tmp_path / "gains-pair-low-gseed0.md").read_text()
    capsys.readouterr()
    assert gains.main([*argv, "--keep-finished", "--dry-run"]) is None  # the plan leaves kept regimes out
    plan = capsys.readouterr().out
    assert "2 regime(s) (2 kept from the results), 0 classifier runs" in plan and "estimate 0.0 min" in plan
    assert plan.count("kept from the results") == 3
    with pytest.raises(Ran, match="low10"):  # other classifier seeds: not the same settings
        gains.main([*argv, "--keep-finished", "--seeds", "0", "1"])
    monkeypatch.setattr(checkpoint, "cpu_isa", lambda: "another CPU")
    with pytest.raises(Ran, match="low10"):
        gains.main([*argv, "--keep-finished"])
    monkeypatch.setattr(checkpoint, "cpu_isa", lambda: report["machine"]["cpu_isa"])
    with pytest.raises(Ran, match="low10"):  # without the flag every regime runs
        gains.main(argv)
