"""``run_recipe``: data → GAN → synthetic data (through the public API) → one classifier per arm and seed →
evaluation on the same test rows → gain guard on validation → report.

The parts live in their own modules, imported in one direction: ``experiment`` (splits), ``synthetic`` (the
provider and its rows), ``arms`` (what each arm trains on), ``stats`` (paired intervals, headline, guard) and
``report`` (the files a person reads)."""

from __future__ import annotations

import multiprocessing
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import torch

from ._io import atomic_replace_dir, ensure_writable_dir
from .arms import ARMS, classifier_inputs, uses_gan
from .checkpoint import library_versions
from .classify import evaluate, predict_proba, train_classifier
from .data import LabelledImages
from .experiment import Splits, build_splits
from .recipe import Recipe, classifier_config
from .stats import gain_guard, summarize
from .synthetic import filtered_synthetic, get_provider, make_synthetic, synthetic_coverage, train_judge


def run_recipe(recipe: Recipe, guard: bool = False, force: bool = False, progress: bool = True) -> dict[str, Any]:
    """Run ``recipe`` end to end; returns the report dict (also written to ``output_dir/report.json``).

    With ``guard``, the augmented dataset is written only if the best GAN arm beats the best non-GAN arm on
    validation beyond seed noise (``force`` writes it anyway)."""
    from .report import print_summary, write_report

    def log(msg: str) -> None:
        if progress:
            print(f"[ganaug run] {msg}", flush=True)

    out = ensure_writable_dir(recipe.output_dir, "recipe output_dir")
    timings: dict[str, float] = {}
    notes: list[str] = []
    t0 = time.perf_counter()
    splits = build_splits(recipe.data, recipe.experiment)
    timings["data_s"] = time.perf_counter() - t0
    if len(splits.val) == 0:
        notes.append("the validation split is empty: the gain guard cannot decide")
    log(f"train {splits.train.class_counts()}  validation {splits.val.class_counts()}  test {len(splits.test)} rows")

    provider = aug_ds = synth = gan_source = coverage = None
    needs_gan = any(uses_gan(a) for a in recipe.arms)
    if needs_gan:
        t = time.perf_counter()
        provider, gan_source = get_provider(recipe, splits, out, progress, log)
        timings["gan_s"] = time.perf_counter() - t
        t = time.perf_counter()
        aug_ds, synth = make_synthetic(recipe, splits, provider)
        timings["synthetic_s"] = time.perf_counter() - t
        log(f"{len(synth)} synthetic rows: {synth.class_counts()}")
        t = time.perf_counter()
        coverage = synthetic_coverage(recipe, splits, synth)
        timings["coverage_s"] = time.perf_counter() - t

    t = time.perf_counter()
    results, filter_pass_rate = _run_arms(recipe, splits, provider, synth, progress)
    timings["classifiers_s"] = time.perf_counter() - t
    has_val = len(splits.val) > 0
    stats = summarize(results, splits.minority, recipe.guard.metric, has_val)
    verdict = gain_guard(results, recipe.guard.against, recipe.guard.metric, has_val, splits.val.labels)
    written = False
    if needs_gan:
        if guard and not verdict["passed"] and not force:
            notes.append(
                "--guard: the augmented dataset was NOT written because the synthetic data did not "
                "win on validation (use --force to write it anyway)"
            )
        else:
            atomic_replace_dir(out / "augmented", lambda tmp: aug_ds.save_to_disk(str(tmp)))
            written = True
    timings["total_s"] = time.perf_counter() - t0
    report = {
        **_run_record(recipe, splits),
        "gan": {
            "source": gan_source,
            "synthetic_class_counts": synth.class_counts() if synth is not None else None,
            "filter_pass_rate": filter_pass_rate,
            "coverage": coverage,
        },
        "results": results,
        **stats,
        "guard": verdict,
        "guard_requested": guard,
        "dataset_written": written,
        "notes": notes,
        "timings": timings,
    }
    write_report(report, Path(out), provider)
    if progress:
        print_summary(report)
    return report


def _run_arms(recipe: Recipe, splits: Splits, provider, synth, progress: bool) -> tuple[dict[str, list], Any]:
    """One classifier per (seed, arm), evaluated on test and validation; and the gan+filter pass rate.

    With ``[classifier] jobs`` > 1 the runs go to that many single-threaded worker processes (small CNNs use
    two cores better as two runs than as one run with two threads); results come back in (seed, arm) order."""
    c = recipe.classifier
    k = splits.spec.num_classes
    fresh = partial(_fresh_sample, provider) if recipe.synthetic.fresh and provider is not None else None
    filter_pass_rate = None
    jobs = []  # (arm name, keyword arguments of _fit_and_evaluate)
    for seed in recipe.seeds:
        filtered = None
        for name in recipe.arms:
            arm = ARMS[name]
            rows = synth
            if arm.synthetic == "filtered":
                if filtered is None:
                    judge = train_judge(recipe, splits, seed=seed + 10_000)
                    counts = synth.class_counts()
                    filtered, filter_pass_rate = filtered_synthetic(recipe, splits, provider, counts, judge)
                rows = filtered
            inputs = classifier_inputs(
                arm,
                classifier_config(c, seed),
                splits.train,
                rows,
                elastic=c.elastic,
                synthetic_weight=c.synthetic_weight,
                real_share=c.real_share,
                fresh_sampler=fresh,
            )
            jobs.append((name, {"seed": seed, "inputs": inputs, "num_classes": k, "accelerator": c.accelerator}))
    evaluation = {"test": splits.test, "validation": splits.val if len(splits.val) else None}
    n_workers = _workers(c.jobs, len(jobs), c.accelerator)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc=f"classifiers ({n_workers} at a time)", unit="run")
    results: dict[str, list[dict[str, Any]]] = {a: [] for a in recipe.arms}
    if n_workers == 1:
        rows = (_fit_and_evaluate(**kw, **evaluation) for _, kw in jobs)
        for (name, _), row in zip(jobs, rows, strict=True):
            results[name].append(row)
            _tick(bar, name, row["seed"])
    else:
        # fork (Linux) needs no main-module guard in the caller's script; one intra-op thread per worker keeps a
        # forked child out of the parent's OpenMP pool. Elsewhere spawn, torch's own choice there.
        method = "fork" if sys.platform.startswith("linux") else "spawn"
        ctx = multiprocessing.get_context(method)
        with ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            futures = [pool.submit(_fit_and_evaluate, **kw, **evaluation) for _, kw in jobs]
            for (name, _), future in zip(jobs, futures, strict=True):
                row = future.result()
                results[name].append(row)
                _tick(bar, name, row["seed"])
    if bar is not None:
        bar.close()
    return results, filter_pass_rate


def _workers(jobs: int, runs: int, accelerator: str) -> int:
    """Worker processes for ``runs`` classifier runs: ``jobs``, or one per CPU core when it is 0; one on an
    accelerator (the device is the parallelism there)."""
    if accelerator != "cpu":
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    wanted = jobs or cores
    return max(1, min(wanted, runs))


def _fit_and_evaluate(
    seed: int, inputs: dict[str, Any], num_classes: int, accelerator: str, test: LabelledImages, validation
) -> dict[str, Any]:
    """Train one classifier and evaluate it on ``test`` (and ``validation`` when given)."""
    t0 = time.perf_counter()
    model = train_classifier(num_classes=num_classes, accelerator=accelerator, **inputs)
    row = {
        "seed": seed,
        "train_rows": len(inputs["labels"]),
        "test": evaluate(test.labels, predict_proba(model, test.images).argmax(1), num_classes),
        "seconds": time.perf_counter() - t0,
    }
    if validation is not None:
        pred = predict_proba(model, validation.images).argmax(1)
        row["validation"] = evaluate(validation.labels, pred, num_classes)
        row["validation_correct"] = (pred == validation.labels).int().tolist()  # per image: for the bootstrap
    return row


def _fresh_sample(provider, labels: torch.Tensor, seed: int) -> torch.Tensor:
    return provider.sample(labels, seed=seed)


def _tick(bar, arm: str, seed: int) -> None:
    if bar is not None:
        bar.set_postfix(arm=arm, seed=seed)
        bar.update(1)


def _run_record(recipe: Recipe, splits: Splits) -> dict[str, Any]:
    """What ran where: the resolved recipe, library versions, the machine and the data."""
    return {
        "recipe": recipe.to_dict(),
        "recipe_file": recipe.path,
        "versions": library_versions(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.is_available(),
        },
        "data": _data_record(splits),
    }


def _data_record(splits: Splits) -> dict[str, Any]:
    return {
        "spec": splits.spec.to_dict(),
        "train_class_counts": splits.train.class_counts(),
        "validation_class_counts": splits.val.class_counts(),
        "test_rows": len(splits.test),
        "test_class_counts": splits.test.class_counts(),
        "minority_classes": splits.minority,
        "train_fingerprint": splits.train.fingerprint(),
    }
