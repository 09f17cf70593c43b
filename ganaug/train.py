"""The Lightning Fabric training loop for the class-conditional GAN, in one file.

Reading order: ``TrainConfig`` (every setting), ``train`` (public entry: validate, then launch), ``_worker``
(the loop each process runs), and the helpers below it.

Real batches are drawn from an in-memory uint8 tensor with a generator seeded by (seed, step, rank):
sampling is class-balanced on demand, costs nothing per step, and makes ``resume`` end exactly where an
uninterrupted run ends (no data-loader state to restore).
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import checkpoint as ckpt
from ._checks import check_off_or_up_to
from ._io import atomic_write, ensure_writable_dir
from .classify import random_affine
from .data import LabelledImages, load_images
from .diffaug import diff_augment, parse_policy
from .errors import CheckpointError, ConfigError, TrainingError
from .models import ModelConfig, build_discriminator, build_generator, build_latent_encoder

LOSSES = ("bce", "hinge")


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; saved in ``meta.json`` beside the weights."""

    steps: int = 1500  # optimisation steps of G (each with one D step)
    batch_size: int = 128  # real images per step and process
    lr_g: float = 2e-4  # Adam learning rate of G
    lr_d: float = 2e-4  # Adam learning rate of D
    beta1: float = 0.5  # Adam beta1 (DCGAN's 0.5 damps oscillation)
    beta2: float = 0.999  # Adam beta2
    loss: str = "bce"  # "bce" (non-saturating, default) or "hinge" (for the projection family)
    diffaug: str = ""  # DiffAugment policy for D's inputs, e.g. "translation,cutout"; "" = off
    ema_decay: float = 0.999  # EMA of G's weights used for sampling; 0 disables
    class_balanced: bool = True  # draw real batches uniformly over classes (minority classes get seen)
    mode_seeking: float = 0.0  # weight of the mode-seeking term (MSGAN): G pays for similar outputs of one label
    lecam: float = 0.0  # weight of LeCam regularisation of D (limited-data GANs); 0 = off
    r1: float = 0.0  # weight (gamma) of the R1 penalty on D's gradient at real images; 0 = off
    info: float = 0.0  # weight of latent recovery by a label-blind encoder (InfoGAN-style): z becomes style; 0 = off
    reconstruction: float = 0.0  # weight of |G(Q(x), y) - x| on real images (BAGAN-style autoencoder); needs info
    real_augment: float = 0.0  # share of real images given a random affine before D sees them (G learns it too)
    transition_start: int = 0  # transitional conditioning: G and D ignore the labels before this step
    transition_end: int = 0  # step by which the labels have faded in linearly (0 and 0 = conditional throughout)
    seed: int = 0  # everything random derives from it
    checkpoint_every: int = 500  # steps between checkpoints (and the last step)
    sample_every: int = 0  # steps between sample-grid PNGs; 0 = only at the end
    log_every: int = 50  # steps between logged losses

    def __post_init__(self) -> None:
        _check_int(self, "steps", 1)
        _check_int(self, "batch_size", 2)
        _check_int(self, "seed", 0)
        _check_int(self, "checkpoint_every", 1)
        _check_int(self, "sample_every", 0)
        _check_int(self, "log_every", 1)
        _check_int(self, "transition_start", 0)
        _check_int(self, "transition_end", self.transition_start)
        if self.transition_end > self.steps:
            raise ConfigError(
                f"transition_end ({self.transition_end}) must be <= steps ({self.steps}): the generator must end "
                "fully conditional"
            )
        for name in ("lr_g", "lr_d"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not 0 < v < 1:
                raise ConfigError(f"{name} must be a number in (0, 1), got {v!r}")
        for name in ("mode_seeking", "lecam", "r1", "info", "reconstruction"):
            check_off_or_up_to(name, getattr(self, name), 100, "a number")
        check_off_or_up_to("real_augment", self.real_augment, 1, "a share")
        if self.reconstruction and not self.info:
            raise ConfigError("reconstruction trains the latent encoder of info; set info > 0 as well")
        if self.mode_seeking and self.batch_size < 4:
            raise ConfigError(f"mode_seeking needs batch_size >= 4 (pairs of samples), got {self.batch_size}")
        for name in ("beta1", "beta2", "ema_decay"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not 0 <= v < 1:
                raise ConfigError(f"{name} must be a number in [0, 1), got {v!r}")
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        parse_policy(self.diffaug)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FabricConfig:
    """Where and how to run: passed straight to ``lightning.fabric.Fabric``."""

    accelerator: str = "auto"  # "cpu", "cuda", "mps", "auto"
    devices: int | str = 1  # devices per node, or "auto"
    strategy: str = "auto"  # "auto", "ddp", "ddp_spawn", ...
    precision: str = "32-true"  # "32-true", "bf16-mixed", "16-mixed"
    num_nodes: int = 1  # machines

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_int(obj: Any, name: str, low: int) -> None:
    v = getattr(obj, name)
    if not isinstance(v, int) or isinstance(v, bool) or v < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {v!r}")


def train(
    dataset: Any,
    out: str | os.PathLike[str],
    *,
    steps: int | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    config: TrainConfig | None = None,
    model: ModelConfig | None = None,
    image_column: str | None = None,
    label_column: str | None = None,
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

    ``dataset`` is anything ``ganaug.data.load_images`` reads (a ``datasets.Dataset``, a hub name or path,
    an image folder, ``"mnist-mini"``...). ``out`` receives ``generator.safetensors`` + ``meta.json`` (the
    provider), ``trainer.pt`` (for ``resume=True``), CSV logs and sample grids. ``steps``, ``batch_size`` and
    ``seed`` override the same fields of ``config``; the Fabric arguments choose devices and precision.
    """
    from .provider import load_provider

    cfg = config or TrainConfig()
    overrides = {k: v for k, v in {"steps": steps, "batch_size": batch_size, "seed": seed}.items() if v is not None}
    cfg = replace(cfg, **overrides) if overrides else cfg
    model = model or ModelConfig()
    data = dataset if isinstance(dataset, LabelledImages) else load_images(dataset, image_column, label_column, split)
    out = ensure_writable_dir(out)
    fab = FabricConfig(accelerator, devices, strategy, precision, num_nodes)
    if resume and not (out / ckpt.TRAINER_FILE).exists():
        raise CheckpointError(f"resume=True but {out / ckpt.TRAINER_FILE} does not exist; train without resume first")
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
    out = Path(out_dir)
    spec = data.spec
    policy = parse_policy(cfg.diffaug)
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    gen_net, disc_net = build_generator(spec, mcfg), build_discriminator(spec, mcfg)
    ema = copy.deepcopy(gen_net).requires_grad_(False) if cfg.ema_decay > 0 else None
    opt_g = torch.optim.Adam(gen_net.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(disc_net.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    q_net = opt_q = None
    if cfg.info:
        q_net = build_latent_encoder(spec, mcfg)
        opt_q = torch.optim.Adam(q_net.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    fingerprint = data.fingerprint()
    start = 0
    lecam_ema = torch.zeros(2)  # running means of D's logits on real and on generated images
    if resume:
        state = ckpt.load_trainer_state(out)
        if state.get("data_fingerprint") != fingerprint:
            raise CheckpointError(
                f"{out} was trained on other data (fingerprint differs); resume with the same dataset"
            )
        if state.get("model") != mcfg.to_dict():
            raise CheckpointError(f"{out} was trained with the model {state.get('model')}, not {mcfg.to_dict()}")
        gen_net.load_state_dict(state["G"])
        disc_net.load_state_dict(state["D"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        lecam_ema = state.get("lecam_ema", lecam_ema)
        if q_net is not None:
            if "Q" not in state:
                raise CheckpointError(f"{out} was trained without info; resume it with info=0")
            q_net.load_state_dict(state["Q"])
            opt_q.load_state_dict(state["opt_q"])
        start = int(state["step"])
    gen_net, opt_g = fabric.setup(gen_net, opt_g)
    disc_net, opt_d = fabric.setup(disc_net, opt_d)
    if q_net is not None:
        q_net, opt_q = fabric.setup(q_net, opt_q)
    if ema is not None:
        ema.to(fabric.device)

    n_world, rank = fabric.world_size, fabric.global_rank
    images, labels = data.images, data.labels
    by_class = [torch.nonzero(labels == c).flatten() for c in range(spec.num_classes)]
    present = torch.tensor([c for c in range(spec.num_classes) if len(by_class[c])])
    meta_base = {
        "spec": spec.to_dict(),
        "model": mcfg.to_dict(),
        "train": cfg.to_dict(),
        "fabric": fab.to_dict(),
        "world_size": n_world,
        "data_fingerprint": fingerprint,
        "data_class_counts": data.class_counts(),
        "image_column": data.image_column,
        "label_column": data.label_column,
    }

    bar = None
    if progress and fabric.is_global_zero:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=start, desc="train GAN", unit="step", dynamic_ncols=True)
    t0, seen = time.perf_counter(), 0
    for step in range(start, cfg.steps):
        g = torch.Generator().manual_seed(_step_seed(cfg.seed, step, rank))
        if cfg.class_balanced:
            cls = present[torch.randint(len(present), (cfg.batch_size,), generator=g)]
            idx = torch.stack(
                [by_class[c][torch.randint(len(by_class[c]), (1,), generator=g)] for c in cls.tolist()]
            ).flatten()
        else:
            idx = torch.randint(len(labels), (cfg.batch_size,), generator=g)
        real = (images[idx].to(fabric.device, torch.float32) / 127.5) - 1.0
        if cfg.real_augment:
            real = _affine_some(real, cfg.real_augment, g)
        y = labels[idx].to(fabric.device)
        z = torch.randn(cfg.batch_size, mcfg.z_dim, generator=g).to(fabric.device)
        y_fake = y
        lam = _condition_weight(cfg, step)
        if cfg.mode_seeking:  # pairs (i, i + half) share a label and differ in z
            half = cfg.batch_size // 2
            y_fake = torch.cat([y[:half], y[:half], y[2 * half :]])

        fake = gen_net(z, y_fake, lam)
        d_in = real.detach().requires_grad_(True) if cfg.r1 else real  # R1 differentiates D at the real images
        d_real = disc_net(_aug(d_in, policy, g), y, lam)
        d_fake = disc_net(_aug(fake.detach(), policy, g), y_fake, lam)
        loss_d = _d_loss(cfg.loss, d_real, d_fake)
        if cfg.r1:
            loss_d = loss_d + cfg.r1 * _r1(d_real, d_in)
        if cfg.lecam:
            loss_d = loss_d + cfg.lecam * _lecam(d_real, d_fake, lecam_ema)
        opt_d.zero_grad(set_to_none=True)
        fabric.backward(loss_d)
        opt_d.step()

        loss_g = _g_loss(cfg.loss, disc_net(_aug(fake, policy, g), y_fake, lam))
        if cfg.mode_seeking:
            loss_g = loss_g + cfg.mode_seeking * _mode_seeking(fake, z, cfg.batch_size // 2)
        if q_net is not None:
            loss_g = loss_g + cfg.info * F.mse_loss(q_net(fake).float(), z.float())
            if cfg.reconstruction:  # real images through Q and G: real styles get latents on G's input space
                loss_g = loss_g + cfg.reconstruction * F.l1_loss(gen_net(q_net(real), y, lam).float(), real.float())
            opt_q.zero_grad(set_to_none=True)
        opt_g.zero_grad(set_to_none=True)
        fabric.backward(loss_g)
        opt_g.step()
        if q_net is not None:
            opt_q.step()
        if ema is not None:
            _ema_update(ema, _unwrap(fabric, gen_net), cfg.ema_decay, step)

        losses = torch.stack([loss_d.detach(), loss_g.detach()]).float()
        if not torch.isfinite(losses).all():
            raise TrainingError(
                f"training diverged at step {step + 1}: loss_d={losses[0].item()}, loss_g={losses[1].item()}; the last "
                f"good checkpoint in {out} is kept. Lower lr_g/lr_d, use precision='32-true', or try diffaug"
            )
        seen += cfg.batch_size * n_world
        done = step + 1
        if done % cfg.log_every == 0 or done == cfg.steps:
            metrics = {
                "loss_d": losses[0].item(),
                "loss_g": losses[1].item(),
                "d_real": torch.sigmoid(d_real.detach().float()).mean().item(),
                "d_fake": torch.sigmoid(d_fake.detach().float()).mean().item(),
                "images_per_s": seen / max(time.perf_counter() - t0, 1e-9),
                "condition": lam,
            }
            fabric.log_dict(metrics, step=done)
            if bar is not None:
                bar.set_postfix(
                    loss_d=f"{metrics['loss_d']:.3f}",
                    loss_g=f"{metrics['loss_g']:.3f}",
                    img_s=f"{metrics['images_per_s']:.0f}",
                )
        if bar is not None:
            bar.update(1)
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            sampler = ema if ema is not None else _unwrap(fabric, gen_net)
            if fabric.is_global_zero:
                _save(
                    out,
                    done,
                    sampler,
                    _unwrap(fabric, gen_net),
                    _unwrap(fabric, disc_net),
                    ema,
                    opt_g,
                    opt_d,
                    meta_base,
                    cfg,
                    lecam_ema,
                    None if q_net is None else (_unwrap(fabric, q_net), opt_q),
                )
            fabric.barrier()
        if cfg.sample_every and done % cfg.sample_every == 0 and fabric.is_global_zero:
            _sample_grid(
                ema if ema is not None else _unwrap(fabric, gen_net),
                spec,
                out / "samples" / f"step-{done:07d}.png",
                cfg.seed,
            )
    if bar is not None:
        bar.close()
    if fabric.is_global_zero:
        _sample_grid(ema if ema is not None else _unwrap(fabric, gen_net), spec, out / "samples.png", cfg.seed)
    fabric.barrier()
    for logger in fabric.loggers:
        logger.finalize("success")


def _unwrap(fabric, module: nn.Module) -> nn.Module:
    return getattr(module, "module", module)


def _step_seed(seed: int, step: int, rank: int) -> int:
    return (seed * 1_000_003 + step * 7_919 + rank * 104_729) % (2**63 - 1)


def _condition_weight(cfg: TrainConfig, step: int) -> float:
    """How much G and D see the label at ``step`` (transitional training, Shahbazi et al., 2022): 0 before
    ``transition_start``, rising linearly to 1 at ``transition_end``. Early unconditional steps learn what all
    classes share (stroke, thickness, slant) from every image, before the few images of a rare class can be
    memorised under their label."""
    if step >= cfg.transition_end:
        return 1.0
    if step < cfg.transition_start:
        return 0.0
    return (step - cfg.transition_start) / (cfg.transition_end - cfg.transition_start)


def _affine_some(x: torch.Tensor, share: float, g: torch.Generator) -> torch.Tensor:
    """A random affine (the classifier's classical augmentation) on about ``share`` of the images.

    Unlike DiffAugment this reaches only real images, so G learns to draw the transformed digits: deliberate
    leakage of a label-preserving transformation, to widen what G draws from a few images of a class."""
    pick = torch.rand(x.shape[0], generator=g) < share
    if not pick.any():
        return x
    out = x.clone()
    idx = pick.nonzero().flatten().to(x.device)
    out[idx] = random_affine(x[idx], g)
    return out


def _aug(x: torch.Tensor, policy: tuple[str, ...], g: torch.Generator) -> torch.Tensor:
    return diff_augment(x, policy, g) if policy else x


def _d_loss(kind: str, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    d_real, d_fake = d_real.float(), d_fake.float()
    if kind == "hinge":
        return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()  # BCE with logits, real=1 fake=0


def _lecam(d_real: torch.Tensor, d_fake: torch.Tensor, anchors: torch.Tensor, decay: float = 0.99) -> torch.Tensor:
    """LeCam regulariser (Tseng et al., 2021): keeps D's logits near the running mean of the other side's.

    ``anchors`` holds the running means of D's logits on real and generated images; updated in place.
    """
    d_real, d_fake = d_real.float(), d_fake.float()
    with torch.no_grad():
        means = torch.stack([d_real.mean(), d_fake.mean()]).cpu()
        anchors.lerp_(means, 1 - decay)
    real_anchor, fake_anchor = anchors[0].item(), anchors[1].item()
    return F.relu(d_real - fake_anchor).pow(2).mean() + F.relu(real_anchor - d_fake).pow(2).mean()


def _r1(d_real: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1 penalty (Mescheder et al., 2018): half the squared norm of D's gradient at the real images.

    A flat D around the few real images of a class cannot single them out as sharply, which slows
    memorisation; ``real`` must have had ``requires_grad`` set before D saw it."""
    (grad,) = torch.autograd.grad(d_real.float().sum(), real, create_graph=True)
    return 0.5 * grad.float().pow(2).flatten(1).sum(1).mean()


def _mode_seeking(fake: torch.Tensor, z: torch.Tensor, half: int) -> torch.Tensor:
    """MSGAN term (Mao et al., 2019): the inverse of how far apart two samples of one label are, per unit of z.

    Rows ``i`` and ``i + half`` of ``fake`` share a label; minimising this spreads a label's samples.
    """
    a, b = fake[:half].float(), fake[half : 2 * half].float()
    ratio = (a - b).abs().flatten(1).mean(1) / (z[:half] - z[half : 2 * half]).abs().mean(1)
    return 1.0 / (ratio.mean() + 1e-5)


def _g_loss(kind: str, d_fake: torch.Tensor) -> torch.Tensor:
    d_fake = d_fake.float()
    if kind == "hinge":
        return -d_fake.mean()
    return F.softplus(-d_fake).mean()  # non-saturating: maximise log D(G(z))


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


def _save(
    out: Path,
    step: int,
    sampler: nn.Module,
    gen_net: nn.Module,
    disc_net: nn.Module,
    ema: nn.Module | None,
    opt_g,
    opt_d,
    meta_base: dict[str, Any],
    cfg: TrainConfig,
    lecam_ema: torch.Tensor,
    latent_encoder: tuple[nn.Module, Any] | None = None,
) -> None:
    state = {
        "lecam_ema": lecam_ema,
        "step": step,
        "G": gen_net.state_dict(),
        "D": disc_net.state_dict(),
        "opt_g": opt_g.state_dict(),
        "opt_d": opt_d.state_dict(),
        "data_fingerprint": meta_base["data_fingerprint"],
        "model": meta_base["model"],
    }
    if ema is not None:
        state["ema"] = ema.state_dict()
    if latent_encoder is not None:
        state["Q"], state["opt_q"] = latent_encoder[0].state_dict(), latent_encoder[1].state_dict()
    ckpt.save_trainer_state(out, _to_cpu(state))
    calibrated = recalibrate_batchnorm(sampler, cfg.seed)
    ckpt.save_generator(out, calibrated.state_dict(), {**meta_base, "step": step, "ema": ema is not None})


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


@torch.no_grad()
def _sample_grid(gen: nn.Module, spec, path: Path, seed: int, per_class: int = 8) -> None:
    from torchvision.utils import save_image

    model = recalibrate_batchnorm(gen, seed)
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(spec.num_classes).repeat_interleave(per_class)
    z = torch.randn(len(y), model.cfg.z_dim, generator=g)
    imgs = (model(z, y) + 1) / 2
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda p: save_image(imgs, str(p), nrow=per_class, format="png"))
