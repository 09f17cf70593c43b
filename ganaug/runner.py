"""``run_recipe``: data → GAN → synthetic data (through the public API) → one classifier per arm and seed →
evaluation on the same test rows → gain guard on validation → report.

The parts live in their own modules, imported in one direction: ``experiment`` (splits), ``synthetic`` (the
provider and its rows), ``arms`` (what each arm trains on), ``stats`` (paired intervals, headline, guard) and
``report`` (the files a person reads)."""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from ._io import atomic_replace_dir, atomic_write_json, ensure_writable_dir
from ._parallel import fit_runs, workers
from .arms import ARMS, classifier_inputs, uses_gan
from .checkpoint import cpu_isa, library_versions
from .classify import evaluate, predict_proba, train_classifier
from .data import LabelledImages
from .experiment import Splits, build_splits
from .recipe import Recipe, classifier_config
from .stats import gain_guard, summarize
from .synthetic import filtered_synthetic, get_provider, make_synthetic, synthetic_coverage, train_judge


def run_recipe(recipe: Recipe, *, write_anyway: bool = False, progress: bool = True) -> dict[str, Any]:
    """Run ``recipe`` end to end; returns the report dict (also written to ``output_dir/report.json``).

    The gain guard decides whether the augmented dataset is written: only if the best GAN arm beats the
    recipe's ``guard.against`` on validation beyond noise (``ganaug.stats.gain_guard``), unless
    ``write_anyway``. The report is written either way and says why."""
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

    gans, coverage = _gans(recipe, splits, out, progress, log, timings)

    t = time.perf_counter()
    results, filter_pass_rate, reused = _run_arms(recipe, splits, gans, progress, out / RUN_CACHE)
    timings["classifiers_s"] = time.perf_counter() - t
    n_runs = sum(len(rows) for rows in results.values())
    if reused:
        notes.append(
            f"{reused} of {n_runs} classifier runs were reused from {RUN_CACHE}/ (same ganaug version, recipe "
            "settings, data and synthetic rows); delete that folder to train them again"
        )
        log(notes[-1])
    has_val = len(splits.val) > 0
    stats = summarize(results, splits.minority, recipe.guard.metric, has_val)
    guard = recipe.guard
    verdict = gain_guard(results, guard.against, guard.metric, has_val, splits.val.labels, guard.gan_arm)
    written = False
    if gans:
        if not verdict["passed"] and not write_anyway:
            why = "found no win on validation" if verdict.get("decided") else "could not decide (see its verdict)"
            notes.append(
                f"the augmented dataset was NOT written: the gain guard {why} "
                "(ganaug run --write-anyway writes it anyway)"
            )
        else:
            # the first GAN seed's dataset is the one written
            atomic_replace_dir(out / "augmented", lambda tmp: gans[0].dataset.save_to_disk(str(tmp)))
            written = True
    timings["total_s"] = time.perf_counter() - t0
    report = {
        **_run_record(recipe, splits),
        "gan": {
            "source": gans[0].source if gans else None,
            "seeds": [g.seed for g in gans],
            "sources": {str(g.seed): g.source for g in gans},
            "synthetic_class_counts": gans[0].synth.class_counts() if gans else None,
            "filter_pass_rate": filter_pass_rate,
            "coverage": coverage,
        },
        "results": results,
        **stats,
        "guard": verdict,
        "written_anyway": bool(write_anyway and written and not verdict["passed"]),
        "dataset_written": written,
        "classifier_runs": {"total": n_runs, "reused": reused},
        "notes": notes,
        "timings": timings,
    }
    rare = _rare_images(splits, gans[0].synth) if gans else None
    variants = _variant_rows(splits, gans[0].provider) if gans else None
    write_report(report, Path(out), gans[0].provider if gans else None, rare, variants)
    if progress:
        print_summary(report)
    return report


RUN_CACHE = "classifier-runs"  # one JSON file per finished classifier run: an interrupted recipe run resumes


@dataclass
class GanRun:
    """One GAN of a recipe run: its seed, provider, where it came from, its augmented dataset (real rows then
    synthetic rows) and the synthetic rows decoded."""

    seed: int
    provider: Any
    source: str
    dataset: Any = None
    synth: Any = None
    synth_fingerprint: str | None = None


def _gans(recipe: Recipe, splits: Splits, out: Path, progress: bool, log, timings: dict[str, float]):
    """The recipe's GANs (one per GAN seed; none without a GAN arm) with their synthetic rows, and the first
    one's coverage."""
    gans: list[GanRun] = []
    coverage = None
    if any(uses_gan(a) for a in recipe.arms):
        t = time.perf_counter()
        for gan_seed in recipe.gan_seed_list():
            provider, source = get_provider(recipe, splits, out, progress, log, gan_seed=gan_seed)
            gans.append(GanRun(gan_seed, provider, source))
        timings["gan_s"] = time.perf_counter() - t
        t = time.perf_counter()
        for gan in gans:
            gan.dataset, gan.synth = make_synthetic(recipe, splits, gan.provider)
        timings["synthetic_s"] = time.perf_counter() - t
        log(f"{len(gans[0].synth)} synthetic rows per GAN seed: {gans[0].synth.class_counts()}")
        t = time.perf_counter()
        coverage = synthetic_coverage(recipe, splits, gans[0].synth)
        coverage["gan_seed"] = gans[0].seed
        timings["coverage_s"] = time.perf_counter() - t
    return gans, coverage


def _run_arms(
    recipe: Recipe, splits: Splits, gans: list[GanRun], progress: bool, cache: Path | None = None
) -> tuple[dict[str, list], Any, int]:
    """One classifier per (seed, arm), and per GAN seed for the GAN arms, evaluated on test and validation; the
    gan+filter pass rate (the first GAN seed's, for the last classifier seed); and how many runs came from
    ``cache``.

    Every finished run is written to ``cache`` (one JSON file, named by a hash of everything its result depends
    on: the library versions and device, the arm, the seeds, the classifier settings, the training, validation
    and test data and, for GAN arms, the synthetic rows and how they mix), so an interrupted recipe run resumes
    where it stopped and a run that changes only GAN settings retrains only the GAN arms. The key does not see edits
    to ganaug's own code within one version: after changing how classifiers train, delete the folder."""
    slots, jobs, filter_pass_rate = _plan_runs(recipe, splits, gans, cache)
    c = recipe.classifier
    evaluation = {"test": splits.test, "validation": splits.val if len(splits.val) else None}
    n_workers = workers(c.jobs, len(jobs), c.accelerator)
    bar = None
    if progress and jobs:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc=f"classifiers ({n_workers} at a time)", unit="run")
    fitted: dict[int, dict[str, Any]] = {}
    # closing(): an error here still shuts the worker pool down
    with closing(fit_runs(_fit_and_evaluate, jobs, evaluation, n_workers)) as runs:
        for index, row, rate in runs:
            name, path, _ = slots[index]
            fitted[index] = row
            if path is not None:
                ensure_writable_dir(path.parent, "classifier run cache")
                atomic_write_json(path, {"row": row, "filter_pass_rate": rate})
            _tick(bar, name, row["seed"])
    if bar is not None:
        bar.close()
    results: dict[str, list[dict[str, Any]]] = {a: [] for a in recipe.arms}
    for index, (name, _, entry) in enumerate(slots):
        results[name].append(entry["row"] if entry is not None else fitted[index])
    return results, filter_pass_rate, sum(entry is not None for _, _, entry in slots)


def _plan_runs(recipe: Recipe, splits: Splits, gans: list[GanRun], cache: Path | None):
    """Every classifier run in (seed, arm, GAN seed) order as a slot (arm name, cache path, cached entry or
    None); the runs to train as (slot index, builder of their inputs, other keyword arguments of
    ``_fit_and_evaluate``, gan+filter pass rate); and the first GAN seed's gan+filter pass rate."""
    c, k = recipe.classifier, splits.spec.num_classes
    filter_pass_rate = None
    base = _cache_base(recipe, splits) if cache is not None else None
    slots: list[tuple[str, Path | None, dict[str, Any] | None]] = []
    jobs: list[tuple[int, Callable[[], dict[str, Any]], dict[str, Any], float | None]] = []
    for seed in recipe.seeds:
        judge = None
        for name in recipe.arms:
            arm = ARMS[name]
            for gan in gans if arm.uses_gan else [None]:
                path = cache / f"{_run_key(base, name, seed, gan)}.json" if base is not None else None
                entry = _read_cached(path)
                slots.append((name, path, entry))
                if entry is not None:
                    if arm.synthetic == "filtered" and gan is gans[0]:
                        filter_pass_rate = entry.get("filter_pass_rate")
                    continue
                rows, rate = (gan.synth if gan else None), None
                if arm.synthetic == "filtered":
                    judge = judge or train_judge(recipe, splits, seed=seed + 10_000)
                    rows, rate = filtered_synthetic(recipe, splits, gan.provider, gan.synth.class_counts(), judge)
                    filter_pass_rate = rate if gan is gans[0] else filter_pass_rate
                fresh = partial(_fresh_sample, gan.provider) if gan and recipe.synthetic.fresh else None
                inputs = partial(
                    classifier_inputs,
                    arm,
                    classifier_config(c, seed),
                    splits.train,
                    rows,
                    elastic=c.elastic,
                    synthetic_weight=c.synthetic_weight,
                    real_share=c.real_share,
                    fresh_sampler=fresh,
                )
                extra = {"gan_seed": gan.seed} if gan else {}
                kw = {"seed": seed, "num_classes": k, "accelerator": c.accelerator, **extra}
                jobs.append((len(slots) - 1, inputs, kw, rate))
    return slots, jobs, filter_pass_rate


def _cache_base(recipe: Recipe, splits: Splits) -> dict[str, Any]:
    """What every classifier run of ``recipe`` depends on, whatever its arm and seed: the settings, the data,
    the library versions and the device the classifiers run on (a run on another device, torch release or CPU
    instruction set is not the same run). Paths are left out (``synthetic.mix_with``, ``gan.checkpoint``): the
    synthetic rows' own content hash is in every GAN run's key, so a run directory moved or copied keeps its cache."""
    device = _device_type(recipe.classifier.accelerator)
    return {
        **library_versions(),
        "device": device,
        **({"cpu_isa": cpu_isa()} if device == "cpu" else {}),
        "classifier": {k: v for k, v in asdict(recipe.classifier).items() if k != "jobs"},
        "synthetic": {k: v for k, v in asdict(recipe.synthetic).items() if k != "mix_with"},
        "gan": {k: v for k, v in asdict(recipe.gan).items() if k != "checkpoint"},
        "data": [splits.train.fingerprint(), splits.val.fingerprint(), splits.test.fingerprint()],
    }


def _device_type(accelerator: str) -> str:
    """The device type Fabric resolves ``accelerator`` to (``cpu``, ``cuda``, ``mps``)."""
    from lightning_fabric import Fabric

    return Fabric(accelerator=accelerator, devices=1).device.type


def _run_key(base: dict[str, Any], name: str, seed: int, gan: GanRun | None) -> str:
    """The cache name of one classifier run: a hash of ``base``, the arm, the seed and the GAN's rows."""
    if gan is not None and gan.synth_fingerprint is None:
        gan.synth_fingerprint = gan.synth.fingerprint()
    key = {
        **base,
        "classifier": base["classifier"] if gan is not None else _without_gan_settings(base["classifier"]),
        "arm": asdict(ARMS[name]),
        "seed": seed,
        "gan": [gan.seed, base["gan"], gan.synth_fingerprint] if gan is not None else None,
        "synthetic": base["synthetic"] if gan is not None else None,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _without_gan_settings(classifier: dict[str, Any]) -> dict[str, Any]:
    """The classifier settings a run without synthetic rows depends on (how synthetic rows mix is not one)."""
    return {k: v for k, v in classifier.items() if k not in ("real_share", "synthetic_weight")}


def _read_cached(path: Path | None) -> dict[str, Any] | None:
    """A cached run's entry, or None when there is none (or it cannot be read: the run is trained again)."""
    if path is None or not path.is_file():
        return None
    try:
        entry = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) and isinstance(entry.get("row"), dict) else None


def _fit_and_evaluate(
    seed: int,
    inputs: dict[str, Any],
    num_classes: int,
    accelerator: str,
    test: LabelledImages,
    validation,
    gan_seed: int | None = None,
) -> dict[str, Any]:
    """Train one classifier and evaluate it on ``test`` (and ``validation`` when given)."""
    t0 = time.perf_counter()
    model = train_classifier(num_classes=num_classes, accelerator=accelerator, **inputs)
    row = {
        "seed": seed,
        **({"gan_seed": gan_seed} if gan_seed is not None else {}),
        "train_rows": len(inputs["labels"]),
        "test": evaluate(test.labels, predict_proba(model, test.images).argmax(1), num_classes),
        "seconds": time.perf_counter() - t0,
    }
    if validation is not None:
        pred = predict_proba(model, validation.images).argmax(1)
        row["validation"] = evaluate(validation.labels, pred, num_classes)
        row["validation_correct"] = (pred == validation.labels).int().tolist()  # per image: for the bootstrap
    return row


def _rare_images(splits: Splits, synth: LabelledImages) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(class name, real training images, synthetic images) of every minority class, for the report's grid."""
    names, real = splits.spec.class_names, splits.train
    return [(str(names[c]), real.images[real.labels == c], synth.images[synth.labels == c]) for c in splits.minority]


def _variant_rows(splits: Splits, provider, per_image: int = 10, max_rows: int = 25):
    """(row label, real training image, ``per_image`` variants of it) for ``variants.png``, where the provider (or a
    part of a mix) varies images: up to 5 images of each minority class (of every class where there is none),
    fewer per class where the classes would fill more than ``max_rows`` rows, and the first ``max_rows`` classes
    only where there are more. None for a label-conditioned GAN."""
    pair = next((p for p in getattr(provider, "parts", (provider,)) if getattr(p, "image_conditioned", False)), None)
    if pair is None:
        return None
    classes = (splits.minority or list(range(splits.spec.num_classes)))[:max_rows]
    each = max(1, min(5, max_rows // len(classes)))
    names, train = splits.spec.class_names, splits.train
    rows = []
    for c in classes:
        real = train.images[train.labels == c][:each]
        varied = pair.vary(real.repeat_interleave(per_image, 0), seed=0).view(len(real), per_image, *real.shape[1:])
        rows += [(f"{names[c]} #{i + 1}", real[i], varied[i]) for i in range(len(real))]
    return rows


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
            "cpu_isa": cpu_isa(),
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
