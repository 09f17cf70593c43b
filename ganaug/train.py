"""The Lightning Fabric training loop of both GAN kinds (class-conditional, and the image-conditioned pair GAN of
``ganaug.pair``), in one file.

Reading order: ``train`` (public entry: validate, then launch), ``TrainState`` (what a checkpoint holds),
``_worker`` (the loop each process runs: set up, then per step a real batch, a D step, a G step, EMA, logging,
checkpoints), and the helpers below it. The settings are ``ganaug.config.TrainConfig``; the objective is
``ganaug.losses``.

Real batches are drawn from an in-memory uint8 tensor with a generator seeded by (seed, step, rank):
sampling is class-balanced on demand, costs nothing per step, and makes ``resume`` end exactly where an
uninterrupted run ends (no data-loader state to restore).
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import checkpoint as ckpt
from . import losses
from ._io import atomic_write, ensure_writable_dir
from .config import FabricConfig, TrainConfig
from .data import LabelledImages, load_images
from .deform import affine_some
from .diffaug import diff_augment, parse_policy
from .errors import CheckpointError, ConfigError, TrainingError
from .models import ModelConfig, build_discriminator, build_generator
from .pair import PairBatches, check_pair_settings, variant_grid

__all__ = ["FabricConfig", "TrainConfig", "TrainState", "recalibrate_batchnorm", "train"]


def train(
    dataset: Any,
    out: str | os.PathLike[str],
    *,
    steps: int | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    config: TrainConfig | None = None,
    model: ModelConfig | None = None,
    label_column: str | None = None,
    image_column: str | None = None,
    split: str | None = None,
    accelerator: str = "auto",
    devices: int | str = 1,
    strategy: str = "auto",
    precision: str = "32-true",
    num_nodes: int = 1,
    resume: bool = False,
    progress: bool = True,
):
    """Train a class-conditional GAN on ``dataset`` and return a ``Provider`` for its generator.

    ``model=ModelConfig(arch="pair")`` trains the image-conditioned pair GAN instead (``ganaug.pair``): its
    provider varies real images, and its checkpoint stores the training images as exemplars.

    ``dataset`` is anything ``ganaug.data.load_images`` reads (a ``datasets.Dataset``, a hub id or path,
    an image folder, ``"mnist-mini"``...). ``out`` receives ``generator.safetensors`` + ``meta.json`` (the
    provider), ``trainer.pt`` (for ``resume=True``), CSV logs and sample grids. ``steps``, ``batch_size`` and
    ``seed`` override the same fields of ``config`` (None keeps the config's); the Fabric arguments choose
    devices and precision.
    """
    from .provider import load_provider

    cfg = config or TrainConfig()
    overrides = {k: v for k, v in {"steps": steps, "batch_size": batch_size, "seed": seed}.items() if v is not None}
    cfg = replace(cfg, **overrides) if overrides else cfg
    model = model or ModelConfig()
    data = dataset if isinstance(dataset, LabelledImages) else load_images(dataset, image_column, label_column, split)
    if model.arch == "pair":  # refused settings leave no output folder behind
        check_pair_settings(data, cfg)
    trainer_file = Path(out) / ckpt.TRAINER_FILE
    if resume and not trainer_file.exists():
        raise CheckpointError(f"resume=True but {trainer_file} does not exist; train without resume first")
    out = ensure_writable_dir(out)
    fab = FabricConfig(accelerator, devices, strategy, precision, num_nodes)
    fabric = _make_fabric(fab, out)
    fabric.launch(_worker, data, str(out), cfg, model, fab, resume, progress)
    return load_provider(out)


def _make_fabric(fab: FabricConfig, out: Path):
    from lightning_fabric import Fabric
    from lightning_fabric.loggers import CSVLogger

    loggers = [CSVLogger(root_dir=str(out), name="logs")]  # a new version per run: resume keeps old logs
    try:
        import tensorboard  # noqa: F401  (only when installed)
        from lightning_fabric.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(root_dir=str(out), name="tb"))
    except ImportError:
        pass
    try:
        return Fabric(
            accelerator=fab.accelerator,
            devices=fab.devices,
            strategy=fab.strategy,
            precision=fab.precision,
            num_nodes=fab.num_nodes,
            loggers=loggers,
        )
    except (ValueError, RuntimeError, TypeError) as exc:
        raise ConfigError(f"Fabric refused the settings {fab.to_dict()}: {exc}") from exc


@dataclass
class TrainState:
    """What a resumed run needs: both networks, their optimisers, the EMA generator and the step reached.

    ``gen``/``disc`` may be Fabric-wrapped; ``state_dict`` saves the plain modules' weights."""

    gen: nn.Module
    disc: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    ema: nn.Module | None
    step: int = 0

    def state_dict(self) -> dict[str, Any]:
        state = {
            "step": self.step,
            "G": _unwrap(self.gen).state_dict(),
            "D": _unwrap(self.disc).state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
        }
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _unwrap(self.gen).load_state_dict(state["G"])
        _unwrap(self.disc).load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.step = int(state["step"])

    @property
    def sampler(self) -> nn.Module:
        """The generator to sample from: the EMA one when there is one."""
        return self.ema if self.ema is not None else _unwrap(self.gen)


def _new_state(data: LabelledImages, out: Path, cfg: TrainConfig, mcfg: ModelConfig, resume: bool) -> TrainState:
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    gen, disc = build_generator(data.spec, mcfg), build_discriminator(data.spec, mcfg)
    state = TrainState(
        gen=gen,
        disc=disc,
        opt_g=torch.optim.Adam(gen.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2)),
        opt_d=torch.optim.Adam(disc.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2)),
        ema=copy.deepcopy(gen).requires_grad_(False) if cfg.ema_decay > 0 else None,
    )
    if resume:
        saved = ckpt.load_trainer_state(out)
        if saved.get("data_fingerprint") != data.fingerprint():
            raise CheckpointError(
                f"{out} was trained on other data (fingerprint differs); resume with the same dataset"
            )
        if saved.get("model") != mcfg.to_dict():
            raise CheckpointError(f"{out} was trained with the model {saved.get('model')}, not {mcfg.to_dict()}")
        state.load_state_dict(saved)
    return state


def _worker(
    fabric,
    data: LabelledImages,
    out_dir: str,
    cfg: TrainConfig,
    mcfg: ModelConfig,
    fab: FabricConfig,
    resume: bool,
    progress: bool,
) -> None:
    # -- set up: networks (resumed or new) on Fabric's devices ------------------------------------------------
    out, spec = Path(out_dir), data.spec
    policy = parse_policy(cfg.diffaug)
    state = _new_state(data, out, cfg, mcfg, resume)
    start = state.step
    state.gen, state.opt_g = fabric.setup(state.gen, state.opt_g)
    state.disc, state.opt_d = fabric.setup(state.disc, state.opt_d)
    if state.ema is not None:
        state.ema.to(fabric.device)
    gen, disc = state.gen, state.disc
    n_world, rank = fabric.world_size, fabric.global_rank
    # the pair GAN's "labels" are source images: D judges (partner, source) pairs, G varies the source
    batches = PairBatches(data, cfg.batch_size) if mcfg.arch == "pair" else _RealBatches(data, cfg)
    meta_base = {
        "spec": spec.to_dict(),
        "model": mcfg.to_dict(),
        "train": cfg.to_dict(),
        "fabric": fab.to_dict(),
        "world_size": n_world,
        "data_fingerprint": data.fingerprint(),
        "data_class_counts": data.class_counts(),
        "image_column": data.image_column,
        "label_column": data.label_column,
    }
    if mcfg.arch == "pair":
        meta_base["pair_classes"] = batches.classes
    bar = None
    if progress and fabric.is_global_zero:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=start, desc="train GAN", unit="step", dynamic_ncols=True)
    t0, seen = time.perf_counter(), 0
    for step in range(start, cfg.steps):
        # -- a real batch and G's inputs, all drawn from one generator seeded by (seed, step, rank) ------------
        g = torch.Generator().manual_seed(_step_seed(cfg.seed, step, rank))
        real, y = batches.draw(g, fabric.device)
        z = torch.randn(cfg.batch_size, mcfg.z_dim, generator=g).to(fabric.device)
        y_fake = losses.paired_labels(y) if cfg.mode_seeking else y

        def augment(x: torch.Tensor, g: torch.Generator = g) -> torch.Tensor:
            return diff_augment(x, policy, g) if policy else x

        # -- D step, then G step ------------------------------------------------------------------------------
        fake = gen(z, y_fake)
        loss_d, d_real, d_fake = losses.discriminator_loss(cfg, disc, real, y, fake.detach(), y_fake, augment)
        state.opt_d.zero_grad(set_to_none=True)
        fabric.backward(loss_d)
        state.opt_d.step()
        loss_g = losses.generator_loss(cfg, disc, fake, y_fake, z, augment)
        state.opt_g.zero_grad(set_to_none=True)
        fabric.backward(loss_g)
        state.opt_g.step()
        if state.ema is not None:
            _ema_update(state.ema, _unwrap(gen), cfg.ema_decay, step)
        state.step = done = step + 1

        # -- bookkeeping: divergence check, logs, checkpoints, sample grids ---------------------------------------
        losses_now = torch.stack([loss_d.detach(), loss_g.detach()]).float()
        if not torch.isfinite(losses_now).all():
            raise TrainingError(
                f"training diverged at step {done}: loss_d={losses_now[0].item()}, loss_g={losses_now[1].item()}; "
                f"the last good checkpoint in {out} is kept. Lower lr_g/lr_d, use precision='32-true', or try diffaug"
            )
        seen += cfg.batch_size * n_world
        if done % cfg.log_every == 0 or done == cfg.steps:
            _log(fabric, bar, done, losses_now, d_real, d_fake, seen / max(time.perf_counter() - t0, 1e-9))
        if bar is not None:
            bar.update(1)
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            if fabric.is_global_zero:
                _save(out, state, meta_base, cfg, data)
            fabric.barrier()
        if cfg.sample_every and done % cfg.sample_every == 0 and fabric.is_global_zero:
            _sample_grid(state.sampler, data, out / "samples" / f"step-{done:07d}.png", cfg.seed)
    if bar is not None:
        bar.close()
    if fabric.is_global_zero:
        _sample_grid(state.sampler, data, out / "samples.png", cfg.seed)
    fabric.barrier()
    for logger in fabric.loggers:
        logger.finalize("success")


class _RealBatches:
    """Real training batches in [-1, 1] drawn from memory, class-balanced (uniform over the classes present)
    or uniform over rows, with ``real_augment``'s affine on a share of them."""

    def __init__(self, data: LabelledImages, cfg: TrainConfig) -> None:
        self.images, self.labels, self.cfg = data.images, data.labels, cfg
        self.by_class = [torch.nonzero(data.labels == c).flatten() for c in range(data.spec.num_classes)]
        self.present = torch.tensor([c for c, rows in enumerate(self.by_class) if len(rows)])

    def draw(self, g: torch.Generator, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.cfg.batch_size
        if self.cfg.class_balanced:
            cls = self.present[torch.randint(len(self.present), (n,), generator=g)]
            rows = [self.by_class[c][torch.randint(len(self.by_class[c]), (1,), generator=g)] for c in cls.tolist()]
            idx = torch.stack(rows).flatten()
        else:
            idx = torch.randint(len(self.labels), (n,), generator=g)
        real = (self.images[idx].to(device, torch.float32) / 127.5) - 1.0
        if self.cfg.real_augment:
            real = affine_some(real, self.cfg.real_augment, g)
        return real, self.labels[idx].to(device)


def _log(fabric, bar, step: int, losses_now: torch.Tensor, d_real, d_fake, images_per_s: float) -> None:
    metrics = {
        "loss_d": losses_now[0].item(),
        "loss_g": losses_now[1].item(),
        "d_real": torch.sigmoid(d_real.detach().float()).mean().item(),
        "d_fake": torch.sigmoid(d_fake.detach().float()).mean().item(),
        "images_per_s": images_per_s,
    }
    fabric.log_dict(metrics, step=step)
    if bar is not None:
        bar.set_postfix(
            loss_d=f"{metrics['loss_d']:.3f}", loss_g=f"{metrics['loss_g']:.3f}", img_s=f"{images_per_s:.0f}"
        )


def _unwrap(module: nn.Module) -> nn.Module:
    return getattr(module, "module", module)


def _step_seed(seed: int, step: int, rank: int) -> int:
    return (seed * 1_000_003 + step * 7_919 + rank * 104_729) % (2**63 - 1)


@torch.no_grad()
def _ema_update(ema: nn.Module, live: nn.Module, decay: float, step: int) -> None:
    d = min(decay, (1 + step) / (10 + step))  # warm-up: early weights are forgotten quickly
    for pe, pl in zip(ema.parameters(), live.parameters(), strict=True):
        pe.lerp_(pl.detach(), 1 - d)
    for be, bl in zip(ema.buffers(), live.buffers(), strict=True):
        be.copy_(bl)


@torch.no_grad()
def recalibrate_batchnorm(gen: nn.Module, seed: int, batches: int = 20, batch_size: int = 256) -> nn.Module:
    """Copy ``gen`` and re-estimate its BatchNorm statistics on its own outputs (class-uniform labels).

    EMA weights do not match the running statistics of the live network; sampling in eval mode needs
    statistics that belong to the weights used.
    """
    model = copy.deepcopy(gen).cpu()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    if not norms:
        return model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batches
    model.train()
    g = torch.Generator().manual_seed(seed + 17)
    n_cls = model.spec.num_classes
    for _ in range(batches):
        y = torch.randint(n_cls, (batch_size,), generator=g)
        z = torch.randn(batch_size, model.cfg.z_dim, generator=g)
        model(z, y)
    for m in norms:
        m.momentum = 0.1
    return model.eval()


def _save(out: Path, state: TrainState, meta_base: dict[str, Any], cfg: TrainConfig, data: LabelledImages) -> None:
    """``trainer.pt`` (to resume), then the generator for sampling (BatchNorm recalibrated) and ``meta.json``.

    A pair GAN's generator file also holds its exemplars, the training images ``sample(labels)`` varies, so the
    weight hash in ``meta.json`` covers them too."""
    ckpt.save_trainer_state(
        out,
        _to_cpu({**state.state_dict(), "data_fingerprint": meta_base["data_fingerprint"], "model": meta_base["model"]}),
    )
    tensors = recalibrate_batchnorm(state.sampler, cfg.seed).state_dict()
    if meta_base["model"]["arch"] == "pair":
        tensors = {**tensors, ckpt.EXEMPLAR_IMAGES: data.images, ckpt.EXEMPLAR_LABELS: data.labels}
    ckpt.save_generator(out, tensors, {**meta_base, "step": state.step, "ema": state.ema is not None})


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


@torch.no_grad()
def _sample_grid(gen: nn.Module, data: LabelledImages, path: Path, seed: int, per_class: int = 8) -> None:
    """A row per class: ``per_class`` samples, or for a pair GAN one real image followed by its variants."""
    from torchvision.utils import save_image

    model = recalibrate_batchnorm(gen, seed)
    g = torch.Generator().manual_seed(seed)
    if model.cfg.arch == "pair":
        imgs = variant_grid(model, data, per_class, g).float() / 255
    else:
        y = torch.arange(data.spec.num_classes).repeat_interleave(per_class)
        z = torch.randn(len(y), model.cfg.z_dim, generator=g)
        imgs = (model(z, y) + 1) / 2
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda p: save_image(imgs, str(p), nrow=per_class, format="png"))
