"""Crash safety: a SIGKILLed training leaves a loadable checkpoint and resumes to the exact weights of an
uninterrupted run; a diverging run stops with TrainingError and keeps its last good checkpoint; nothing in a
checkpoint directory is ever unpickled."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import ganaug
from ganaug import checkpoint as ckpt
from ganaug.errors import CheckpointError, TrainingError
from ganaug.models import ModelConfig
from ganaug.train import TrainConfig

REPO = Path(__file__).resolve().parents[1]
STEPS = 60
TRAIN_ARGS = [
    "--steps",
    str(STEPS),
    "--checkpoint-every",
    "10",
    "--batch-size",
    "16",
    "--g-width",
    "8",
    "--d-width",
    "8",
    "--seed",
    "3",
    "--accelerator",
    "cpu",
    "--no-progress",
]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        TQDM_DISABLE="1",
        HF_DATASETS_OFFLINE="1",
        HF_HUB_OFFLINE="1",
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    return env


def _train_cmd(data: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ganaug.cli", "train", str(data), "--out", str(out), *TRAIN_ARGS, *extra]


def _start(cmd: list[str], env: dict[str, str], stdout: int) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=REPO, env=env, text=True, stdout=stdout, stderr=subprocess.STDOUT)


def _meta_step(out: Path) -> int | None:
    try:
        return int(json.loads((out / ckpt.META_FILE).read_text())["step"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return None


def _finish(proc: subprocess.Popen, timeout: float = 240) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"training failed (rc={proc.returncode}):\n{out[-3000:]}"
    return out


@pytest.fixture(scope="module")
def mini_dir(tmp_path_factory):
    from ganaug.data import mnist_mini

    d = tmp_path_factory.mktemp("resume") / "mnist100"
    mnist_mini("train").select(range(0, 5000, 50)).save_to_disk(str(d))  # 100 images, 10 per class
    return d


@pytest.mark.parametrize(
    "kind", [[], ["--arch", "pair", "--loss", "hinge", "--ema-decay", "0"]], ids=["label-conditioned", "pair"]
)
def test_sigkill_then_resume_matches_uninterrupted_run(mini_dir, tmp_path, kind):
    crashed, reference = tmp_path / "crashed", tmp_path / "reference"
    env = _env()
    # the uninterrupted reference runs alongside the run we kill (one thread each)
    ref = _start(_train_cmd(mini_dir, reference, *kind), env, subprocess.PIPE)
    victim = _start(_train_cmd(mini_dir, crashed, *kind), env, subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while True:
            step = _meta_step(crashed)
            if (crashed / ckpt.TRAINER_FILE).exists() and step is not None and step >= 20:
                break
            assert victim.poll() is None, f"the training ended (rc={victim.returncode}) before it could be killed"
            assert time.monotonic() < deadline, "no checkpoint at step >= 20 within 180 s"
            time.sleep(0.01)
        assert victim.poll() is None, "the training finished before the kill; nothing was interrupted"
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.wait(timeout=30) == -signal.SIGKILL
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()

    # the directory holds the last complete checkpoint, hash-checked, and a resumable trainer state
    meta = json.loads((crashed / ckpt.META_FILE).read_text())
    assert 20 <= meta["step"] < STEPS and meta["step"] % 10 == 0
    assert ckpt.sha256_file(crashed / ckpt.GENERATOR_FILE) == meta["generator_sha256"]
    provider = ganaug.load_provider(crashed)
    assert provider.meta["step"] == meta["step"]
    imgs = provider.sample([0, 1, 2], seed=0)
    assert imgs.shape == (3, 1, 28, 28) and imgs.dtype == torch.uint8
    state = ckpt.load_trainer_state(crashed)
    assert meta["step"] <= state["step"] < STEPS and state["step"] % 10 == 0

    resumed = subprocess.run(
        _train_cmd(mini_dir, crashed, *kind, "--resume"),
        cwd=REPO,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=240,
    )
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    _finish(ref)

    for d in (crashed, reference):
        assert ckpt.load_trainer_state(d)["step"] == STEPS
        assert json.loads((d / ckpt.META_FILE).read_text())["step"] == STEPS
    a, b = load_file(str(crashed / ckpt.GENERATOR_FILE)), load_file(str(reference / ckpt.GENERATOR_FILE))
    assert sorted(a) == sorted(b)
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"resumed weights differ from the uninterrupted run in {different}"
    ta, tb = ckpt.load_trainer_state(crashed), ckpt.load_trainer_state(reference)
    for net in ("G", "D"):
        assert all(torch.equal(ta[net][k], tb[net][k]) for k in tb[net]), f"{net} differs after resume"
    assert ganaug.load_provider(crashed).content_hash == ganaug.load_provider(reference).content_hash


def test_diverging_training_raises_and_keeps_last_checkpoint(small_ds, tmp_path, monkeypatch):
    from ganaug import losses

    real_d_loss = losses.adversarial_d
    calls = {"n": 0}

    def poisoned(kind, d_real, d_fake):
        calls["n"] += 1
        loss = real_d_loss(kind, d_real, d_fake)
        return loss * float("nan") if calls["n"] > 4 else loss  # steps 1-4 fine, step 5 diverges

    monkeypatch.setattr(losses, "adversarial_d", poisoned)
    out = tmp_path / "diverged"
    with pytest.raises(TrainingError, match=r"training diverged at step 5: loss_d=nan.*last good checkpoint") as info:
        ganaug.train(
            small_ds,
            out,
            config=TrainConfig(steps=12, batch_size=8, checkpoint_every=2, ema_decay=0.9),
            model=ModelConfig(g_width=8, d_width=8),
            accelerator="cpu",
            progress=False,
        )
    assert str(out) in str(info.value)
    assert calls["n"] == 5, "training must stop at the first non-finite loss"

    meta = json.loads((out / ckpt.META_FILE).read_text())
    assert meta["step"] == 4
    provider = ganaug.load_provider(out)
    assert all(torch.isfinite(t).all() for t in provider.generator.state_dict().values() if t.is_floating_point())
    imgs = provider.sample(list(range(10)), seed=0)
    assert imgs.shape == (10, 1, 28, 28)
    assert ckpt.load_trainer_state(out)["step"] == 4


class _Payload:
    """Unpickling this object opens (creates) ``marker``."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_pickles_in_checkpoint_are_never_executed(tiny_provider_dir, small_ds, tmp_path):
    import shutil

    d = tmp_path / "evil_ckpt"
    shutil.copytree(tiny_provider_dir, d)
    marker = tmp_path / "pwned"
    torch.save({"step": 10, "G": _Payload(str(marker))}, d / ckpt.TRAINER_FILE)
    (d / "evil.pkl").write_bytes(pickle.dumps(_Payload(str(marker))))
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    torch.save(
        {"step": 10, "G": _Payload(str(marker))}, legacy / ckpt.TRAINER_FILE, _use_new_zipfile_serialization=False
    )
    assert not marker.exists()

    provider = ganaug.load_provider(d)
    assert provider.sample([0, 1, 2], seed=1).shape == (3, 1, 28, 28)
    pickle.loads(pickle.dumps(provider)).sample([3], seed=0)  # a pickled provider re-loads from its directory
    aug = ganaug.Augment(d, ratio=1.0)
    aug({"image": list(provider.to_pil(provider.sample([4, 5], seed=2))), "label": [4, 5]})
    assert not marker.exists()

    for directory in (d, legacy):
        with pytest.raises(
            CheckpointError,
            match=r"^.*trainer\.pt holds something other than plain tensors \(UnpicklingError\) and was refused unread",
        ) as info:
            ckpt.load_trainer_state(directory)
        assert str(info.value).endswith("; delete it and train without resume")
    with pytest.raises(CheckpointError, match=r"was refused unread"):
        ganaug.train(
            small_ds,
            d,
            steps=50,
            batch_size=8,
            model=ModelConfig(g_width=8, d_width=8),
            resume=True,
            accelerator="cpu",
            progress=False,
        )
    assert not marker.exists(), "a pickle inside the checkpoint directory was executed"

    # control: the payload is live, so the checks above could fail
    pickle.loads((d / "evil.pkl").read_bytes()).close()
    assert marker.exists()


def test_refused_trainer_state_message_is_one_safe_line(tmp_path):
    marker = tmp_path / "pwned"
    d = tmp_path / "evil"
    d.mkdir()
    torch.save({"step": 1, "G": _Payload(str(marker))}, d / ckpt.TRAINER_FILE)
    with pytest.raises(CheckpointError) as info:
        ckpt.load_trainer_state(d)
    assert not marker.exists()
    msg = str(info.value)
    assert "\n" not in msg and "\x1b" not in msg
    assert "weights_only` set to `False`" not in msg
