"""Where a recipe's classifier runs train: in the caller's process or in single-threaded worker processes, with
the same results either way."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

import torch


def workers(jobs: int, runs: int, accelerator: str) -> int:
    """Worker processes for ``runs`` classifier runs: ``jobs``, or one per CPU core when it is 0; one on an
    accelerator (the device is the parallelism there)."""
    if accelerator != "cpu":
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    wanted = jobs or cores
    return max(1, min(wanted, runs))


def fork_is_safe() -> bool:
    """Whether workers may be forked: on Linux without CUDA devices. Where CUDA devices exist, autograd's first
    backward pass in this process (a GAN trained here, on any device) starts its device threads, and a forked
    worker's backward pass then fails ("Unable to handle autograd's threading in combination with fork-based
    multiprocessing", seen on an H200 machine); other systems spawn anyway, as torch does there."""
    return sys.platform.startswith("linux") and not torch.cuda.is_available()


def fit_runs(
    fit: Callable[..., dict[str, Any]], jobs, evaluation: dict[str, Any], n_workers: int
) -> Iterator[tuple[int, dict[str, Any], Any]]:
    """Train and evaluate ``jobs`` (``runner._plan_runs``) with ``fit`` (a module-level function, so that workers
    can unpickle it), yielding (slot index, result row, pass rate) as runs finish.

    A run's rows (real + synthetic images) are built just before it is queued, so memory holds a few runs' rows
    at a time. With ``n_workers`` > 1 the runs go to that many single-threaded worker processes (small CNNs use
    two cores better as two runs than as one run with two threads); on an error the queued runs are cancelled. A
    CPU run trains on one thread in-process too: kernels may split sums by thread count (one machine gave 93.64 %
    on one thread, 93.73 % on two), so ``jobs`` and the core count never change a result."""
    if n_workers == 1:
        threads = torch.get_num_threads()
        try:
            for index, inputs, kw, rate in jobs:
                torch.set_num_threads(1 if kw["accelerator"] == "cpu" else threads)
                yield index, fit(inputs=inputs(), **kw, **evaluation), rate
        finally:
            torch.set_num_threads(threads)
        return
    # fork needs no main-module guard in the caller's script; one intra-op thread per worker keeps a forked child
    # out of the parent's OpenMP pool. Where it is unsafe, spawn (the caller's script then needs the guard).
    ctx = multiprocessing.get_context("fork" if fork_is_safe() else "spawn")
    pool = ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=torch.set_num_threads, initargs=(1,))
    pending: dict[Future, tuple[int, Any]] = {}
    try:
        for index, inputs, kw, rate in jobs:
            while len(pending) >= 2 * n_workers:  # one queued behind each running run: no worker waits
                yield from _collect(pending)
            pending[pool.submit(fit, inputs=inputs(), **kw, **evaluation)] = (index, rate)
        while pending:
            yield from _collect(pending)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _collect(pending: dict[Future, tuple[int, Any]]) -> Iterator[tuple[int, dict[str, Any], Any]]:
    """Wait for at least one of ``pending``; remove and yield every finished one."""
    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
    for future in finished:
        index, rate = pending.pop(future)
        yield index, future.result(), rate
