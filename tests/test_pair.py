"""The image-conditioned pair GAN (arch="pair"): its warp, its training pairs, its checkpoint with exemplars, and
every integration (Augment, balance, SyntheticSwap, SyntheticDataset, recipes, the CLI with DDP)."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import datasets
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from test_recipe import TINY

import ganaug
from ganaug import checkpoint as ckpt
from ganaug.data import ImageSpec, LabelledImages, load_images
from ganaug.errors import CheckpointError, ConfigError, ConfigTypeError, SpecMismatchError
from ganaug.models import ModelConfig
from ganaug.pair import PairBatches, PairGenerator, teaching_classes, warp
from ganaug.provider import Provider
from ganaug.recipe import load_recipe, recipe_from_dict
from ganaug.runner import run_recipe
from ganaug.train import TrainConfig, train

PAIR = ModelConfig(arch="pair", z_dim=4, g_width=8, d_width=8)
PAIR_TRAIN = TrainConfig(steps=6, batch_size=8, loss="hinge", mode_seeking=0.05, ema_decay=0.0, checkpoint_every=3)


@pytest.fixture(scope="module")
def pair_dir(tmp_path_factory, small_ds):
    out = tmp_path_factory.mktemp("pair")
    train(small_ds, out, config=PAIR_TRAIN, model=PAIR, progress=False)
    return out


@pytest.fixture(scope="module")
def pair(pair_dir):
    return ganaug.load_provider(pair_dir)


def _nearest(images: torch.Tensor, refs: torch.Tensor) -> torch.Tensor:
    """Index of each image's nearest reference (mean absolute pixel difference)."""
    d = (images.flatten(1).float()[:, None] - refs.flatten(1).float()[None]).abs().mean(2)
    return d.argmin(1)


def test_warp_with_zero_parameters_is_the_identity():
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    same = warp(x, torch.zeros(3, 2, 7, 7), torch.zeros(3, 6), torch.zeros(3))
    assert torch.allclose(same, x, atol=1e-5)
    thick = warp(x, None, None, torch.ones(3))  # full thickness: the 3×3 dilation
    assert torch.allclose(thick, torch.nn.functional.max_pool2d(x, 3, 1, 1), atol=1e-5)


def test_redraw_head_starts_as_the_warp_and_paints_only_near_the_ink():
    spec = ImageSpec(1, 28, 28, 10, tuple("0123456789"))
    torch.manual_seed(0)
    plain = PairGenerator(spec, PAIR)
    torch.manual_seed(0)
    redraw = PairGenerator(spec, ModelConfig(**{**PAIR.to_dict(), "redraw": 0.5}))
    x = -torch.ones(2, 1, 28, 28)
    x[:, :, 10:18, 13:15] = 1.0  # a vertical stroke, 2 px wide
    z = torch.randn(2, PAIR.z_dim)
    # the head's last layer starts at zero, after the shipped layers: at step 0 it is the warp-only G
    assert plain.stroke is None and torch.equal(plain(z, x), redraw(z, x))
    with torch.no_grad():
        redraw.stroke[-1].bias.fill_(-5.0)  # paint dark everywhere it may: the stroke thins
    painted = redraw.redrawn(x, redraw.encode(z, x))
    near = torch.zeros_like(x, dtype=torch.bool)
    near[:, :, 8:20, 11:17] = True  # within 2 px of the stroke
    assert torch.equal(painted[~near], x[~near])  # the background is untouched
    assert (painted[near] < x[near]).any() and painted.min() >= -1
    drop = (x - painted)[:, :, 10:18, 13:15]  # on the stroke: at most redraw of the range, nearly all of it
    assert drop.max() <= 0.5 + 1e-6 and drop.min() > 0.49


def test_a_pair_gan_that_redraws_trains_saves_and_reloads(tmp_path, small_ds):
    model = ModelConfig(**{**PAIR.to_dict(), "redraw": 1.0})
    provider = train(small_ds, tmp_path, config=PAIR_TRAIN, model=model, progress=False)
    assert provider.generator.stroke is not None and provider.generator.stroke[-1].weight.abs().sum() > 0  # it learned
    again = ganaug.load_provider(tmp_path)
    assert again.meta["model"]["redraw"] == 1.0
    assert torch.equal(provider.sample(torch.tensor([0, 9]), seed=3), again.sample(torch.tensor([0, 9]), seed=3))
    with pytest.raises(ConfigError, match="redraw applies to arch='pair' only"):
        ModelConfig(redraw=0.5)
    with pytest.raises(ConfigError, match=r"redraw must be a share of the \[-1, 1\] range in \[0, 2\]"):
        ModelConfig(arch="pair", redraw=3.0)


def test_teaching_classes_are_the_rich_ones():
    assert teaching_classes([450] * 5 + [5] * 5) == [0, 1, 2, 3, 4]
    assert teaching_classes([20] * 10) == list(range(10))
    assert teaching_classes([30, 14, 15, 1]) == [0, 2]
    assert teaching_classes([1, 1]) == []


def test_training_pairs_are_two_different_images_of_one_teaching_class():
    n = 60  # each image is flat at its own row number, so a pixel names the row it came from
    labels = torch.tensor([0] * 25 + [1] * 25 + [2] * 10)
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 28, 28).contiguous()
    data = LabelledImages(images, labels, ImageSpec(1, 28, 28, 3, ("0", "1", "2")))
    batches = PairBatches(data, batch_size=64)
    assert batches.classes == [0, 1]  # class 2 (10 images) is under half of the largest class: it never teaches
    partner, source = batches.draw(torch.Generator().manual_seed(0), torch.device("cpu"))
    row = lambda x: ((x[:, 0, 14, 14] + 1) * 127.5).round().long()  # noqa: E731  (centre: untouched by the affine)
    i, j = row(source), row(partner)
    assert (i != j).all() and torch.equal(labels[i], labels[j]) and set(labels[i].tolist()) == {0, 1}


def test_checkpoint_holds_the_exemplars_under_the_weight_hash(pair, pair_dir, small_ds, tmp_path):
    data = load_images(small_ds)
    assert pair.image_conditioned and torch.equal(pair.exemplars[0], data.images)
    assert torch.equal(pair.exemplars[1], data.labels)
    meta = json.loads((pair_dir / "meta.json").read_text())
    assert meta["model"]["arch"] == "pair" and meta["pair_classes"] == list(range(10))
    # exemplars dropped from the file (and the hash updated to match): refused, not sampled from nothing
    bad = tmp_path / "bad"
    bad.mkdir()
    tensors = {k: v for k, v in load_file(str(pair_dir / ckpt.GENERATOR_FILE)).items() if "exemplars" not in k}
    save_file(tensors, str(bad / ckpt.GENERATOR_FILE))
    meta["generator_sha256"] = ckpt.sha256_file(bad / ckpt.GENERATOR_FILE)
    (bad / ckpt.META_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="without valid exemplar images"):
        ganaug.load_provider(bad)


def test_sample_varies_exemplars_of_each_label_reproducibly(pair):
    labels = torch.arange(10).repeat(3)
    x = pair.sample(labels, seed=3)
    assert x.shape == (30, 1, 28, 28) and x.dtype == torch.uint8
    assert torch.equal(x, pair.sample(labels, seed=3, batch_size=7))
    assert not torch.equal(x, pair.sample(labels, seed=4))
    images, ex_labels = pair.exemplars
    assert (ex_labels[_nearest(x, images)] == labels).float().mean() >= 0.9  # a variant of its label's image
    no_three = Provider(pair.generator, pair.meta, pair.path, (images[ex_labels != 3], ex_labels[ex_labels != 3]))
    with pytest.raises(SpecMismatchError, match="stores no image of class 3"):
        no_three.sample([1, 3])


def test_vary_returns_a_variant_of_each_given_image_in_any_form(pair, small_ds, tiny_provider):
    data = load_images(small_ds)
    src = data.images[:40]
    v = pair.vary(src, seed=1)
    assert v.shape == src.shape and not torch.equal(v, src)
    assert (_nearest(v, src) == torch.arange(40)).float().mean() >= 0.9
    pil = [Provider.to_pil(src[i : i + 1])[0] for i in range(40)]
    assert torch.equal(pair.vary(pil, seed=1), v)  # PIL in, the same variants out
    for bad in (pil[0], "digits.png", None):
        with pytest.raises(ConfigTypeError, match="for one image pass"):
            pair.vary(bad)
    with pytest.raises(SpecMismatchError, match="varies"):
        pair.vary(torch.zeros(2, 1, 20, 20, dtype=torch.uint8))
    with pytest.raises(ConfigError, match="cannot vary given images"):
        tiny_provider.vary(src)


def test_augment_adds_variants_of_the_batch_own_rows(pair, small_ds):
    aug = ganaug.Augment(pair, ratio=0.5, seed=0)
    out = small_ds.map(aug, batched=True, batch_size=50, load_from_cache_file=False)
    flags = np.asarray(out["synthetic"])
    assert flags.sum() == 100 and (~flags).sum() == 200
    real = load_images(out.select(np.nonzero(~flags)[0]))
    new = load_images(out.select(np.nonzero(flags)[0]))
    assert torch.equal(real.images, load_images(small_ds).images)  # originals untouched
    near = _nearest(new.images, real.images)
    assert (real.labels[near] == new.labels).float().mean() >= 0.9
    # a new row varies a row of its own batch (batches of 50 rows: new rows 25 per batch, in batch order)
    batch_of_new = torch.arange(100) // 25
    assert (near // 50 == batch_of_new).float().mean() >= 0.9
    again = small_ds.map(pickle.loads(pickle.dumps(aug)), batched=True, batch_size=50, load_from_cache_file=False)
    assert torch.equal(load_images(again.select(np.nonzero(flags)[0])).images, new.images)
    # a class the batch lacks (class_distribution asks for 7 only): variants of the stored exemplars of 7
    no_sevens = small_ds.filter(lambda ex: ex["label"] != 7).select(range(40))
    sevens = no_sevens.map(ganaug.Augment(pair, ratio=0.25, class_distribution={7: 1.0}), batched=True)
    every = load_images(sevens)
    new7 = torch.from_numpy(np.asarray(sevens["synthetic"]))
    images, ex_labels = pair.exemplars
    assert every.labels[new7].tolist() == [7] * 10 and (ex_labels[_nearest(every.images[new7], images)] == 7).all()
    swapped = small_ds.select(range(10)).map(ganaug.Augment(pair, p=1.0), load_from_cache_file=False)
    s = load_images(swapped).images
    assert (
        all(swapped["synthetic"])
        and (_nearest(s, load_images(small_ds.select(range(10))).images) == torch.arange(10)).all()
    )


def test_balance_fills_each_class_with_variants_of_its_own_images(pair, small_ds):
    labels = np.asarray(small_ds["label"])
    keep = [i for i in range(len(labels)) if labels[i] < 5 or (labels[:i] == labels[i]).sum() < 3]
    ds = small_ds.select(keep)  # digits 5-9 cut to 3 images each
    out = ganaug.balance(ds, pair, seed=0)
    flags = np.asarray(out["synthetic"])
    assert np.bincount(np.asarray(out["label"]), minlength=10).tolist() == [20] * 10
    new = load_images(out.select(np.nonzero(flags)[0]))
    real = load_images(ds)
    near = _nearest(new.images, real.images)
    assert (real.labels[near] == new.labels).float().mean() >= 0.9


def test_synthetic_swap_and_dataset(pair, small_ds):
    data = load_images(small_ds)
    swap = ganaug.transforms.SyntheticSwap(pair, p=1.0, seed=0)
    outs = [swap(data.images[i], int(data.labels[i]))[0] for i in range(20)]
    assert all(isinstance(o, torch.Tensor) and o.shape == (1, 28, 28) for o in outs)
    assert (_nearest(torch.stack(outs), data.images[:20]) == torch.arange(20)).float().mean() >= 0.9
    assert pickle.loads(pickle.dumps(swap)).provider.image_conditioned
    ds = ganaug.SyntheticDataset(pair, counts={3: 4, 7: 2}, seed=0)
    assert [int(ds[i][1]) for i in range(len(ds))] == [3, 3, 3, 3, 7, 7]
    images = torch.stack([torch.as_tensor(ds[i][0]) for i in range(len(ds))])
    ex_images, ex_labels = pair.exemplars  # each image varies a stored exemplar of its own label
    assert (ex_labels[_nearest(images, ex_images)] == torch.tensor([3, 3, 3, 3, 7, 7])).all()


def test_resume_ends_where_an_uninterrupted_run_ends(tmp_path, small_ds):
    train(small_ds, tmp_path / "full", config=PAIR_TRAIN, model=PAIR, progress=False)
    part = TrainConfig(**{**PAIR_TRAIN.to_dict(), "steps": 3})
    train(small_ds, tmp_path / "part", config=part, model=PAIR, progress=False)
    train(small_ds, tmp_path / "part", config=PAIR_TRAIN, model=PAIR, resume=True, progress=False)
    a, b = (load_file(str(tmp_path / d / ckpt.GENERATOR_FILE)) for d in ("full", "part"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_settings_the_pair_gan_cannot_honour_are_refused(tmp_path, small_ds, capsys):
    with pytest.raises(ConfigError, match="real_augment does not apply"):
        train(small_ds, tmp_path / "a", config=TrainConfig(steps=2, real_augment=0.5), model=PAIR, progress=False)
    lonely = small_ds.select([int(np.nonzero(np.asarray(small_ds["label"]) == c)[0][0]) for c in range(10)])
    with pytest.raises(ConfigError, match="no class has 2 images"):
        train(lonely, tmp_path / "b", config=TrainConfig(steps=2, batch_size=4), model=PAIR, progress=False)
    with pytest.raises(ConfigError, match="class_balanced=False does not apply to arch='pair'"):
        train(small_ds, tmp_path / "c", config=TrainConfig(steps=2, class_balanced=False), model=PAIR, progress=False)
    assert not any((tmp_path / name).exists() for name in "abc")  # a refused run leaves no output folder
    from ganaug.cli import main

    argv = ["train", "mnist-mini", "--out", str(tmp_path / "d"), "--arch", "pair", "--steps", "2"]
    assert main([*argv, "--real-augment", "0.25"]) == 2  # the CLI: exit code 2 and the message, no folder
    assert "real_augment does not apply" in capsys.readouterr().err and not (tmp_path / "d").exists()


def test_recipe_with_a_pair_gan_runs_end_to_end(tmp_path):
    from benchmarks._common import toml_text

    raw = {
        **TINY,  # the tiny imbalanced split of the recipe tests: digits 8 and 9 have 3 images
        "seeds": [0],
        "arms": ["elastic", "gan+elastic"],
        "output_dir": str(tmp_path / "run"),
        "gan": {"arch": "pair", "steps": 4, "batch_size": 8, "z_dim": 4, "g_width": 8, "d_width": 8, "ema_decay": 0.0},
        "classifier": {**TINY["classifier"], "real_share": 0.5},
    }
    rep = run_recipe(recipe_from_dict(raw), write_anyway=True, progress=False)
    assert rep["recipe"]["gan"]["arch"] == "pair" and rep["gan"]["synthetic_class_counts"] == [0] * 8 + [9, 9]
    ds = datasets.load_from_disk(str(tmp_path / "run" / "augmented"))
    flags = np.asarray(ds["synthetic"])
    real, new = load_images(ds.select(np.nonzero(~flags)[0])), load_images(ds.select(np.nonzero(flags)[0]))
    near = _nearest(new.images, real.images)
    assert (real.labels[near] == new.labels).all()  # the rare digits' rows vary their own 3 images
    assert "variants.png" in rep["plots"] and (tmp_path / "run" / "variants.png").exists()
    assert "`variants.png` (real training images, each beside" in (tmp_path / "run" / "report.md").read_text()
    # mixed with a label-conditioned GAN recipe on the same split: its GAN makes a share of every class's rows
    label_recipe = tmp_path / "label.toml"
    label_recipe.write_text(toml_text({**TINY, "name": "tiny-label", "output_dir": str(tmp_path / "unused")}))
    raw["synthetic"] = {"mix_with": str(label_recipe), "mix_share": 0.25}
    rep = run_recipe(
        recipe_from_dict({**raw, "output_dir": str(tmp_path / "mixed")}), write_anyway=True, progress=False
    )
    assert "25% of the synthetic images from tiny-label's GAN, trained in" in rep["gan"]["source"]
    assert rep["gan"]["synthetic_class_counts"] == [0] * 8 + [9, 9]
    assert (tmp_path / "mixed" / "mix" / "gan" / "generator.safetensors").exists()
    assert "variants.png" in rep["plots"]  # the mix's pair GAN varies the images
    other = tmp_path / "other.toml"
    other.write_text(toml_text({**TINY, "experiment": {**TINY["experiment"], "minority_count": 4}}))
    pair_recipe = tmp_path / "pair.toml"
    pair_recipe.write_text(toml_text({**raw, "synthetic": {"mix_with": "other.toml"}}))  # relative to pair.toml
    with pytest.raises(ConfigError, match="runs on other data or another split"):
        load_recipe(pair_recipe)
    pair_recipe.write_text(toml_text({**raw, "synthetic": {"mix_with": "nowhere.toml"}}))
    with pytest.raises(ConfigError, match="does not exist"):
        load_recipe(pair_recipe)


def test_report_grid_rows_are_real_training_images_each_beside_variants_of_itself(tmp_path, pair_dir, tiny_provider):
    from ganaug.experiment import build_splits
    from ganaug.runner import _variant_rows

    recipe = recipe_from_dict({**TINY, "output_dir": str(tmp_path / "run")})
    splits = build_splits(recipe.data, recipe.experiment)
    pair = ganaug.load_provider(pair_dir)
    rows = _variant_rows(splits, pair)
    assert [label for label, _, _ in rows] == ["8 #1", "8 #2", "8 #3", "9 #1", "9 #2", "9 #3"]  # 3 images of each
    train = splits.train
    for label, real, varied in rows:
        own = train.images[train.labels == int(label[0])]
        assert varied.shape == (10, *real.shape) and not torch.equal(varied[0], varied[1])
        assert (own[_nearest(varied, own)] == real).flatten(1).all(1).all()  # each varies its row's image
    assert _variant_rows(splits, tiny_provider) is None  # a label-conditioned GAN varies no image
    mixed = _variant_rows(splits, ganaug.mix(tiny_provider, pair))  # a mix: its pair GAN's variants
    assert all(torch.equal(a[2], b[2]) for a, b in zip(mixed, rows, strict=True))
    equal = {"kind": "per_class", "per_class": 3, "validation": "pool", "validation_per_class": 5}
    equal = build_splits(recipe.data, recipe_from_dict({**TINY, "experiment": equal}).experiment)
    assert [label for label, _, _ in _variant_rows(equal, pair)][:4] == ["0 #1", "0 #2", "1 #1", "1 #2"]
    assert len(_variant_rows(equal, pair)) == 20  # no minority: every class, 2 images each (25 rows at most)


def test_ddp_on_cpu_two_processes(tmp_path, small_ds):
    """The pair GAN under Fabric DDP (gloo, 2 processes): trains, rank zero writes, the provider loads."""
    data_dir = tmp_path / "data"
    small_ds.save_to_disk(str(data_dir))
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "ganaug.cli", "train", str(data_dir), "--out", str(out), "--arch", "pair"]
    cmd += ["--steps", "4", "--batch-size", "8", "--g-width", "8", "--d-width", "8", "--z-dim", "4", "--loss", "hinge"]
    cmd += ["--accelerator", "cpu", "--devices", "2", "--strategy", "ddp", "--no-progress"]
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["world_size"] == 2 and meta["step"] == 4 and meta["model"]["arch"] == "pair"
    p = ganaug.load_provider(out)
    assert p.image_conditioned and p.sample([1, 2], seed=0).shape == (2, 1, 28, 28)


def test_generator_output_stays_in_range(pair):
    gen = pair.generator
    assert isinstance(gen, PairGenerator)
    x = pair.exemplars[0][:16].float() / 127.5 - 1
    y = gen(torch.randn(16, gen.cfg.z_dim), x)
    assert y.shape == x.shape and y.min() >= -1 - 1e-5 and y.max() <= 1 + 1e-5


def test_mix_splits_every_class_in_exact_shares_and_pickles(pair, tiny_provider, small_ds, monkeypatch):
    both = ganaug.mix(pair, tiny_provider, weights=[3, 1])
    assert isinstance(both, Provider) and both.weights == (0.75, 0.25) and both.saved
    labels = torch.tensor([2] * 8 + [5] * 4)
    x = both.sample(labels, seed=0)
    assert x.shape == (12, 1, 28, 28) and torch.equal(x, both.sample(labels, seed=0, batch_size=5))
    again = pickle.loads(pickle.dumps(both))
    assert again.content_hash == both.content_hash and torch.equal(again.sample(labels, seed=0), x)
    # which part made which image: the pair part returns black images here, the label part white ones
    for part, value in ((pair, 0), (tiny_provider, 255)):
        make = lambda y, *a, v=value, **k: torch.full((len(y), 1, 28, 28), v, dtype=torch.uint8)  # noqa: E731
        monkeypatch.setattr(part, "sample", make)
        monkeypatch.setattr(part, "synthesize", make)
    for out in (both.sample(labels, seed=1), both.synthesize(labels, [], [], seed=1)):
        white = out.flatten(1)[:, 0] == 255
        assert white[:8].sum() == 2 and white[8:].sum() == 1  # a quarter of each class, exactly
    assert not torch.equal(both.sample(labels, seed=1), both.sample(labels, seed=2))  # positions follow the seed
    out = ganaug.balance(small_ds.select(range(24)), both, sampling_strategy={0: 10, 1: 10})
    new = load_images(out.select(np.nonzero(np.asarray(out["synthetic"]))[0]))
    assert [int((new.images[new.labels == c].flatten(1)[:, 0] == 255).sum()) for c in (0, 1)] == [2, 2]
    with pytest.raises(ConfigError, match="one non-negative weight per provider"):
        ganaug.mix(pair, tiny_provider, weights=[1])
    with pytest.raises(ConfigTypeError, match="two or more"):
        ganaug.mix(pair)
