import json
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch

import ganaug
from ganaug.cli import main
from ganaug.errors import ConfigError, ConfigTypeError
from ganaug.recipe import load_recipe, recipe_from_dict
from ganaug.report import markdown
from ganaug.runner import run_recipe

RECIPES = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "recipes").glob("*.toml"))


@pytest.mark.parametrize("name", RECIPES)
def test_shipped_recipes_validate(name):
    r = load_recipe(f"recipes/{name}.toml")
    assert r.name == name and r.output_dir == f"runs/{name}"


@pytest.mark.parametrize(
    "raw,err,msg",
    [
        ({"nme": "x"}, ConfigError, r"unknown recipe key\(s\) \['nme'\]"),
        ({"gan": {"stpes": 3}}, ConfigError, r"gan.stpes.*allows"),
        ({"gan": {"steps": "many"}}, ConfigTypeError, r"gan.steps must be int, got str 'many'"),
        ({"gan": {"steps": 0}}, ConfigError, r"\[gan\] steps must be a positive integer, got 0"),
        ({"gan": {"arch": "vae"}}, ConfigError, r"\[gan\] arch must be one of \('dcgan', 'projection', 'pair'\)"),
        ({"gan": 3}, ConfigTypeError, r"\[gan\] must be a table"),
        ({"gan": {"mode_seeking": 1.0, "batch_size": 2}}, ConfigError, r"\[gan\] mode_seeking needs batch_size >= 4"),
        ({"gan": {"lecam": 0.1}}, ConfigError, r"unknown key\(s\) \['gan.lecam'\]"),
        ({"classifier": {"steps": 0}}, ConfigError, r"\[classifier\] classifier steps must be a positive integer"),
        ({"seeds": []}, ConfigError, r"seeds must be a non-empty list"),
        ({"seeds": [1, "2"]}, ConfigTypeError, r"seeds must be a list of int"),
        ({"arms": ["real", "magic"]}, ConfigError, r"arms \['magic'\] not allowed"),
        ({"experiment": {"kind": "imbalance"}}, ConfigError, r"needs experiment.minority_classes"),
        ({"synthetic": {"sampling_strategy": "most"}}, ConfigError, r"synthetic.sampling_strategy = 'most'"),
        ({"synthetic": {"ratio": -1.0}}, ConfigError, r"synthetic.ratio = -1.0 is out of range"),
        ({"classifier": {"lr": 2.0}}, ConfigError, r"\[classifier\] classifier lr must be in \(0, 1\), got 2.0"),
        ({"guard": {"against": "nobody"}}, ConfigError, r"guard.against = 'nobody' is not allowed"),
        ({"guard": {"gan_arm": "elastic"}}, ConfigError, r"guard.gan_arm = 'elastic' must be one of the recipe's GAN"),
    ],
)
def test_every_validation_error_names_key_value_and_allowed(raw, err, msg):
    with pytest.raises(err, match=msg):
        recipe_from_dict(raw)


def test_overrides_and_dry_run(capsys):
    r = load_recipe("recipes/balance-mnist.toml", overrides=["gan.steps=7", "gan.arch=projection", "seeds=[4]"])
    assert r.gan.steps == 7 and r.gan.arch == "projection" and r.seeds == [4]
    with pytest.raises(ConfigError, match="section.key=value"):
        load_recipe("recipes/balance-mnist.toml", overrides=["gan.steps"])
    assert main(["run", "recipes/balance-mnist.toml", "--set", "classifier.steps=3", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["classifier"]["steps"] == 3
    assert main(["run", "recipes/nope.toml"]) == 2


TINY = {
    "name": "tiny",
    "seeds": [0, 1],
    "arms": ["real", "oversample", "classical", "smote", "gan", "gan+filter"],
    "data": {"source": "mnist-mini", "test_split": "test"},
    "experiment": {
        "kind": "imbalance",
        "minority_classes": [8, 9],
        "minority_count": 3,
        "majority_count": 12,
        "validation": "pool",
        "validation_per_class": 5,
    },
    "gan": {"steps": 6, "batch_size": 16, "g_width": 8, "d_width": 8},
    "classifier": {"steps": 5, "batch_size": 16, "width": 8},
}


def test_tiny_end_to_end_run_cache_and_guard(tmp_path):
    recipe = recipe_from_dict({**TINY, "output_dir": str(tmp_path / "run")})
    rep = run_recipe(recipe, progress=False)
    out = tmp_path / "run"
    for name in ("report.json", "report.md", "samples.png", "rare.png", "recall.png", "gains.png"):
        assert (out / name).exists(), name
    assert rep["plots"] == ["samples.png", "rare.png", "recall.png", "gains.png"]  # a label GAN: no variants.png
    assert not (out / "variants.png").exists() and "variants.png" not in (out / "report.md").read_text()
    legacy = {k: v for k, v in rep.items() if k != "plots"}  # a report from before the list: what its numbers say
    assert "`rare.png`" in markdown(legacy) and "`gains.png`" in markdown(legacy)
    legacy = {**legacy, "data": {**rep["data"], "minority_classes": []}, "gains_vs_real_test": {}}
    assert "`rare.png`" not in markdown(legacy) and "`gains.png`" not in markdown(legacy)
    assert (out / "report.md").read_text().splitlines()[2].startswith("**Gain guard: ")  # the verdict on top
    saved = json.loads((out / "report.json").read_text())
    assert saved["recipe"]["name"] == "tiny" and saved["versions"]["torch"]
    assert saved["data"]["train_class_counts"] == [12] * 8 + [3, 3]
    assert saved["data"]["validation_class_counts"] == [5] * 10 and saved["data"]["test_rows"] == 10000
    for arm in TINY["arms"]:
        rows = saved["results"][arm]
        assert [r["seed"] for r in rows] == [0, 1]
        for r in rows:  # every arm evaluated on the same test rows
            assert sum(map(sum, r["test"]["confusion_matrix"])) == 10000
            assert [sum(row) for row in r["test"]["confusion_matrix"]] == saved["data"]["test_class_counts"]
    assert saved["gan"]["synthetic_class_counts"] == [0] * 8 + [9, 9]
    assert set(saved["gains_vs_real_test"]) == set(TINY["arms"]) - {"real"}
    # guarded by default: written only when the GAN arm wins on validation
    assert saved["dataset_written"] == rep["guard"]["passed"] == (out / "augmented").exists()
    assert "gain guard" in (out / "report.md").read_text().lower()
    cov = saved["gan"]["coverage"]  # coverage of the synthetic rows, per class, against unseen real images
    assert len(cov["precision"]) == len(cov["recall"]) == 10
    assert cov["fid"]["classes"] == [8, 9] and cov["fid"]["synthetic"] > 0 and cov["fid"]["real_floor"] > 0
    assert cov["fid"]["sizes"] == {"reference_half": 4, "compared": 6, "synthetic": 6}  # 5 + 5 images, halved
    # CAS on the classes with synthetic rows: their 18 rows alone against their 6 real training images
    cas = cov["cas"]
    assert cas["classes"] == [8, 9] and cas["synthetic_rows"] == 18 and cas["real_rows"] == 6
    assert 0 <= cas["synthetic"] <= 1 and 0 <= cas["real"] <= 1
    assert "Classification accuracy score (CAS) on classes [8, 9]" in (out / "report.md").read_text()
    assert cov["reference"] == "validation"  # unseen real images: memorised copies must not look like coverage
    assert all(0 <= cov["recall"][c] <= 1 for c in (8, 9)) and set(cov["poorly_covered_classes"]) <= {8, 9}
    assert "## Generator coverage" in (out / "report.md").read_text()
    # a second run reuses the cached GAN
    rep2 = run_recipe(recipe, write_anyway=True, progress=False)
    assert rep2["gan"]["source"].startswith("cached GAN")
    assert rep2["dataset_written"] and (out / "augmented").exists()
    assert rep2["written_anyway"] is (not rep2["guard"]["passed"])


@pytest.mark.parametrize("passes", [False, True])
def test_guard_decides_whether_the_dataset_is_written(tmp_path, monkeypatch, passes):
    import ganaug.runner

    verdict = {"decided": True, "passed": passes, "verdict": "stub verdict"}
    calls = []
    monkeypatch.setattr(ganaug.runner, "gain_guard", lambda *a, **k: calls.append(a) or verdict)  # both branches
    raw = {
        **TINY,
        "arms": ["real", "gan"],
        "seeds": [0],
        "gan": {**TINY["gan"], "steps": 1},
        "guard": {"gan_arm": "gan"},
        "output_dir": str(tmp_path),
    }
    rep = run_recipe(recipe_from_dict(raw), progress=False)
    assert calls[0][-1] == "gan"  # the recipe's guard.gan_arm reaches the guard
    assert rep["guard"] is verdict and rep["dataset_written"] is passes
    assert (tmp_path / "augmented").exists() is passes
    assert any("NOT written" in n for n in rep["notes"]) is not passes
    if not passes:
        rep = run_recipe(recipe_from_dict(raw), write_anyway=True, progress=False)
        assert rep["dataset_written"] and (tmp_path / "augmented").exists() and rep["written_anyway"]
        assert "written although the guard refused" in (tmp_path / "report.md").read_text()


def test_cli_run_is_guarded_by_default_and_exits_3_when_nothing_was_written(monkeypatch):
    import ganaug.runner

    calls = []

    def fake_run(recipe, *, write_anyway=False, progress=True):
        calls.append(write_anyway)
        return {"gan": {"synthetic_class_counts": [1]}, "dataset_written": write_anyway}

    monkeypatch.setattr(ganaug.runner, "run_recipe", fake_run)
    assert main(["run", "recipes/balance-mnist.toml", "--no-progress"]) == 3
    assert main(["run", "recipes/balance-mnist.toml", "--no-progress", "--write-anyway"]) == 0
    assert main(["run", "recipes/balance-mnist.toml", "--no-progress", "--force"]) == 0  # the old spelling
    assert calls == [False, True, True]


def _seed_rows(values):
    return [{"validation": {"balanced_accuracy": v}, "test": {"balanced_accuracy": v}} for v in values]


def test_gain_guard_passes_a_clear_win_and_refuses_noise_and_losses():
    from ganaug.stats import gain_guard

    base = [0.900, 0.902, 0.904]
    win = {"elastic": _seed_rows(base), "gan+elastic": _seed_rows([v + 0.02 for v in base])}
    noise = {"elastic": _seed_rows(base), "gan+elastic": _seed_rows([0.93, 0.89, 0.925])}
    loss = {"elastic": _seed_rows(base), "gan+elastic": _seed_rows([v - 0.01 for v in base])}
    g = gain_guard(win, "best_baseline", "balanced_accuracy", True)
    assert g["passed"] and g["against"] == "elastic" and abs(g["val_diff_mean"] - 0.02) < 1e-9
    for case in (noise, loss):
        g = gain_guard(case, "best_baseline", "balanced_accuracy", True)
        assert g["decided"] and not g["passed"] and "NOT" in g["verdict"]
    assert not gain_guard(win, "best_baseline", "balanced_accuracy", False)["decided"]


def test_guard_widens_its_interval_when_it_chose_among_three_or_more_gan_arms():
    from ganaug.stats import gain_guard, guard_level

    assert guard_level(1) == guard_level(2) == pytest.approx(0.95) and guard_level(4) == pytest.approx(0.975)
    assert guard_level(3) == pytest.approx(1 - 0.1 / 3)
    with pytest.raises(ValueError, match="at least 1"):
        guard_level(0)
    base = [0.900, 0.902, 0.898, 0.901, 0.899]
    small_win = [0.9036, 0.9006, 0.9056, 0.9016, 0.9066]
    one = {"elastic": _seed_rows(base), "gan+elastic": _seed_rows(small_win)}
    g = gain_guard(one, "best_baseline", "balanced_accuracy", True)
    assert g["passed"] and g["level"] == pytest.approx(0.95) and g["val_diff_ci_decision"] == g["val_diff_ci95"]
    # the same arm, now the best of four: a lower end of +0.04 points at 95 % is no longer enough
    four = one | {a: _seed_rows([b - 0.01 for b in base]) for a in ("gan", "gan+classical", "gan+stroke")}
    g = gain_guard(four, "best_baseline", "balanced_accuracy", True)
    assert g["best_gan_arm"] == "gan+elastic" and g["val_diff_ci95"][0] > 0
    assert not g["passed"] and g["level"] == pytest.approx(0.975) and g["val_diff_ci_decision"][0] < 0
    assert "97.5 % CI, the best of 4 GAN arms" in g["verdict"]
    # named beforehand (guard.gan_arm), the arm is tested alone
    g = gain_guard(four, "best_baseline", "balanced_accuracy", True, gan_arm="gan+elastic")
    assert g["passed"] and g["level"] == pytest.approx(0.95) and "the recipe's GAN arm" in g["verdict"]
    assert not gain_guard(four, "best_baseline", "balanced_accuracy", True, gan_arm="gan+filter")["decided"]


def test_guard_does_not_decide_on_one_run_of_an_arm():
    from ganaug.stats import gain_guard

    one = {"elastic": _seed_rows([0.90]), "gan+elastic": _seed_rows([0.95])}  # +5 points, but one seed each
    g = gain_guard(one, "best_baseline", "balanced_accuracy", True)
    assert not g["decided"] and not g["passed"]
    assert "+5.00 points" in g["verdict"] and "two or more seeds" in g["verdict"]
    two = {"elastic": _seed_rows([0.90, 0.91]), "gan+elastic": _seed_rows([0.95, 0.96])}
    assert gain_guard(two, "best_baseline", "balanced_accuracy", True)["passed"]


def test_guard_interval_is_welch_so_a_baseline_run_shared_by_two_gan_seeds_counts_once():
    from scipy import stats

    from ganaug.stats import gain_guard, welch_ci

    a, b = [0.91, 0.93, 0.92, 0.95, 0.94, 0.92], [0.90, 0.92, 0.91]
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert welch_ci(a, b)[1:] == pytest.approx((ci.low, ci.high))
    assert welch_ci([0.9], b)[0] == pytest.approx(0.9 - 0.91) and np.isnan(welch_ci([0.9], b)[1])
    # GAN rows of GAN seeds 0 and 1 for classifier seeds 0-2 against the baseline's 3 runs: the interval is that of
    # 6 runs against 3, not of 6 pairs (which would count each baseline run twice)
    rows = [
        {"seed": s, "gan_seed": gs, "validation": {"balanced_accuracy": v}, "test": {"balanced_accuracy": v}}
        for gs, vals in ((0, a[:3]), (1, a[3:]))
        for s, v in enumerate(vals)
    ]
    g = gain_guard({"elastic": _seed_rows(b), "gan+elastic": rows}, "best_baseline", "balanced_accuracy", True)
    assert g["val_diff_ci95"] == pytest.approx([ci.low, ci.high])


def test_choosing_the_best_of_equal_arms_inflates_the_null_pass_rate_and_the_guard_level_undoes_it():
    from benchmarks.guard_calibration import selection_nulls

    scores = np.random.default_rng(0).standard_normal(400)  # every arm the same: each pass is a false pass
    cells = {(c["gan_arms"], c["baselines"]): c for c in selection_nulls(scores, [10], [1, 4], [1, 3], draws=4000)}
    assert 0.01 < cells[(1, 1)]["null_pass_rate_plain_95"] < 0.04  # one arm each: the t-interval's 2.5 %
    assert cells[(4, 1)]["null_pass_rate_plain_95"] > 0.05  # the best of four equal GAN arms passes too often
    assert cells[(4, 1)]["null_pass_rate_guard"] < 0.05
    # picking the best of three baselines as well takes most of it back
    assert cells[(4, 3)]["null_pass_rate_plain_95"] < 0.5 * cells[(4, 1)]["null_pass_rate_plain_95"]


def test_diverse_selection_and_mode_seeking_run_and_write_what_was_measured(tmp_path):
    raw = {
        **TINY,
        "arms": ["classical", "elastic", "gan+classical", "gan+elastic"],
        "seeds": [0],
        "output_dir": str(tmp_path / "d"),
        "gan": {**TINY["gan"], "mode_seeking": 0.5},
        "synthetic": {"selection": "diverse", "filter_candidates": 2.0, "filter_confidence": 0.0},
    }
    rep = run_recipe(recipe_from_dict(raw), write_anyway=True, progress=False)
    assert rep["recipe"]["synthetic"]["selection"] == "diverse" and rep["recipe"]["gan"]["mode_seeking"] == 0.5
    # the elastic arms differ from their affine-only twins only by the distortion, which reaches training
    res = rep["results"]
    for plain, warped in (("classical", "elastic"), ("gan+classical", "gan+elastic")):
        assert res[plain][0]["test"]["confusion_matrix"] != res[warped][0]["test"]["confusion_matrix"]
    assert rep["recipe"]["classifier"]["elastic"] == 1.0
    ds = datasets.load_from_disk(str(tmp_path / "d" / "augmented"))
    flags = np.asarray(ds["synthetic"])
    assert flags.sum() == 18 and (~flags).sum() == 12 * 8 + 3 * 2
    assert sorted(np.asarray(ds["label"])[flags].tolist()) == [8] * 9 + [9] * 9
    with pytest.raises(ConfigError, match="selection"):
        recipe_from_dict({"synthetic": {"selection": "best"}})


def test_sampling_strategy_takes_a_name_or_a_float():
    assert recipe_from_dict({"synthetic": {"sampling_strategy": 0.5}}).synthetic.sampling_strategy == 0.5
    assert recipe_from_dict({"synthetic": {"sampling_strategy": "minority"}}).synthetic.sampling_strategy == "minority"
    with pytest.raises(ConfigError, match=r"a float must be in \(0, 1\]"):
        recipe_from_dict({"synthetic": {"sampling_strategy": 1.5}})
    with pytest.raises(ConfigTypeError, match=r"synthetic.sampling_strategy must be str or float, got list"):
        recipe_from_dict({"synthetic": {"sampling_strategy": [1]}})


def test_real_share_resplits_each_class_between_real_and_synthetic_rows():
    import torch

    from ganaug.arms import split_class_mass as _split_class_mass

    # class 0: 4 real rows only; class 1: 1 real row (row 4) + 3 synthetic rows (rows 5-7)
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    n_real = 5
    w = torch.ones(8, dtype=torch.float64)
    out = _split_class_mass(w, labels, n_real, 0.5, 2)
    assert torch.equal(out[:4], w[:4])  # a class without synthetic rows is left alone
    assert out[4].item() == 2.0 and torch.allclose(out[5:], torch.full((3,), 2 / 3, dtype=torch.float64))
    assert torch.isclose(out[labels == 1].sum(), w[labels == 1].sum())  # the class keeps its total mass
    with pytest.raises(ConfigError, match="real_share"):
        recipe_from_dict({"classifier": {"real_share": 1.0}})


def test_parallel_classifier_runs_give_the_sequential_results(tmp_path, monkeypatch):
    """``[classifier] jobs = 2``: two single-threaded worker processes, results in (seed, arm) order and equal
    to the in-process run's, whether the workers are forked or, as on a machine with CUDA devices (where a forked
    worker's backward pass fails once a GAN has trained in the parent), spawned."""
    import multiprocessing

    import ganaug._parallel as parallel

    base = {**TINY, "arms": ["real", "elastic", "gan+elastic", "gan+filter"], "gan": {**TINY["gan"], "steps": 2}}
    one = run_recipe(recipe_from_dict({**base, "output_dir": str(tmp_path / "one")}), progress=False)
    started = []
    real_context = multiprocessing.get_context
    monkeypatch.setattr(parallel.multiprocessing, "get_context", lambda m: started.append(m) or real_context(m))
    for fork in (True, False):
        monkeypatch.setattr(parallel, "fork_is_safe", lambda fork=fork: fork)
        two = run_recipe(
            recipe_from_dict(
                {**base, "output_dir": str(tmp_path / f"two-{fork}"), "classifier": {**TINY["classifier"], "jobs": 2}}
            ),
            progress=False,
        )
        assert started[-1] == ("fork" if fork else "spawn")
        for arm in base["arms"]:
            assert [r["seed"] for r in two["results"][arm]] == [0, 1]
            for a, b in zip(one["results"][arm], two["results"][arm], strict=True):
                assert a["test"]["confusion_matrix"] == b["test"]["confusion_matrix"], (arm, fork)
                assert a["validation"]["balanced_accuracy"] == pytest.approx(
                    b["validation"]["balanced_accuracy"], abs=0
                )


def test_in_process_classifier_runs_train_on_one_thread_like_the_workers(tmp_path, monkeypatch):
    """``jobs = 1`` trains in the caller's process on one intra-op thread, as each worker of ``jobs = 2`` does (CPU
    kernels can split sums by thread count, which moved a 90:1 run by 0.09 points), and gives the caller its own
    thread count back."""
    import torch

    import ganaug.runner as runner

    seen = []
    real_train = runner.train_classifier

    def recording(**kw):
        seen.append(torch.get_num_threads())
        return real_train(**kw)

    monkeypatch.setattr(runner, "train_classifier", recording)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        run_recipe(recipe_from_dict({**TINY, "arms": ["real"], "output_dir": str(tmp_path / "one")}), progress=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 1]  # both seeds


def test_every_registered_arm_builds_valid_classifier_inputs(small_ds):
    """The arm registry is the one place an arm is defined: every entry builds a classifier config and rows."""
    import torch

    from ganaug.arms import ARMS, GAN_ARMS, classifier_inputs
    from ganaug.classify import ClassifierConfig
    from ganaug.data import load_images

    real = load_images(small_ds)
    synth = load_images(small_ds.select(range(10)))
    assert set(GAN_ARMS) == {a for a in ARMS if a.startswith("gan")}
    for name, arm in ARMS.items():
        inp = classifier_inputs(arm, ClassifierConfig(seed=3), real, synth if arm.uses_gan else None, elastic=1.5)
        cfg = inp["cfg"]
        assert cfg.seed == 3 and cfg.augment == (arm.augmentation != "none"), name
        assert cfg.stroke == (arm.augmentation == "stroke") and (cfg.elastic == 1.5) == (
            arm.augmentation in ("elastic", "stroke")
        )
        assert len(inp["images"]) == len(inp["labels"]) >= len(real) and inp["images"].dtype == torch.uint8
        if arm.uses_gan:
            assert len(inp["labels"]) == len(real) + len(synth) and inp["sample_weight"].shape == inp["labels"].shape
    with pytest.raises(ConfigError, match="set augment=True"):
        ClassifierConfig(stroke=True)


def test_bootstrap_over_validation_images_sees_image_noise_and_split_size():
    from ganaug.stats import bootstrap_paired

    rng = np.random.default_rng(0)

    def arms(n_per_class, flip):
        labels = np.repeat(np.arange(10), n_per_class)
        base = rng.random((3, len(labels))) < 0.9  # 3 seeds, 90 % of images right
        better = base | (rng.random((3, len(labels))) < flip)  # the other arm also gets some wrong ones right
        rows = lambda m: [{"validation_correct": r.astype(int).tolist()} for r in m]  # noqa: E731
        return {"elastic": rows(base), "gan+elastic": rows(better)}, labels

    res, labels = arms(50, 0.3)
    b = bootstrap_paired(res, "gan+elastic", "elastic", labels, "balanced_accuracy")
    assert 0.02 < b["mean"] < 0.04 and b["ci95"][0] > 0 and b["ci95"][0] < b["mean"] < b["ci95"][1]
    same = bootstrap_paired({"a": res["elastic"], "b": res["elastic"]}, "a", "b", labels, "balanced_accuracy")
    assert same["mean"] == 0 and same["ci95"] == [0.0, 0.0] and same["per_class_needed_for_this_effect"] is None
    big, big_labels = arms(500, 0.3)  # ten times the images: the detectable effect shrinks by about sqrt(10)
    mde_big = bootstrap_paired(big, "gan+elastic", "elastic", big_labels, "balanced_accuracy")["mde"]
    assert 2.5 < b["mde"] / mde_big < 4.0
    assert bootstrap_paired(res, "gan+elastic", "elastic", labels, "macro_f1") is None


def test_two_way_bootstrap_carries_seed_noise_that_the_image_bootstrap_misses():
    from benchmarks.guard_calibration import bootstrap_two_way
    from ganaug.classify import evaluate
    from ganaug.stats import balanced_accuracy_from_correct, image_bootstrap

    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(10), 50)
    pred = np.where(rng.random(labels.size) < 0.8, labels, (labels + 1) % 10)
    assert balanced_accuracy_from_correct(pred == labels, labels) == pytest.approx(
        evaluate(torch.as_tensor(labels), torch.as_tensor(pred), 10)["balanced_accuracy"]
    )
    # per-seed, per-image differences: the same image noise, plus a whole-seed offset (a lucky or unlucky run)
    image_part = (rng.random((4, labels.size)) < 0.1).astype(float) - (rng.random((4, labels.size)) < 0.1)
    offsets = np.array([0.08, -0.08, 0.06, -0.06])[:, None]
    quiet, noisy = image_part, image_part + offsets
    for d in (quiet, noisy):  # the point estimate is the seed-averaged, class-weighted mean either way
        two = bootstrap_two_way(d, labels, seed=0)
        assert two["mean"] == pytest.approx(balanced_accuracy_from_correct(d.mean(0), labels))
        assert two["ci95"][0] < two["mean"] < two["ci95"][1]
    wide, narrow = bootstrap_two_way(noisy, labels, seed=0), image_bootstrap(noisy.mean(0), labels, seed=0)
    assert wide["se"] > 2 * narrow["se"]  # seed offsets cancel in the seed average; only resampling seeds sees them
    assert bootstrap_two_way(quiet, labels, seed=0)["se"] < wide["se"]
    with pytest.raises(ValueError, match="seeds x images"):
        bootstrap_two_way(noisy.mean(0), labels)


def test_gan_seeds_run_gan_arms_once_per_gan_seed_and_pair_them_by_classifier_seed(tmp_path):
    raw = {
        **TINY,
        "arms": ["real", "gan"],
        "seeds": [0, 1],
        "gan_seeds": [3, 4],
        "gan": {**TINY["gan"], "steps": 2},
        "output_dir": str(tmp_path),
    }
    rep = run_recipe(recipe_from_dict(raw), write_anyway=True, progress=False)
    res = rep["results"]
    assert [(r["seed"], r["gan_seed"]) for r in res["gan"]] == [(0, 3), (0, 4), (1, 3), (1, 4)]
    assert [r["seed"] for r in res["real"]] == [0, 1] and "gan_seed" not in res["real"][0]
    assert (tmp_path / "gan").is_dir() and (tmp_path / "gan-seed4").is_dir()  # one GAN per seed, each cached
    assert rep["gan"]["seeds"] == [3, 4] and set(rep["gan"]["sources"]) == {"3", "4"}
    gan_rows, real_rows = res["gan"], {r["seed"]: r for r in res["real"]}
    m = rep["gains_vs_real_test"]["gan"]["metric"]
    want = [g["test"][m] - real_rows[g["seed"]]["test"][m] for g in gan_rows]
    assert rep["gains_vs_real_test"]["gan"]["diffs"] == pytest.approx(want)  # 4 pairs: (GAN seed, seed)
    h = rep["headline"]  # the report names each GAN seed's own mean beside the interval over classifier seeds
    assert h["test_diff_per_gan_seed"] == pytest.approx({"3": np.mean(want[0::2]), "4": np.mean(want[1::2])})
    assert "; per GAN seed 3 / 4: " in (tmp_path / "report.md").read_text()
    # two GAN seeds are two different generators
    a, b = (ganaug.load_provider(tmp_path / d).sample([8, 9], seed=0) for d in ("gan", "gan-seed4"))
    assert not torch.equal(a, b)
    assert "GAN seed [3, 4]" in (tmp_path / "report.md").read_text()
    with pytest.raises(ConfigError, match="gan_seeds"):
        recipe_from_dict({**raw, "gan_seeds": [1, 1]})


def test_an_interrupted_gan_training_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path, monkeypatch):
    """A recipe's GAN stopped while it trains is picked up from its last checkpoint by the next run (same settings,
    same data) and ends with the weights an uninterrupted training ends with; other settings start anew, even with
    a finished GAN's trainer.pt in the folder."""
    import importlib

    from safetensors.torch import load_file

    from ganaug.experiment import build_splits
    from ganaug.synthetic import get_provider

    train_module = importlib.import_module("ganaug.train")  # the module: ganaug.train is also the function
    raw = {**TINY, "arms": ["real", "gan"], "seeds": [0], "gan": {**TINY["gan"], "steps": 8}}
    recipe = recipe_from_dict(raw)
    splits = build_splits(recipe.data, recipe.experiment)

    def gan(out, recipe=recipe):
        return get_provider(recipe, splits, out, False, lambda msg: None)[1]

    assert gan(tmp_path / "whole").startswith("trained in")

    class Stopped(Exception):
        pass

    save = train_module._save

    def save_then_stop(out, state, *args):  # the machine goes down right after the checkpoint of step 4
        save(out, state, *args)
        if state.step == 4:
            raise Stopped

    def stop_before_saving(*args):
        raise Stopped

    def stopped_run(out, stop, recipe=recipe):
        monkeypatch.setattr(train_module, "_save", stop)
        with pytest.raises(Stopped):
            gan(out, recipe)
        monkeypatch.setattr(train_module, "_save", save)

    stopped_run(tmp_path / "stopped", save_then_stop)
    folder = tmp_path / "stopped" / "gan"
    assert (folder / "partial_key.txt").exists() and not (folder / "cache_key.txt").exists()
    assert gan(tmp_path / "stopped") == f"resumed and finished in {folder}"
    assert not (folder / "partial_key.txt").exists() and (folder / "cache_key.txt").exists()
    a, b = (load_file(d / "gan" / "generator.safetensors") for d in (tmp_path / "whole", tmp_path / "stopped"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # a stopped GAN of other settings is not resumed: a new training replaces it
    other = recipe_from_dict({**raw, "gan": {**raw["gan"], "seed": 5}})
    stopped_run(tmp_path / "other", save_then_stop)
    assert gan(tmp_path / "other", other).startswith("trained in")
    # stopped before its first checkpoint: the finished GAN's trainer.pt left in the folder is not resumed
    newer = recipe_from_dict({**raw, "gan": {**raw["gan"], "seed": 6}})
    stopped_run(tmp_path / "other", stop_before_saving, newer)
    assert gan(tmp_path / "other", newer).startswith("trained in")


def test_an_interrupted_run_resumes_from_its_finished_classifier_runs(tmp_path):
    """Every finished classifier run is cached in output_dir/classifier-runs; a rerun (after a crash: here one
    cached run deleted) trains only what is missing and reports the same numbers; a change to the classifier
    settings trains every run again, a change to the synthetic rows' settings only the GAN arm's runs."""
    from ganaug.runner import RUN_CACHE

    raw = {**TINY, "arms": ["real", "gan+filter"], "gan": {**TINY["gan"], "steps": 2}, "output_dir": str(tmp_path)}
    first = run_recipe(recipe_from_dict(raw), write_anyway=True, progress=False)
    cached = {p: json.loads(p.read_text()) for p in (tmp_path / RUN_CACHE).glob("*.json")}
    assert len(cached) == 4 and not any("reused" in n for n in first["notes"])
    # the run that was in flight when the machine went down: the last seed's gan+filter run, whose rows (and
    # the pass rate the report gives) come from a judge that must be trained again
    in_flight = [p for p, e in cached.items() if e["row"].get("gan_seed") is not None and e["row"]["seed"] == 1]
    assert len(in_flight) == 1 and cached[in_flight[0]]["filter_pass_rate"] == first["gan"]["filter_pass_rate"]
    in_flight[0].unlink()
    again = run_recipe(recipe_from_dict(raw), write_anyway=True, progress=False)
    assert any(n.startswith("3 of 4 classifier runs were reused") for n in again["notes"])
    assert first["classifier_runs"] == {"total": 4, "reused": 0} and again["classifier_runs"]["reused"] == 3

    def numbers(rep):  # everything but the wall time
        return {a: [{k: v for k, v in r.items() if k != "seconds"} for r in rows] for a, rows in rep["results"].items()}

    assert numbers(again) == numbers(first) and again["gan"]["filter_pass_rate"] == first["gan"]["filter_pass_rate"]
    assert len(list((tmp_path / RUN_CACHE).glob("*.json"))) == 4
    changed = run_recipe(
        recipe_from_dict({**raw, "classifier": {**TINY["classifier"], "steps": 6}}), write_anyway=True, progress=False
    )
    assert not any("reused" in n for n in changed["notes"])
    assert len(list((tmp_path / RUN_CACHE).glob("*.json"))) == 8
    # a synthetic-rows setting retrains the GAN arm only: the real arm's runs do not depend on it
    filtered = run_recipe(
        recipe_from_dict({**raw, "synthetic": {"filter_confidence": 0.5}}), write_anyway=True, progress=False
    )
    assert any(n.startswith("2 of 4 classifier runs were reused") for n in filtered["notes"])
    # so does a setting of how synthetic rows mix with real ones
    mixed = run_recipe(
        recipe_from_dict({**raw, "classifier": {**TINY["classifier"], "real_share": 0.5}}),
        write_anyway=True,
        progress=False,
    )
    assert mixed["classifier_runs"] == {"total": 4, "reused": 2}


def test_a_cached_classifier_run_is_keyed_on_library_versions_and_device(monkeypatch):
    """A run cached under another torch release, on another device or on a CPU with other instruction sets is
    not reused: its key changes."""
    import ganaug.runner as runner
    from ganaug.experiment import build_splits

    recipe = recipe_from_dict(TINY)
    splits = build_splits(recipe.data, recipe.experiment)
    key = runner._run_key(runner._cache_base(recipe, splits), "real", 0, None)
    assert runner._run_key(runner._cache_base(recipe, splits), "real", 0, None) == key  # deterministic
    versions = runner.library_versions()
    monkeypatch.setattr(runner, "library_versions", lambda: {**versions, "torch": "0.0.1"})
    assert runner._run_key(runner._cache_base(recipe, splits), "real", 0, None) != key
    monkeypatch.undo()
    other_cpu = runner.cpu_isa() + "+other"  # unlike this machine's, whatever it is
    monkeypatch.setattr(runner, "cpu_isa", lambda: other_cpu)
    assert runner._run_key(runner._cache_base(recipe, splits), "real", 0, None) != key
    monkeypatch.undo()
    monkeypatch.setattr(runner, "_device_type", lambda accelerator: "cuda")
    assert runner._run_key(runner._cache_base(recipe, splits), "real", 0, None) != key


def test_a_cached_classifier_run_key_holds_no_paths():
    """A run directory that is moved or copied keeps its cache: the mix recipe's path and a checkpoint's path are
    not in a GAN run's key (the synthetic rows' content hash is), while a mixing setting and other rows are."""
    from dataclasses import replace

    import ganaug.runner as runner
    from ganaug.experiment import build_splits

    recipe = recipe_from_dict(TINY)
    splits = build_splits(recipe.data, recipe.experiment)

    def key(r, rows="rows-a"):
        return runner._run_key(
            runner._cache_base(r, splits), "gan", 0, runner.GanRun(0, None, "", synth_fingerprint=rows)
        )

    moved = replace(
        recipe,
        synthetic=replace(recipe.synthetic, mix_with="/elsewhere/mix-recipe.toml"),
        gan=replace(recipe.gan, checkpoint="/elsewhere/gan"),
    )
    assert key(moved) == key(recipe)
    assert key(recipe, rows="rows-b") != key(recipe)
    assert key(replace(recipe, synthetic=replace(recipe.synthetic, mix_share=0.25))) != key(recipe)


def test_target_scale_fills_the_picked_classes_past_the_majority_and_nothing_else():
    """``[synthetic] target_scale``: the classes ``sampling_strategy`` fills get ``scale`` × its target (2: twice
    the majority count), the others none; it cannot be combined with ``target_per_class``."""
    from ganaug.experiment import build_splits
    from ganaug.synthetic import make_synthetic, scaled_targets

    provider = ganaug.default_provider()
    for scale, extra in ((2.0, 21), (1.1, 11)):  # majority 12, minority 3: 24 - 3 and ceil(13.2) - 3
        r = recipe_from_dict({**TINY, "synthetic": {"target_scale": scale}})
        splits = build_splits(r.data, r.experiment)
        ds, synth = make_synthetic(r, splits, provider)
        assert synth.class_counts() == [0] * 8 + [extra, extra]
        assert int(np.asarray(ds["synthetic"]).sum()) == 2 * extra
    assert scaled_targets([450, 5], "auto", 1.1, provider) == {1: 495}  # exact, not 496
    assert scaled_targets([450, 5], "auto", 0.01, provider) == {1: 5}  # a class never loses rows
    with pytest.raises(ConfigError, match="set one of them"):
        recipe_from_dict({"synthetic": {"target_scale": 2.0, "target_per_class": 100}})
    with pytest.raises(ConfigError, match="set synthetic.ratio instead"):
        recipe_from_dict({"synthetic": {"target_scale": 2.0, "mode": "augment"}})
    with pytest.raises(ConfigError, match=r"synthetic.target_scale = 0.0 is out of range"):
        recipe_from_dict({"synthetic": {"target_scale": 0.0}})


def test_seed_interval_counts_a_classifier_seed_once_and_covers_at_its_level():
    from ganaug.stats import paired_ci, seed_ci

    d = [0.3, 0.1, 0.5, 0.2]
    assert seed_ci(d, [0, 1, 2, 3]) == pytest.approx(paired_ci(d))  # one GAN seed: the plain paired interval
    # two GAN seeds: each classifier seed's two differences are averaged, then the interval runs over 2 seeds
    assert seed_ci(d, [0, 0, 1, 1]) == pytest.approx(paired_ci([0.2, 0.35]))
    with pytest.raises(ValueError, match="one classifier seed per difference"):
        seed_ci(d, [0, 1])
    # null differences where the rows of two GAN seeds share their classifier seed's baseline run (that run's noise,
    # sd 1, in both) plus their own (sd 1): counted as 10 separate pairs the interval misses zero too often
    rng = np.random.default_rng(0)
    seeds = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    covered = {"pairs": 0, "seeds": 0}
    for _ in range(2000):
        diffs = np.repeat(rng.standard_normal(5), 2) + rng.standard_normal(10)
        covered["pairs"] += paired_ci(diffs)[1] <= 0 <= paired_ci(diffs)[2]
        covered["seeds"] += seed_ci(diffs, seeds)[1] <= 0 <= seed_ci(diffs, seeds)[2]
    assert covered["pairs"] / 2000 < 0.925
    assert 0.93 < covered["seeds"] / 2000 < 0.97


def test_headline_interval_runs_over_classifier_seeds_and_shows_each_gan_seeds_mean():
    from ganaug.stats import headline, paired_ci

    def row(seed, acc, gan_seed=None):
        r = {"seed": seed, "test": {"balanced_accuracy": acc}, "validation": {"balanced_accuracy": acc}}
        return r if gan_seed is None else {**r, "gan_seed": gan_seed}

    base = [row(s, a) for s, a in enumerate([0.90, 0.92, 0.91])]
    gan = [row(s, a + 0.01 + 0.02 * g, g) for g in (0, 1) for s, a in enumerate([0.90, 0.92, 0.91])]
    gan[0]["test"]["balanced_accuracy"] += 0.015  # seed 0 of GAN seed 0 does better
    h = headline({"elastic": base, "gan+elastic": gan}, "balanced_accuracy", True)
    assert len(h["diffs"]) == 6  # every (GAN seed, classifier seed) pair is kept
    per_seed = [np.mean([0.01 + 0.015, 0.03]), 0.02, 0.02]  # classifier seeds 0-2, GAN seeds averaged
    assert h["test_diff_ci95"] == pytest.approx(list(paired_ci(per_seed)[1:]))
    assert h["test_diff_per_gan_seed"] == pytest.approx({"0": 0.015, "1": 0.03})
    from ganaug.stats import new_gan_ci  # and the interval for a newly trained GAN, from the full table

    table = np.array([[0.025, 0.01, 0.01], [0.03, 0.03, 0.03]])  # GAN seed × classifier seed
    assert h["test_diff_ci95_new_gan"] == pytest.approx(list(new_gan_ci(table)[1:3]))
    # one GAN seed: no per-GAN-seed entry
    one = headline({"elastic": base, "gan+elastic": gan[:3]}, "balanced_accuracy", True)
    assert "test_diff_per_gan_seed" not in one and "test_diff_ci95_new_gan" not in one
    # a (GAN seed, classifier seed) pair that did not run, or ran twice: each GAN seed's mean, no new-GAN interval
    for rows in (gan[:-1], gan + gan[-1:]):
        h = headline({"elastic": base, "gan+elastic": rows}, "balanced_accuracy", True)
        assert set(h["test_diff_per_gan_seed"]) == {"0", "1"} and "test_diff_ci95_new_gan" not in h
        assert len(h["test_diff_ci95"]) == 2
    h = headline({"elastic": base, "gan+elastic": gan[:-1]}, "balanced_accuracy", True)
    assert h["test_diff_per_gan_seed"]["1"] == pytest.approx(0.03)  # GAN seed 1's two pairs left
