import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

import ganaug
from ganaug.data import load_images, mnist_mini
from ganaug.models import ModelConfig
from ganaug.train import TrainConfig, train

TINY = ModelConfig(g_width=8, d_width=8)


def _weights(path):
    return load_file(str(path / "generator.safetensors"))


def test_training_writes_a_complete_checkpoint(tiny_provider_dir):
    names = {p.name for p in tiny_provider_dir.iterdir()}
    assert {"generator.safetensors", "meta.json", "trainer.pt", "samples.png", "logs"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    meta = json.loads((tiny_provider_dir / "meta.json").read_text())
    assert meta["step"] == 40 and meta["format_version"] == 1 and meta["spec"]["height"] == 28
    assert meta["train"]["steps"] == 40 and meta["model"]["g_width"] == 8
    import csv

    with open(tiny_provider_dir / "logs" / "version_0" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert {"step", "loss_d", "loss_g", "d_real", "d_fake", "images_per_s"} <= set(rows[0])
    assert [int(r["step"]) for r in rows] == [40]  # log_every 50 > 40 steps: logged once, at the last step
    assert all(float(rows[0][k]) > 0 for k in ("loss_d", "loss_g", "images_per_s"))
    assert all(0 < float(rows[0][k]) < 1 for k in ("d_real", "d_fake"))


def test_same_seed_same_generator_other_seed_differs(tmp_path, small_ds):
    cfg = TrainConfig(steps=6, batch_size=16, checkpoint_every=6)
    train(small_ds, tmp_path / "a", config=cfg, model=TINY, progress=False)
    train(small_ds, tmp_path / "b", config=cfg, model=TINY, progress=False)
    train(small_ds, tmp_path / "c", config=cfg, model=TINY, seed=1, progress=False)
    a, b, c = _weights(tmp_path / "a"), _weights(tmp_path / "b"), _weights(tmp_path / "c")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_resume_ends_where_an_uninterrupted_run_ends(tmp_path, small_ds):
    full = TrainConfig(steps=10, batch_size=16, checkpoint_every=5)
    train(small_ds, tmp_path / "full", config=full, model=TINY, progress=False)
    train(
        small_ds,
        tmp_path / "part",
        config=TrainConfig(steps=5, batch_size=16, checkpoint_every=5),
        model=TINY,
        progress=False,
    )
    train(small_ds, tmp_path / "part", config=full, model=TINY, resume=True, progress=False)
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "part")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_both_architectures_and_diffaug_train_and_sample(tmp_path, small_ds):
    for arch, loss, policy in (
        ("dcgan", "bce", "translation,cutout"),
        ("projection", "hinge", "color,translation,cutout"),
    ):
        p = train(
            small_ds,
            tmp_path / arch,
            config=TrainConfig(steps=4, batch_size=8, loss=loss, diffaug=policy),
            model=ModelConfig(arch=arch, g_width=8, d_width=8),
            progress=False,
        )
        x = p.sample([0, 5, 9], seed=0)
        assert x.shape == (3, 1, 28, 28) and x.dtype == torch.uint8
        assert p.generator.cfg.arch == arch


def test_rgb_and_odd_sizes_train(tmp_path):
    import numpy as np

    from ganaug.data import from_arrays

    x = np.random.default_rng(0).integers(0, 256, (24, 20, 30, 3), dtype=np.uint8)
    p = train(
        from_arrays(x, np.arange(24) % 3),
        tmp_path / "rgb",
        config=TrainConfig(steps=3, batch_size=8),
        model=TINY,
        progress=False,
    )
    assert p.sample([0, 1, 2], seed=0).shape == (3, 3, 20, 30)


def test_ddp_on_cpu_two_processes(tmp_path, small_ds):
    """Fabric DDP (gloo) with 2 processes: trains (with R1's double backward), only rank zero writes, the
    checkpoint loads."""
    data_dir = tmp_path / "data"
    small_ds.save_to_disk(str(data_dir))
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "ganaug.cli",
        "train",
        str(data_dir),
        "--out",
        str(out),
        "--steps",
        "6",
        "--batch-size",
        "8",
        "--g-width",
        "8",
        "--d-width",
        "8",
        "--accelerator",
        "cpu",
        "--devices",
        "2",
        "--strategy",
        "ddp",
        "--r1",  # a second-order penalty through the DDP-wrapped D
        "1.0",
        "--no-progress",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["world_size"] == 2 and meta["step"] == 6 and meta["train"]["r1"] == 1.0
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".")]
    assert len(list(out.glob("logs/*/metrics.csv"))) == 1
    assert ganaug.load_provider(out).sample([1, 2], seed=0).shape == (2, 1, 28, 28)


@pytest.mark.slow
def test_the_gan_learns_digits(tmp_path):
    """A short run on mnist-mini; a CNN trained on real digits must recognise the generated ones."""
    from ganaug.classify import ClassifierConfig, predict_proba, train_classifier

    real = load_images(mnist_mini("train"))
    # 300 steps of the default model: 0.75 measured with this seed; 0.6 leaves room for platform differences
    provider = train(
        real, tmp_path / "gan", config=TrainConfig(steps=300, batch_size=64, checkpoint_every=300), progress=False
    )
    clf = train_classifier(real.images, real.labels, 10, ClassifierConfig(steps=300, batch_size=64))
    x, y = provider.sample_counts({c: 100 for c in range(10)}, seed=123)
    acc = (predict_proba(clf, x).argmax(1) == y).float().mean().item()
    print(f"generated digits recognised as their label: {acc:.3f}")
    assert acc >= 0.6


@pytest.mark.parametrize("term", [{"mode_seeking": 1.0}, {"r1": 1.0}, {"real_augment": 0.5}, {"loss": "hinge"}])
def test_each_training_option_reaches_the_weights(tmp_path, small_ds, term):
    base = TrainConfig(steps=4, batch_size=16, checkpoint_every=4)
    train(small_ds, tmp_path / "base", config=base, model=TINY, progress=False)
    train(small_ds, tmp_path / "term", config=replace(base, **term), model=TINY, progress=False)
    a, b = _weights(tmp_path / "base"), _weights(tmp_path / "term")
    assert not all(torch.equal(a[k], b[k]) for k in a), f"{term} did not change training"


def test_all_options_together_resume_exactly(tmp_path, small_ds):
    both = TrainConfig(steps=6, batch_size=16, checkpoint_every=3, mode_seeking=1.0, r1=1.0, real_augment=0.5)
    train(small_ds, tmp_path / "both", config=both, model=TINY, progress=False)
    train(small_ds, tmp_path / "part", config=replace(both, steps=3), model=TINY, progress=False)
    train(small_ds, tmp_path / "part", config=both, model=TINY, resume=True, progress=False)
    b, c = _weights(tmp_path / "both"), _weights(tmp_path / "part")
    assert all(torch.equal(b[k], c[k]) for k in b)


def test_r1_penalty_is_half_the_squared_gradient_norm_at_real_images():
    from ganaug.losses import r1_penalty as _r1

    x = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    w = torch.randn(1, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    logits = (x * w).flatten(1).sum(1)  # a linear D: its gradient is w for every image
    assert torch.allclose(_r1(logits, x), 0.5 * w.pow(2).sum())
    flat = (x * 0).flatten(1).sum(1) + 2.0  # a constant D has no gradient to penalise
    assert _r1(flat, x).item() == 0.0


def test_mode_seeking_term_rewards_spread():
    from ganaug.losses import mode_seeking, paired_labels

    z = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    same = torch.zeros(8, 1, 4, 4)
    spread = torch.randn(8, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    assert mode_seeking(spread, z, 4) < 1.0 < mode_seeking(same, z, 4)
    y = torch.arange(9)
    assert paired_labels(y).tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 8]  # rows i and i + 4 share a label


def test_real_augment_transforms_only_the_chosen_real_images():
    from ganaug.deform import affine_some as _affine_some

    x = torch.rand(64, 1, 28, 28) * 2 - 1
    assert torch.equal(_affine_some(x, 1e-9, torch.Generator().manual_seed(0)), x)  # no image chosen
    out = _affine_some(x, 0.5, torch.Generator().manual_seed(0))
    changed = (out != x).flatten(1).any(1)
    assert 16 < changed.sum() < 48  # about half, each one really moved
    again = _affine_some(x, 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(out, again) and out.min() >= -1 - 1e-6  # seeded; background stays at -1 or above


def test_elastic_distortion_has_the_asked_size_is_smooth_and_seeded():
    from ganaug.classify import ClassifierConfig
    from ganaug.deform import _elastic_field, random_affine
    from ganaug.errors import ConfigError

    field = _elastic_field(torch.Size((8, 1, 28, 28)), torch.Generator().manual_seed(0), 1.5)
    pixels = field * torch.tensor([28 / 2, 28 / 2])  # back from grid units to pixels
    assert torch.allclose(pixels.flatten(1).std(1), torch.full((8,), 1.5), atol=0.05)
    # smooth: neighbouring pixels move almost together (white noise would differ by ~1.4 std)
    assert (pixels[:, 1:] - pixels[:, :-1]).abs().mean() < 0.2 * pixels.abs().mean()
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    plain = random_affine(x, torch.Generator().manual_seed(3))
    warped = random_affine(x, torch.Generator().manual_seed(3), elastic=1.5)
    again = random_affine(x, torch.Generator().manual_seed(3), elastic=1.5)
    assert torch.equal(warped, again) and not torch.allclose(warped, plain, atol=1e-3)
    assert warped.min() >= -1 - 1e-6 and warped.max() <= 1 + 1e-6
    with pytest.raises(ConfigError, match="set augment=True"):
        ClassifierConfig(elastic=1.0)
    with pytest.raises(ConfigError, match=r"elastic must be pixels in \[0, 5\]"):
        ClassifierConfig(augment=True, elastic=9)


def test_stroke_width_thickens_a_third_thins_a_third_and_is_seeded():
    from ganaug.deform import random_stroke_width

    x = torch.full((300, 1, 28, 28), -1.0)
    x[:, :, 10:18, 13:15] = 1.0  # a 2-px vertical stroke on a dark background
    out = random_stroke_width(x, torch.Generator().manual_seed(0))
    ink = (out > 0).flatten(1).sum(1)
    before = int((x[0] > 0).sum())
    thicker, thinner, same = (ink > before).sum().item(), (ink < before).sum().item(), (ink == before).sum().item()
    assert thicker + thinner + same == 300 and all(70 < n < 130 for n in (thicker, thinner, same))
    assert torch.equal(out, random_stroke_width(x, torch.Generator().manual_seed(0)))
    assert out.min() >= -1 and out.max() <= 1
