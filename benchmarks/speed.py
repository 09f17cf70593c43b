"""Speed of ganaug: GAN training, provider sampling and the datasets / torchvision integrations.

What is measured (every number lands in ``benchmarks/results/speed.json`` and a table in ``speed.md``):

1. **Training images/s** of ``ganaug.train`` (the Lightning Fabric loop, ``progress=False``) on mnist-mini with
   the default ``ModelConfig`` and batch 128, against a plain-PyTorch loop written below with the same models
   (``build_generator``/``build_discriminator``), non-saturating BCE losses, Adam settings, class-balanced
   in-memory batch sampling and EMA update. Each loop runs N1 and N2 steps from scratch; the steady-state rate
   is ``(N2 - N1) * batch / (t2 - t1)``, which cancels start-up, the final checkpoint and the sample grid
   (``checkpoint_every`` is set beyond N2). Measurements alternate plain, fabric, plain, fabric...; the
   medians over ``--repeats`` are reported with the ratio fabric/plain (target >= 0.95).
2. **Provider sampling** samples/s of ``provider.sample(labels, seed=0, batch_size=B)`` for B = 256 and 1024,
   the generator's FLOPs per sample (``generator_flops_per_sample``), the achieved GFLOP/s and its fraction of
   the dense fp32 matmul GFLOP/s measured in the same run (N×N @ N×N for ~``--matmul-seconds``, best of 3;
   target >= 50 %), and samples/s (target >= 5,000 on 2 cores). Variants at B = 1024: default, mkldnn off,
   channels_last generator (and bf16 autocast with ``--precision bf16-mixed``).
3. **Integrations**: synthetic rows appended per second by
   ``ds.map(ganaug.Augment(provider, ratio=1.0), batched=True, batch_size=1000, load_from_cache_file=False)``
   on ``--map-rows`` mnist-mini rows, relative to raw sampling at batch 1024 (target >= 0.5); synthetic rows per
   second added by ``ganaug.balance`` to an imbalanced mnist-mini subset; items/s through a ``DataLoader`` over
   ``ganaug.SyntheticDataset`` (batch 256, ``num_workers`` 0 and 2; worker start-up included).
4. **Memory** per stage: ``ru_maxrss`` of the process (a running maximum) and of the DataLoader workers, the
   current RSS, and ``torch.cuda.max_memory_allocated`` on a GPU.

The provider is the bundled one (``ganaug.default_provider()``); if ``ganaug/pretrained/mnist`` holds no
checkpoint yet, a 5-step stand-in with the default ModelConfig is trained into a temporary directory (speed
does not depend on the weights). ``--provider PATH`` measures another checkpoint.

Run (from the repository root, on a quiet machine)::

    .venv/bin/python benchmarks/speed.py                       # CPU, full sizes (a few minutes on 2 cores)
    .venv/bin/python benchmarks/speed.py --device cuda --precision bf16-mixed
    .venv/bin/python benchmarks/speed.py --smoke               # plumbing check, < 60 s; writes results/smoke/
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from benchmarks._common import (  # noqa: E402
    SMOKE_BANNER,
    configure,
    get_provider,
    machine_line,
    machine_record,
    md_table,
    results_dir,
    stage,
    sync,
    write_results,
)

NAME = "speed"
TARGETS = {
    "fabric_over_plain": 0.95,
    "sampling_matmul_fraction": 0.5,
    "samples_per_s": 5000.0,
    "augment_over_raw_sampling": 0.5,
}


# ---------------------------------------------------------------------------------------------------------
# 1. training: ganaug's Fabric loop vs the same loop in plain PyTorch


def _autocast(device: str, precision: str):
    if precision == "bf16-mixed":
        return torch.autocast(device_type="cuda" if device.startswith("cuda") else "cpu", dtype=torch.bfloat16)
    return nullcontext()


def plain_train(data, steps: int, batch_size: int, device: str, precision: str, seed: int) -> None:
    """``ganaug.train._worker``'s step without Fabric at the default ``TrainConfig`` (no mode seeking, no
    DiffAugment): the loop's own batch sampler, seeds, losses and EMA update, imported rather than copied, with
    plain ``backward``, Adam and autocast."""
    from ganaug import losses
    from ganaug.models import ModelConfig, build_discriminator, build_generator
    from ganaug.train import TrainConfig, _ema_update, _RealBatches, _step_seed

    tcfg, mcfg = TrainConfig(batch_size=batch_size, seed=seed), ModelConfig()
    torch.manual_seed(seed)
    gen, disc = build_generator(data.spec, mcfg).to(device), build_discriminator(data.spec, mcfg).to(device)
    ema = copy.deepcopy(gen).requires_grad_(False)
    opt_g = torch.optim.Adam(gen.parameters(), lr=tcfg.lr_g, betas=(tcfg.beta1, tcfg.beta2))
    opt_d = torch.optim.Adam(disc.parameters(), lr=tcfg.lr_d, betas=(tcfg.beta1, tcfg.beta2))
    batches, dev = _RealBatches(data, tcfg), torch.device(device)
    for step in range(steps):
        g = torch.Generator().manual_seed(_step_seed(seed, step, 0))
        real, y = batches.draw(g, dev)
        z = torch.randn(batch_size, mcfg.z_dim, generator=g).to(device)
        with _autocast(device, precision):
            fake = gen(z, y)
            loss_d, _, _ = losses.discriminator_loss(tcfg, disc, real, y, fake.detach(), y, _identity)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        with _autocast(device, precision):
            loss_g = losses.generator_loss(tcfg, disc, fake, y, z, _identity)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        _ema_update(ema, gen, tcfg.ema_decay, step)
        if not torch.isfinite(torch.stack([loss_d.detach(), loss_g.detach()])).all():
            raise RuntimeError(f"plain loop diverged at step {step + 1}")
    sync(device)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def fabric_train(data, steps: int, batch_size: int, device: str, precision: str, seed: int, workdir: Path) -> None:
    import ganaug
    from ganaug.train import TrainConfig

    cfg = TrainConfig(steps=steps, batch_size=batch_size, seed=seed, checkpoint_every=10**9)
    out = Path(tempfile.mkdtemp(prefix=f"fabric-{steps}-", dir=workdir))
    ganaug.train(data, out, config=cfg, accelerator=device, precision=precision, progress=False)
    sync(device)
    shutil.rmtree(out, ignore_errors=True)


def _median(values: list[float]) -> float:
    """Median of the finite values (nan if none)."""
    finite = [v for v in values if math.isfinite(v)]
    return statistics.median(finite) if finite else float("nan")


def bench_training(args, workdir: Path) -> dict[str, Any]:
    from ganaug.data import load_images

    data = load_images("mnist-mini")
    n1, n2, b = args.train_steps
    runners = {
        "plain": lambda n: plain_train(data, n, b, args.device, args.precision, args.seed),
        "fabric": lambda n: fabric_train(data, n, b, args.device, args.precision, args.seed, workdir),
    }
    for kind in ("plain", "fabric"):  # warm-up: imports, allocator and thread pools, not timed
        runners[kind](1)
    rows: dict[str, list[dict[str, float]]] = {"plain": [], "fabric": []}
    for rep in range(args.repeats):
        for kind in ("plain", "fabric"):  # alternate: plain, fabric, plain, fabric...
            times = {}
            for n in (n1, n2):
                t0 = time.perf_counter()
                runners[kind](n)
                times[n] = time.perf_counter() - t0
            dt = times[n2] - times[n1]
            rate = (n2 - n1) * b / dt if dt > 0 else float("nan")  # nan: noise larger than the N2 - N1 steps
            rows[kind].append({"t_n1_s": times[n1], "t_n2_s": times[n2], "images_per_s": rate, "steps_per_s": rate / b})
            print(
                f"  train rep {rep} {kind:6s}: {rate:8.0f} images/s  ({n1} steps {times[n1]:.1f} s, "
                f"{n2} steps {times[n2]:.1f} s)",
                flush=True,
            )
    med = {k: _median([r["images_per_s"] for r in v]) for k, v in rows.items()}
    per_rep = [f["images_per_s"] / p["images_per_s"] for f, p in zip(rows["fabric"], rows["plain"], strict=True)]
    return {
        "steps_n1": n1,
        "steps_n2": n2,
        "batch_size": b,
        "repeats": rows,
        "plain_images_per_s": med["plain"],
        "fabric_images_per_s": med["fabric"],
        "fabric_over_plain": med["fabric"] / med["plain"],
        "fabric_over_plain_per_repeat": per_rep,
    }


# ---------------------------------------------------------------------------------------------------------
# 2. sampling vs the machine's matmul limit


def matmul_gflops(device: str, n: int, seconds: float, dtype=torch.float32, repeats: int = 3) -> dict[str, Any]:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    c = torch.empty(n, n, device=device, dtype=dtype)
    torch.matmul(a, b, out=c)
    sync(device)
    rates = []
    for _ in range(repeats):
        iters, t0 = 0, time.perf_counter()
        while True:
            torch.matmul(a, b, out=c)
            iters += 1
            sync(device)
            dt = time.perf_counter() - t0
            if dt >= seconds:
                break
        rates.append(2 * n**3 * iters / dt / 1e9)
    return {
        "n": n,
        "dtype": str(dtype).removeprefix("torch."),
        "seconds_per_repeat": seconds,
        "gflops_repeats": rates,
        "gflops_best": max(rates),
    }


def sampling_rate(provider, n: int, batch_size: int, repeats: int, ctx=nullcontext) -> dict[str, Any]:
    labels = torch.arange(provider.spec.num_classes).repeat(n // provider.spec.num_classes + 1)[:n]
    with ctx():
        provider.sample(labels[: min(n, 2 * batch_size)], seed=0, batch_size=batch_size)  # warm-up
        rates = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            provider.sample(labels, seed=0, batch_size=batch_size)
            rates.append(n / (time.perf_counter() - t0))
    return {
        "batch_size": batch_size,
        "samples": n,
        "samples_per_s_repeats": rates,
        "samples_per_s": statistics.median(rates),
        "samples_per_s_best": max(rates),
    }


def bench_sampling(args, provider) -> dict[str, Any]:
    from ganaug.models import generator_flops_per_sample
    from ganaug.provider import Provider

    flops = generator_flops_per_sample(provider.generator)
    limit = matmul_gflops(args.device, args.matmul_n, args.matmul_seconds)
    print(f"  fp32 matmul {args.matmul_n}: {limit['gflops_best']:.1f} GFLOP/s (best of 3)", flush=True)
    out: dict[str, Any] = {"generator_flops_per_sample": flops, "matmul_fp32": limit, "by_batch": {}, "variants": {}}
    if args.precision == "bf16-mixed":
        out["matmul_bf16"] = matmul_gflops(args.device, args.matmul_n, args.matmul_seconds, torch.bfloat16)
        print(f"  bf16 matmul {args.matmul_n}: {out['matmul_bf16']['gflops_best']:.1f} GFLOP/s", flush=True)
    for b in args.sample_batches:
        r = sampling_rate(provider, args.sample_n, b, args.repeats)
        r["gflops"] = r["samples_per_s"] * flops / 1e9
        r["fraction_of_matmul"] = r["gflops"] / limit["gflops_best"]
        out["by_batch"][str(b)] = r
        print(
            f"  sample batch {b:5d}: {r['samples_per_s']:8.0f} samples/s, {r['gflops']:.1f} GFLOP/s "
            f"({100 * r['fraction_of_matmul']:.0f} % of matmul)",
            flush=True,
        )
    vb = max(args.sample_batches)
    cl = Provider(copy.deepcopy(provider.generator).to(memory_format=torch.channels_last), provider.meta, provider.path)
    variants = {
        "default": (provider, nullcontext),
        "mkldnn_off": (provider, lambda: torch.backends.mkldnn.flags(enabled=False)),
        "channels_last": (cl, nullcontext),
    }
    if args.precision == "bf16-mixed":
        variants["bf16_autocast"] = (provider, lambda: _autocast(args.device, "bf16-mixed"))
    for name, (prov, ctx) in variants.items():
        r = sampling_rate(prov, args.sample_n, vb, args.repeats, ctx)
        out["variants"][name] = r
        print(f"  sample variant {name:14s} (batch {vb}): {r['samples_per_s']:8.0f} samples/s", flush=True)
    if "bf16_autocast" in out["variants"]:
        r = out["variants"]["bf16_autocast"]
        r["gflops"] = r["samples_per_s"] * flops / 1e9
        r["fraction_of_bf16_matmul"] = r["gflops"] / out["matmul_bf16"]["gflops_best"]
    out["fastest_variant"] = max(out["variants"], key=lambda k: out["variants"][k]["samples_per_s"])
    return out


# ---------------------------------------------------------------------------------------------------------
# 3. integrations


def _steal_seconds() -> float:
    """CPU time the hypervisor gave to other guests so far (the ``steal`` column of /proc/stat), 0 if unknown."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def bench_augment(args, provider, raw_rate: float) -> dict[str, Any]:
    """Synthetic rows/s of ``ds.map(Augment(provider, ratio=1), batched=True)`` over raw sampling of as many labels.

    Each repeat times raw sampling (batch 1024) right before the map, and the ratio of the two is taken per
    repeat: on a shared machine the speed drifts by 2x within a minute, and a ratio of medians taken minutes
    apart measures the drift. Two forms of the image column: decoded (PIL, what ``datasets`` gives by default:
    originals are decoded and re-encoded by ``datasets``) and encoded (``cast_column(..., Image(decode=False))``:
    originals pass through as bytes)."""
    import datasets

    import ganaug
    from ganaug.data import mnist_mini

    decoded = mnist_mini("train").select(range(args.map_rows))
    forms = {"decoded": decoded, "encoded": decoded.cast_column("image", datasets.Image(decode=False))}
    labels = torch.tensor(decoded["label"])
    provider.sample(labels[:1024], seed=0, batch_size=1024)  # warm-up
    runs: dict[str, dict[str, list[float]]] = {f: {"rows_per_s": [], "ratio": []} for f in forms}
    steal0, added = _steal_seconds(), 0
    for rep in range(args.map_repeats):
        for form, ds in forms.items():
            t0 = time.perf_counter()
            provider.sample(labels, seed=rep, batch_size=1024)
            raw = len(labels) / (time.perf_counter() - t0)
            aug = ganaug.Augment(provider, ratio=1.0, seed=rep)
            t0 = time.perf_counter()
            out = ds.map(aug, batched=True, batch_size=1000, load_from_cache_file=False)
            added = len(out) - len(ds)
            rate = added / (time.perf_counter() - t0)
            runs[form]["rows_per_s"].append(rate)
            runs[form]["ratio"].append(rate / raw)
    res: dict[str, Any] = {"rows": len(decoded), "synthetic_rows_added": added, "steal_s": _steal_seconds() - steal0}
    for form, r in runs.items():
        res[form] = {
            "rows_per_s_repeats": r["rows_per_s"],
            "rows_per_s": statistics.median(r["rows_per_s"]),
            "ratio_repeats": r["ratio"],
            "augment_over_raw_sampling": statistics.median(r["ratio"]),
        }
    res["rows_per_s"] = res["decoded"]["rows_per_s"]
    res["augment_over_raw_sampling"] = res["decoded"]["augment_over_raw_sampling"]
    res["raw_sampling_samples_per_s_batch1024"] = raw_rate
    return res


def bench_balance(args, provider) -> dict[str, Any]:
    import numpy as np

    import ganaug
    from ganaug.data import mnist_mini

    full = mnist_mini("train")
    labels = np.asarray(full["label"])
    major, minor = args.balance_counts
    idx = np.concatenate([np.nonzero(labels == c)[0][: major if c < 5 else minor] for c in range(10)])
    ds = full.select(idx.tolist())
    rates, added = [], 0
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        out = ganaug.balance(ds, provider)
        dt = time.perf_counter() - t0
        added = len(out) - len(ds)
        rates.append(added / dt)
    return {
        "rows": len(ds),
        "per_class_before": [major] * 5 + [minor] * 5,
        "synthetic_rows_added": added,
        "rows_per_s_repeats": rates,
        "rows_per_s": statistics.median(rates),
    }


def bench_dataloader(args, provider) -> dict[str, Any]:
    from torch.utils.data import DataLoader

    import ganaug

    out = {}
    for workers in (0, 2):
        ds = ganaug.SyntheticDataset(provider, per_class=args.loader_per_class)
        t0 = time.perf_counter()
        n = 0
        for images, _labels in DataLoader(ds, batch_size=256, num_workers=workers):
            n += len(images)
        dt = time.perf_counter() - t0
        out[f"num_workers_{workers}"] = {"items": n, "seconds": dt, "items_per_s": n / dt}
        print(f"  DataLoader num_workers={workers}: {n / dt:8.0f} items/s", flush=True)
    return out


# ---------------------------------------------------------------------------------------------------------
# report


def markdown(res: dict[str, Any]) -> str:
    t, s, i = res["training"], res["sampling"], res["integrations"]
    lines = [
        f"# ganaug speed ({res['settings']['device']}, {res['settings']['precision']})",
        "",
        f"Machine: {machine_line(res['machine'])}",
        SMOKE_BANNER if res["settings"]["smoke"] else "",
        f"Provider: {res['provider']}",
        "",
    ]

    def ok(v: float, target: float) -> str:
        return "yes" if v >= target else "**no**"

    rows = [
        ["training, plain PyTorch (images/s)", f"{t['plain_images_per_s']:.0f}", "", ""],
        ["training, ganaug Fabric loop (images/s)", f"{t['fabric_images_per_s']:.0f}", "", ""],
        [
            "ratio Fabric / plain",
            f"{t['fabric_over_plain']:.3f}",
            f">= {TARGETS['fabric_over_plain']}",
            ok(t["fabric_over_plain"], TARGETS["fabric_over_plain"]),
        ],
    ]
    for b, r in s["by_batch"].items():
        rows.append(
            [
                f"sampling batch {b} (samples/s)",
                f"{r['samples_per_s']:.0f}",
                f">= {TARGETS['samples_per_s']:.0f}",
                ok(r["samples_per_s"], TARGETS["samples_per_s"]),
            ]
        )
        rows.append(
            [
                f"sampling batch {b}: GFLOP/s, % of fp32 matmul",
                f"{r['gflops']:.1f}, {100 * r['fraction_of_matmul']:.0f} %",
                f">= {100 * TARGETS['sampling_matmul_fraction']:.0f} %",
                ok(r["fraction_of_matmul"], TARGETS["sampling_matmul_fraction"]),
            ]
        )
    for name, r in s["variants"].items():
        rows.append([f"sampling variant `{name}` (samples/s)", f"{r['samples_per_s']:.0f}", "", ""])
    a = i["augment_map"]
    for form in ("decoded", "encoded"):
        f = a[form]
        lo, hi = min(f["ratio_repeats"]), max(f["ratio_repeats"])
        rows += [
            [f"`Augment` map, {a['rows']} rows, ratio 1, {form} images (synthetic rows/s)", f"{f['rows_per_s']:.0f}"]
            + ["", ""],
            [
                f"`Augment` map / raw sampling, {form} images (median of paired repeats [min, max])",
                f"{f['augment_over_raw_sampling']:.2f} [{lo:.2f}, {hi:.2f}]",
                f">= {TARGETS['augment_over_raw_sampling']}",
                ok(f["augment_over_raw_sampling"], TARGETS["augment_over_raw_sampling"]),
            ],
        ]
    rows += [
        [f"`balance`, {i['balance']['rows']} rows (synthetic rows/s)", f"{i['balance']['rows_per_s']:.0f}", "", ""],
    ]
    for k, r in i["dataloader"].items():
        rows.append(
            [f"DataLoader(SyntheticDataset), {k.replace('_', ' ')} (items/s)", f"{r['items_per_s']:.0f}", "", ""]
        )
    lines += [
        md_table(["measure", "value", "target", "met"], rows),
        "",
        f"Generator: {s['generator_flops_per_sample'] / 1e6:.2f} MFLOP per sample; fp32 matmul "
        f"{s['matmul_fp32']['n']}²: {s['matmul_fp32']['gflops_best']:.1f} GFLOP/s (best of 3). "
        f"Fastest sampling variant: `{s['fastest_variant']}`.",
        "",
        "## Stages (wall time, memory)",
        "",
    ]
    mem_rows = [
        [
            k,
            f"{v['wall_s']:.1f}",
            f"{v['ru_maxrss_mb']:.0f}",
            f"{v['ru_maxrss_children_mb']:.0f}",
            f"{v.get('rss_now_mb', float('nan')):.0f}",
            f"{v['cuda_max_allocated_mb']:.0f}" if "cuda_max_allocated_mb" in v else "—",
        ]
        for k, v in res["stages"].items()
    ]
    lines += [
        md_table(
            [
                "stage",
                "wall s",
                "peak RSS MiB (process, running max)",
                "peak RSS MiB (child processes)",
                "RSS now MiB",
                "CUDA peak MiB",
            ],
            mem_rows,
        ),
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--precision", default="32-true", choices=["32-true", "bf16-mixed"])
    p.add_argument("--provider", default=None, help="checkpoint directory (default: the bundled provider)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3, help="repeats per measurement; medians are reported")
    p.add_argument(
        "--train-steps",
        type=int,
        nargs=3,
        default=[50, 250, 128],
        metavar=("N1", "N2", "BATCH"),
        help="steady-state training rate from runs of N1 and N2 steps at BATCH",
    )
    p.add_argument("--sample-n", type=int, default=None, help="samples per timing (default 16384 CPU, 262144 CUDA)")
    p.add_argument("--sample-batches", type=int, nargs="+", default=[256, 1024])
    p.add_argument("--matmul-n", type=int, default=None, help="matrix side (default 2048 CPU, 8192 CUDA)")
    p.add_argument("--matmul-seconds", type=float, default=2.0)
    p.add_argument("--map-rows", type=int, default=2000)
    p.add_argument("--map-repeats", type=int, default=9, help="paired (raw sampling, map) repeats per column form")
    p.add_argument(
        "--balance-counts",
        type=int,
        nargs=2,
        default=[400, 40],
        metavar=("MAJOR", "MINOR"),
        help="rows kept for digits 0-4 and 5-9 before balance",
    )
    p.add_argument("--loader-per-class", type=int, default=1024)
    p.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (< 60 s); writes to <out>/smoke/")
    a = p.parse_args(argv)
    cuda = a.device == "cuda"
    if cuda and not torch.cuda.is_available():
        p.error("--device cuda but torch.cuda.is_available() is False")
    a.sample_n = a.sample_n or (262_144 if cuda else 16_384)
    a.matmul_n = a.matmul_n or (8192 if cuda else 2048)
    if a.smoke:
        a.repeats, a.train_steps, a.sample_n, a.matmul_n, a.matmul_seconds = 1, [1, 4, 32], 2048, 512, 0.2
        a.map_rows, a.balance_counts, a.loader_per_class, a.map_repeats = 300, [40, 5], 60, 1
    if a.train_steps[1] <= a.train_steps[0]:
        p.error("--train-steps needs N2 > N1")
    return a


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    configure(args.threads)
    out_dir = results_dir(args.out, args.smoke)
    t_start = time.perf_counter()
    stages: dict[str, Any] = {}
    print(f"speed benchmark on {args.device} ({args.precision}), torch threads {torch.get_num_threads()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="ganaug-speed-") as tmp:
        workdir = Path(tmp)
        with stage(stages, "provider", args.device):
            provider, provider_desc = get_provider(args.provider, workdir, allow_tiny=True, device=args.device)
        with stage(stages, "training", args.device):
            training = bench_training(args, workdir)
        with stage(stages, "sampling", args.device):
            sampling = bench_sampling(args, provider)
        raw = sampling["by_batch"].get("1024", next(iter(sampling["by_batch"].values())))["samples_per_s"]
        integrations: dict[str, Any] = {}
        with stage(stages, "augment_map", args.device):
            integrations["augment_map"] = bench_augment(args, provider, raw)
        print(
            f"  Augment map: {integrations['augment_map']['rows_per_s']:.0f} synthetic rows/s "
            f"({integrations['augment_map']['augment_over_raw_sampling']:.2f} of raw sampling; encoded column "
            f"{integrations['augment_map']['encoded']['augment_over_raw_sampling']:.2f}; "
            f"{integrations['augment_map']['steal_s']:.0f} s stolen by other guests)",
            flush=True,
        )
        with stage(stages, "balance", args.device):
            integrations["balance"] = bench_balance(args, provider)
        print(f"  balance: {integrations['balance']['rows_per_s']:.0f} synthetic rows/s", flush=True)
        with stage(stages, "dataloader", args.device):
            integrations["dataloader"] = bench_dataloader(args, provider)
    res = {
        "benchmark": NAME,
        "machine": machine_record(args.device),
        "settings": {k: v for k, v in vars(args).items()},
        "seeds": {"train_seed": args.seed, "sampling_seed": 0},
        "provider": provider_desc,
        "targets": TARGETS,
        "training": training,
        "sampling": sampling,
        "integrations": integrations,
        "stages": stages,
        "wall_s": time.perf_counter() - t_start,
    }
    js, md = write_results(out_dir, NAME, res, markdown(res))
    print(f"wrote {js} and {md} ({res['wall_s']:.0f} s)")
    return res


if __name__ == "__main__":
    main()
