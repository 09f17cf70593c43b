"""Helpers shared by the benchmark scripts: the machine record, atomic JSON/Markdown/PNG writing, stage timing
with peak memory, the provider to measure, and small formatting helpers."""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ganaug._io import atomic_write as _atomic_write

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"

# quiet, offline, no progress bars: benchmarks measure the library, not tqdm
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")


# ---------------------------------------------------------------------------------------------------------
# output


def results_dir(out: str | os.PathLike[str] | None, smoke: bool) -> Path:
    """``out`` (default benchmarks/results), or its ``smoke/`` sub-folder for ``--smoke`` runs."""
    base = Path(out) if out else RESULTS
    path = base / "smoke" if smoke else base
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """``ganaug._io.atomic_write`` (temporary file, then ``os.replace``), creating the folder first."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return _atomic_write(path, write)


def _clean(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf become None (strict JSON), tuples lists, numpy/torch scalars numbers."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        return _clean(obj.item())
    if hasattr(obj, "tolist"):
        return _clean(obj.tolist())
    return obj


def write_results(out_dir: Path, name: str, payload: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """Write ``<name>.json`` and ``<name>.md`` into ``out_dir`` atomically; returns both paths."""
    text = json.dumps(_clean(payload), indent=2, sort_keys=False, allow_nan=False, default=str) + "\n"
    js = atomic_write(out_dir / f"{name}.json", lambda p: p.write_text(text))
    md = atomic_write(out_dir / f"{name}.md", lambda p: p.write_text(markdown.rstrip() + "\n"))
    return js, md


def save_figure(fig, path: Path) -> Path:
    return atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))


SMOKE_BANNER = "\n**SMOKE RUN: tiny sizes to check the plumbing; these numbers are not measurements.**\n"


def toml_text(d: dict[str, Any], prefix: str = "") -> str:
    """A recipe dict as TOML (tables of scalars and lists, the shapes recipes have): JSON's strings, numbers,
    booleans and lists are TOML values too."""
    top = [f"{k} = {json.dumps(v)}" for k, v in d.items() if not isinstance(v, dict)]
    tables = [f"\n[{prefix}{k}]\n" + toml_text(v) for k, v in d.items() if isinstance(v, dict)]
    return "\n".join(top) + "\n" + "".join(tables)


def md_table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def guard_word(guard: dict[str, Any] | None, undecided: str = "undecided") -> str:
    """A recipe report's gain guard in one word: ``passes``, ``refuses`` or ``undecided`` (no validation)."""
    if not guard:
        return "—"
    return "passes" if guard.get("passed") else ("refuses" if guard.get("decided") else undecided)


def pm(mean: float | None, std: float | None, scale: float = 1.0, digits: int = 2) -> str:
    """``mean ± std`` (times ``scale``), or an em dash when missing."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def mean_std(values: list[float]) -> dict[str, Any]:
    """Mean and sample standard deviation (ddof=1; None for a single value) plus the values themselves."""
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(v.mean()) if v.size else None,
        "std": float(v.std(ddof=1)) if v.size > 1 else None,
        "values": v.tolist(),
    }


# ---------------------------------------------------------------------------------------------------------
# the machine record


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def machine_record(device: str = "cpu") -> dict[str, Any]:
    """Where and with what the numbers were measured (attach to every result file)."""
    import torch

    import ganaug
    from ganaug.checkpoint import cpu_isa, library_versions

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    rec: dict[str, Any] = {
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "hostname": platform.node(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": _cpu_model(),
        "cpu_isa": cpu_isa(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "load_average_1_5_15": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "mkldnn_available": torch.backends.mkldnn.is_available(),
        "python": sys.version.split()[0],
        "versions": {**library_versions(), "ganaug": ganaug.__version__},
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain")),
        "cuda_available": torch.cuda.is_available(),
        "device": device,
    }
    if torch.cuda.is_available():
        rec["cuda_device_name"] = torch.cuda.get_device_name(0)
        rec["cuda_version"] = torch.version.cuda
        rec["cuda_tf32_matmul"] = torch.backends.cuda.matmul.allow_tf32
    return rec


def _cpu_model() -> str | None:
    """The CPU's model name (Linux ``/proc/cpuinfo``), or None where it cannot be read."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine_line(m: dict[str, Any]) -> str:
    gpu = f", GPU {m['cuda_device_name']}" if m.get("cuda_device_name") else ""
    load = m.get("load_average_1_5_15")
    load_s = f", load avg {load[0]:.1f}" if load else ""
    dirty = "+dirty" if m.get("git_dirty") else ""
    isa = f" ({m['cpu_isa']})" if m.get("cpu_isa") else ""
    return (
        f"{m['date_utc']} · {m['platform']} · {m['processor']}{isa} · {m['cpu_count']} CPUs "
        f"({m['torch_threads']} torch threads){gpu}{load_s} · torch {m['versions']['torch']} · "
        f"ganaug {m['versions']['ganaug']} ({(m.get('git_commit') or '?')[:10]}{dirty})"
    )


# ---------------------------------------------------------------------------------------------------------
# timing and memory


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def memory_mb() -> dict[str, Any]:
    """Peak RSS of this process and of its waited-for children (ru_maxrss, MiB; a running maximum over the
    process life), the current RSS, and the CUDA peak since the last reset."""
    import torch

    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 2**20  # ru_maxrss: KiB on Linux, bytes on macOS
    out: dict[str, Any] = {
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale,
        "ru_maxrss_children_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale,
    }
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        out["rss_now_mb"] = pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        pass
    if torch.cuda.is_available():
        out["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


@contextmanager
def stage(record: dict[str, Any], name: str, device: str = "cpu") -> Iterator[None]:
    """Time a benchmark stage and record its wall time and memory in ``record[name]``."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    yield
    sync(device)
    record[name] = {"wall_s": time.perf_counter() - t0, **memory_mb()}
    print(f"  [{name}] {record[name]['wall_s']:.1f} s, peak RSS {record[name]['ru_maxrss_mb']:.0f} MiB", flush=True)


# ---------------------------------------------------------------------------------------------------------
# the provider to measure


def get_provider(path: str | None, workdir: Path, allow_tiny: bool, device: str = "cpu", tiny_steps: int = 5):
    """(provider, description): ``path``, else the bundled provider, else (if ``allow_tiny``) a provider
    trained for ``tiny_steps`` steps on mnist-mini into ``workdir`` with the default ModelConfig."""
    import ganaug
    from ganaug.errors import GanaugError

    if path:
        return ganaug.load_provider(path, device=device), f"checkpoint {path}"
    try:
        return ganaug.default_provider().to(device), "bundled provider (ganaug/pretrained/mnist)"
    except GanaugError as exc:
        if not allow_tiny:
            raise SystemExit(
                f"the bundled provider is missing ({exc}).\n"
                "Train it with `ganaug run recipes/pretrain-mnist-mini.toml` "
                "and copy runs/pretrain-mnist-mini/gan/{generator.safetensors,meta.json} to ganaug/pretrained/mnist/, "
                "or pass --provider PATH"
            ) from None
    from ganaug.data import load_images

    print(
        f"  bundled provider missing: training a {tiny_steps}-step stand-in (default ModelConfig) in {workdir}",
        flush=True,
    )
    prov = ganaug.train(
        load_images("mnist-mini"), workdir / "tiny-provider", steps=tiny_steps, progress=False, accelerator="cpu"
    )
    return prov.to(device), f"{tiny_steps}-step stand-in trained on mnist-mini (bundled provider missing)"


def configure(threads: int | None) -> None:
    """``torch.set_num_threads`` when asked; also silences the datasets progress bars."""
    import datasets
    import torch

    datasets.disable_progress_bars()
    if threads:
        torch.set_num_threads(threads)
