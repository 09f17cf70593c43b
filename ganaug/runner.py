"""The recipe runner: data → GAN → synthetic data (through the public API) → one classifier per arm and
seed → evaluation on the same test rows → gain guard on validation → report."""

from __future__ import annotations

import platform
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from ._io import atomic_replace_dir, ensure_writable_dir
from .checkpoint import library_versions
from .classify import ClassifierConfig, evaluate, extract_features, predict_proba, train_classifier
from .data import LabelledImages, detect_columns, load_images, resolve_dataset
from .errors import CheckpointError, ConfigError
from .recipe import GAN_ARMS, Recipe, gan_settings, paired_ci, recipe_hash


class Runner:
    def __init__(self, recipe: Recipe, progress: bool = True) -> None:
        self.r = recipe
        self.progress = progress
        self.out = ensure_writable_dir(recipe.output_dir, "recipe output_dir")
        self.timings: dict[str, float] = {}
        self.notes: list[str] = []

    def _log(self, msg: str) -> None:
        if self.progress:
            print(f"[ganaug run] {msg}", flush=True)

    # -- 1. data ------------------------------------------------------------------------------------------
    def build_data(self) -> None:
        r = self.r
        t0 = time.perf_counter()
        pool_ds = resolve_dataset(r.data.source, r.data.train_split)
        img_col, lab_col = detect_columns(pool_ds, r.data.image_column or None, r.data.label_column or None)
        pool = load_images(pool_ds, img_col, lab_col)
        rng = np.random.default_rng(r.experiment.seed)
        labels = pool.labels.numpy()
        available = np.arange(len(labels))
        if r.data.test_split:
            test = load_images(resolve_dataset(r.data.source, r.data.test_split), img_col, lab_col)
            if test.spec.shape != pool.spec.shape:
                raise ConfigError(f"test split images are {test.spec.shape}, training images {pool.spec.shape}")
        else:
            test_idx = _stratified(labels, available, rng, fraction=r.data.test_fraction)
            test = _subset(pool, test_idx)
            available = np.setdiff1d(available, test_idx)
        e = r.experiment
        if e.validation == "pool":
            # set aside validation_per_class rows of every class first; training rows come from the rest
            val_idx = np.concatenate(
                [
                    rng.permutation(available[labels[available] == c])[: e.validation_per_class]
                    for c in range(pool.spec.num_classes)
                ]
            )
            train_idx = self._experiment_rows(labels, np.setdiff1d(available, val_idx), rng, pool.spec.num_classes)
        else:
            train_idx = self._experiment_rows(labels, available, rng, pool.spec.num_classes)
            val_idx = _stratified(labels, train_idx, rng, fraction=e.validation_fraction, keep_two=True)
            train_idx = np.setdiff1d(train_idx, val_idx)
        train_idx, val_idx = np.sort(train_idx), np.sort(val_idx)
        self.pool_ds, self.img_col, self.lab_col = pool_ds, img_col, lab_col
        self.spec = pool.spec
        self.train_ds = pool_ds.select(train_idx.tolist())
        self.train = _subset(pool, train_idx)
        self.val = _subset(pool, val_idx)
        self.test = test
        self.minority = [
            c
            for c in range(self.spec.num_classes)
            if self.train.class_counts()[c] < 0.5 * max(self.train.class_counts())
        ]
        if len(self.val) == 0:
            self.notes.append("the validation split is empty: the gain guard cannot decide")
        self.timings["data_s"] = time.perf_counter() - t0
        self._log(
            f"train {self.train.class_counts()}  validation {self.val.class_counts()}  test {len(self.test)} rows"
        )

    def _experiment_rows(
        self, labels: np.ndarray, available: np.ndarray, rng: np.random.Generator, num_classes: int
    ) -> np.ndarray:
        e = self.r.experiment
        if e.kind == "none":
            return available
        rows = []
        for c in range(num_classes):
            idx = rng.permutation(available[labels[available] == c])
            if e.kind == "per_class":
                take = e.per_class
            elif c in e.minority_classes:
                take = e.minority_count
            else:
                take = e.majority_count or len(idx)
            if len(idx) < take:
                raise ConfigError(f"class {c} has {len(idx)} images, the experiment asks for {take}")
            rows.append(idx[:take])
        return np.concatenate(rows)

    # -- 2. GAN ------------------------------------------------------------------------------------------
    def get_provider(self):
        from .provider import load_provider
        from .train import train

        g = self.r.gan
        t0 = time.perf_counter()
        if g.checkpoint:
            provider = load_provider(g.checkpoint)
            if provider.spec.shape != self.spec.shape:
                raise CheckpointError(
                    f"gan.checkpoint makes {provider.spec.shape} images, the data has {self.spec.shape}"
                )
            self.gan_source = f"reused checkpoint {g.checkpoint}"
        else:
            tcfg, mcfg = gan_settings(g)
            tcfg = replace(tcfg, checkpoint_every=max(g.steps // 4, 1))
            key = recipe_hash({"train": tcfg.to_dict(), "model": mcfg.to_dict(), "data": self.train.fingerprint()})
            gan_dir = self.out / "gan"
            key_file = gan_dir / "cache_key.txt"
            provider = None
            if key_file.exists() and key_file.read_text().strip() == key:
                try:
                    provider = load_provider(gan_dir)
                    if provider.meta.get("step") != g.steps:
                        provider = None
                except CheckpointError:
                    provider = None
            if provider is not None:
                self.gan_source = f"cached GAN in {gan_dir} (recipe and data fingerprint match)"
                self._log(self.gan_source)
            else:
                self._log(f"training the GAN: {g.steps} steps on {len(self.train)} images")
                ensure_writable_dir(gan_dir)
                key_file.unlink(missing_ok=True)
                provider = train(
                    self.train,
                    gan_dir,
                    config=tcfg,
                    model=mcfg,
                    accelerator=g.accelerator,
                    precision=g.precision,
                    progress=self.progress,
                )
                key_file.write_text(key + "\n")
                self.gan_source = f"trained in {gan_dir}"
        self.timings["gan_s"] = time.perf_counter() - t0
        self.provider = provider
        return provider

    # -- 3. synthetic data through the public API -----------------------------------------------------------
    def make_augmented(self):
        from .hf import Augment, balance

        s = self.r.synthetic
        t0 = time.perf_counter()
        if s.mode == "balance":
            if s.target_per_class > 0:
                counts = self.train.class_counts()
                strategy: Any = {c: max(s.target_per_class, n) for c, n in enumerate(counts)}
            else:
                strategy = s.sampling_strategy
                try:
                    strategy = float(strategy)
                except ValueError:
                    pass
            aug_ds = balance(
                self.train_ds,
                self.provider,
                label_column=self.lab_col,
                image_column=self.img_col,
                sampling_strategy=strategy,
                seed=s.seed,
            )
        else:
            aug = Augment(
                self.provider, ratio=s.ratio, seed=s.seed, label_column=self.lab_col, image_column=self.img_col
            )
            aug_ds = self.train_ds.map(aug, batched=True, batch_size=1000, desc="augment")
        self.aug_ds = aug_ds
        flags = np.asarray(aug_ds["synthetic"], dtype=bool)
        decoded = load_images(aug_ds, self.img_col, self.lab_col)
        self.synth = _subset(decoded, np.nonzero(flags)[0])
        if s.selection == "diverse":  # the written dataset holds the chosen rows, as the classifiers saw them
            import datasets

            from .hf import synthetic_rows

            self.synth = self.diverse_synthetic()
            real_rows = aug_ds.select(np.nonzero(~flags)[0])
            self.aug_ds = datasets.concatenate_datasets(
                [real_rows, synthetic_rows(real_rows, self.synth.images, self.synth.labels, self.img_col, self.lab_col)]
            )
        self.timings["synthetic_s"] = time.perf_counter() - t0
        self._log(f"{len(self.synth)} synthetic rows: {self.synth.class_counts()}")

    def train_judge(self, seed: int):
        """A classifier of the real training set (classical augmentation, class-balanced draws) that scores
        synthetic candidates for ``gan+filter`` and ``selection = "diverse"``."""
        c = self.r.classifier
        cfg = ClassifierConfig(steps=c.steps, batch_size=c.batch_size, width=c.width, augment=True, seed=seed)
        return train_classifier(
            self.train.images,
            self.train.labels,
            self.spec.num_classes,
            cfg,
            sample_weight=self._balanced_weights(),
            accelerator=c.accelerator,
        )

    def _balanced_weights(self) -> torch.Tensor:
        """Per training row 1 / (rows of its class): draws uniform over classes (random oversampling)."""
        counts = torch.bincount(self.train.labels, minlength=self.spec.num_classes).double().clamp_min(1)
        return 1.0 / counts[self.train.labels]

    def diverse_synthetic(self) -> LabelledImages:
        """As many samples per class as balance/Augment drew, chosen among ``filter_candidates``× candidates by
        ``selection.select_diverse`` in the feature space of a judge trained on the real training set."""
        from .selection import select_diverse

        s = self.r.synthetic
        judge = self.train_judge(seed=20_000 + s.seed)

        def choose(c: int, n: int, cand: torch.Tensor, conf: torch.Tensor) -> torch.Tensor:
            feats = extract_features(judge, cand)
            anchors = extract_features(judge, self.train.images[self.train.labels == c])
            return select_diverse(feats, conf, n, min_confidence=s.filter_confidence, anchors=anchors)

        return self._choose_among_candidates(judge, choose)

    def filtered_synthetic(self, judge) -> LabelledImages:
        """As many samples per class as the gan arm has, chosen among ``filter_candidates``× candidates by the
        confidence of a classifier trained on real data (``judge``)."""
        s = self.r.synthetic
        passed = 0

        def choose(c: int, n: int, cand: torch.Tensor, conf: torch.Tensor) -> torch.Tensor:
            nonlocal passed
            passed += int((conf >= s.filter_confidence).sum().clamp(max=n))
            return torch.argsort(conf, descending=True)[:n]

        chosen = self._choose_among_candidates(judge, choose)
        self.filter_pass_rate = passed / max(len(self.synth), 1)
        return chosen

    def _choose_among_candidates(self, judge, choose) -> LabelledImages:
        """For every class with ``n`` synthetic rows: draw ``ceil(n · filter_candidates)`` candidates, score them
        with ``judge`` and keep the ``n`` rows ``choose(class, n, candidates, confidences)`` returns."""
        s = self.r.synthetic
        imgs, labs = [], []
        for c, n in enumerate(self.synth.class_counts()):
            if n == 0:
                continue
            cand = self.provider.sample([c] * int(np.ceil(n * s.filter_candidates)), seed=s.seed * 7919 + c + 1)
            conf = predict_proba(judge, cand)[:, c]
            imgs.append(cand[choose(c, n, cand, conf)])
            labs.append(torch.full((n,), c, dtype=torch.int64))
        return LabelledImages(torch.cat(imgs), torch.cat(labs), self.spec)

    # -- 4. classifiers ------------------------------------------------------------------------------------
    def _augmented(self, cfg: ClassifierConfig, arm: str) -> ClassifierConfig:
        """``cfg`` with the classical augmentation ``arm`` names: the affine for "classical" and
        "gan+classical", the affine + elastic distortion for "elastic" and "gan+elastic", none otherwise."""
        kind = arm.removeprefix("gan+")
        if kind not in ("classical", "elastic"):
            return cfg
        return replace(cfg, augment=True, elastic=self.r.classifier.elastic if kind == "elastic" else 0.0)

    def arm_inputs(self, arm: str, seed: int, judge=None) -> dict[str, Any]:
        c = self.r.classifier
        real = self.train
        cfg = ClassifierConfig(steps=c.steps, batch_size=c.batch_size, lr=c.lr, width=c.width, seed=seed)
        balanced_w = self._balanced_weights()
        if arm == "real":
            return {"images": real.images, "labels": real.labels, "cfg": cfg}
        if arm == "oversample":
            return {"images": real.images, "labels": real.labels, "cfg": cfg, "weights": balanced_w}
        if arm == "class_weighted":
            return {"images": real.images, "labels": real.labels, "cfg": replace(cfg, class_weighted=True)}
        if arm in ("classical", "elastic"):
            return {
                "images": real.images,
                "labels": real.labels,
                "cfg": self._augmented(cfg, arm),
                "weights": balanced_w,
            }
        if arm == "smote":
            return self._smote(cfg, seed)
        synth = self.synth if arm != "gan+filter" else self.filtered_synthetic(judge)
        images = torch.cat([real.images, synth.images])
        labels = torch.cat([real.labels, synth.labels])
        weights = torch.cat([torch.ones(len(real)), torch.full((len(synth),), c.synthetic_weight)]).double()
        if c.real_share:
            weights = _split_class_mass(weights, labels, len(real), c.real_share, self.spec.num_classes)
        inputs = {
            "images": images,
            "labels": labels,
            "weights": weights,
            "cfg": self._augmented(cfg, arm),
        }
        if self.r.synthetic.fresh and arm != "gan+filter":
            inputs["fresh_mask"] = torch.cat(
                [torch.zeros(len(real), dtype=torch.bool), torch.ones(len(synth), dtype=torch.bool)]
            )
            inputs["fresh_sampler"] = lambda y, seed: self.provider.sample(y, seed=seed)
        return inputs

    def _smote(self, cfg: ClassifierConfig, seed: int) -> dict[str, Any]:
        from imblearn.over_sampling import SMOTE

        real = self.train
        min_count = min(n for n in real.class_counts() if n > 0)
        if min_count < 2:
            raise ConfigError("the smote arm needs at least 2 images in every class")
        x = real.images.flatten(1).numpy().astype(np.float32)
        sm = SMOTE(k_neighbors=min(5, min_count - 1), random_state=seed)
        xr, yr = sm.fit_resample(x, real.labels.numpy())
        images = torch.from_numpy(np.clip(np.rint(xr), 0, 255).astype(np.uint8)).view(-1, *self.spec.shape)
        return {"images": images, "labels": torch.from_numpy(yr.astype(np.int64)), "cfg": cfg}

    def run_arms(self) -> dict[str, list[dict[str, Any]]]:
        r = self.r
        results: dict[str, list[dict[str, Any]]] = {a: [] for a in r.arms}
        t0 = time.perf_counter()
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(r.arms) * len(r.seeds), desc="classifiers", unit="run")
        k = self.spec.num_classes
        for seed in r.seeds:
            judge = None
            for arm in r.arms:
                t_arm = time.perf_counter()
                if arm == "gan+filter" and judge is None:
                    judge = self.train_judge(seed=seed + 10_000)
                inp = self.arm_inputs(arm, seed, judge)
                model = train_classifier(
                    inp["images"],
                    inp["labels"],
                    k,
                    inp["cfg"],
                    sample_weight=inp.get("weights"),
                    fresh_mask=inp.get("fresh_mask"),
                    fresh_sampler=inp.get("fresh_sampler"),
                    accelerator=r.classifier.accelerator,
                )
                row = {
                    "seed": seed,
                    "train_rows": len(inp["labels"]),
                    "test": evaluate(self.test.labels, predict_proba(model, self.test.images).argmax(1), k),
                    "seconds": time.perf_counter() - t_arm,
                }
                if len(self.val):
                    row["validation"] = evaluate(self.val.labels, predict_proba(model, self.val.images).argmax(1), k)
                results[arm].append(row)
                if bar is not None:
                    bar.set_postfix(arm=arm, seed=seed)
                    bar.update(1)
        if bar is not None:
            bar.close()
        self.timings["classifiers_s"] = time.perf_counter() - t0
        return results

    # -- 5. statistics, guard ------------------------------------------------------------------------------
    def summarize(self, results: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        metric = self.r.guard.metric
        summary: dict[str, Any] = {}
        for arm, rows in results.items():
            entry: dict[str, Any] = {}
            for split in ("test", "validation"):
                if not rows or split not in rows[0]:
                    continue
                for m in ("accuracy", "balanced_accuracy", "macro_f1"):
                    vals = [row[split][m] for row in rows]
                    entry[f"{split}_{m}_mean"] = float(np.mean(vals))
                    entry[f"{split}_{m}_std"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
                if self.minority:
                    mr = [float(np.mean([row[split]["per_class_recall"][c] for c in self.minority])) for row in rows]
                    entry[f"{split}_minority_recall_mean"] = float(np.mean(mr))
                    entry[f"{split}_minority_recall_std"] = float(np.std(mr, ddof=1)) if len(mr) > 1 else 0.0
                entry[f"{split}_per_class_recall_mean"] = np.mean(
                    [row[split]["per_class_recall"] for row in rows], 0
                ).tolist()
            summary[arm] = entry
        gains = {}
        if "real" in results:
            for arm in results:
                if arm == "real":
                    continue
                d, mean, lo, hi = _paired(results, arm, "real", "test", metric)
                gains[arm] = {"metric": metric, "mean": mean, "ci95": [lo, hi], "diffs": d}
        return {"arms": summary, "gains_vs_real_test": gains, "headline": self._headline(results, metric)}

    def _headline(self, results: dict[str, list[dict[str, Any]]], metric: str) -> dict[str, Any]:
        """Best GAN arm vs best non-GAN arm, both chosen on validation (never on test), compared on test."""
        split = "validation" if len(self.val) else "test"
        gan = [a for a in results if a in GAN_ARMS]
        base = [a for a in results if a not in GAN_ARMS]
        if not gan or not base:
            return {}

        def mean_of(a: str) -> float:
            return float(np.mean([row[split][metric] for row in results[a]]))

        best_gan, best_base = max(gan, key=mean_of), max(base, key=mean_of)
        d, mean, lo, hi = _paired(results, best_gan, best_base, "test", metric)
        return {
            "metric": metric,
            "chosen_on": split,
            "best_gan_arm": best_gan,
            "best_baseline_arm": best_base,
            "test_diff_mean": mean,
            "test_diff_ci95": [lo, hi],
            "diffs": d,
        }

    def gain_guard(self, results: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        g = self.r.guard
        gan = [a for a in results if a in GAN_ARMS]
        if not len(self.val):
            return {"decided": False, "passed": False, "reason": "no validation rows"}
        if not gan:
            return {"decided": False, "passed": True, "reason": "no GAN arm in the recipe"}
        metric = g.metric

        def val_mean(a: str) -> float:
            return float(np.mean([row["validation"][metric] for row in results[a]]))

        best_gan = max(gan, key=val_mean)
        if g.against == "real":
            if "real" not in results:
                return {
                    "decided": False,
                    "passed": False,
                    "reason": "guard.against = 'real' but the recipe has no real arm",
                }
            other = "real"
        else:
            base = [a for a in results if a not in GAN_ARMS]
            if not base:
                return {"decided": False, "passed": False, "reason": "no baseline arm to compare with"}
            other = max(base, key=val_mean)
        d, mean, lo, hi = _paired(results, best_gan, other, "validation", metric)
        passed = mean > 0 and (lo > 0 if len(d) > 1 else True)
        verdict = f"{best_gan} beats {other} on validation {metric} by {mean * 100:+.2f} points" + (
            f" (95 % CI {lo * 100:+.2f} to {hi * 100:+.2f})" if len(d) > 1 else " (one seed: no CI)"
        )
        if not passed:
            verdict = (
                f"the synthetic data does NOT beat {other} beyond seed noise on validation {metric}: "
                f"{best_gan} - {other} = {mean * 100:+.2f} points"
                + (f" (95 % CI {lo * 100:+.2f} to {hi * 100:+.2f})" if len(d) > 1 else "")
            )
        return {
            "decided": True,
            "passed": bool(passed),
            "best_gan_arm": best_gan,
            "against": other,
            "metric": metric,
            "val_diff_mean": mean,
            "val_diff_ci95": [lo, hi],
            "verdict": verdict,
        }

    # -- the whole run ---------------------------------------------------------------------------------------
    def run(self, guard: bool = False, force: bool = False) -> dict[str, Any]:
        from .report import print_summary, write_report

        t0 = time.perf_counter()
        self.build_data()
        needs_gan = any(a in GAN_ARMS for a in self.r.arms)
        if needs_gan:
            self.get_provider()
            self.make_augmented()
        results = self.run_arms()
        stats = self.summarize(results)
        verdict = self.gain_guard(results)
        written = False
        if needs_gan:
            if guard and not verdict["passed"] and not force:
                self.notes.append(
                    "--guard: the augmented dataset was NOT written because the synthetic data did not "
                    "win on validation (use --force to write it anyway)"
                )
            else:
                atomic_replace_dir(self.out / "augmented", lambda tmp: self.aug_ds.save_to_disk(str(tmp)))
                written = True
        self.timings["total_s"] = time.perf_counter() - t0
        report = {
            "recipe": self.r.to_dict(),
            "recipe_file": self.r.path,
            "versions": library_versions(),
            "machine": {
                "platform": platform.platform(),
                "processor": platform.processor(),
                "torch_threads": torch.get_num_threads(),
                "cuda": torch.cuda.is_available(),
            },
            "data": {
                "spec": self.spec.to_dict(),
                "train_class_counts": self.train.class_counts(),
                "validation_class_counts": self.val.class_counts(),
                "test_rows": len(self.test),
                "test_class_counts": self.test.class_counts(),
                "minority_classes": self.minority,
                "train_fingerprint": self.train.fingerprint(),
            },
            "gan": {
                "source": getattr(self, "gan_source", None),
                "synthetic_class_counts": self.synth.class_counts() if needs_gan else None,
                "filter_pass_rate": getattr(self, "filter_pass_rate", None),
            },
            "results": results,
            **stats,
            "guard": verdict,
            "guard_requested": guard,
            "dataset_written": written,
            "notes": self.notes,
            "timings": self.timings,
        }
        write_report(report, self.out, getattr(self, "provider", None))
        if self.progress:
            print_summary(report)
        return report


def _paired(
    results: dict[str, list[dict[str, Any]]], arm: str, other: str, split: str, metric: str
) -> tuple[list[float], float, float, float]:
    """Per-seed differences ``arm − other`` of ``split`` ``metric``, their mean and 95 % t-interval."""
    d = [a[split][metric] - b[split][metric] for a, b in zip(results[arm], results[other], strict=True)]
    return (d, *paired_ci(d))


def _subset(li: LabelledImages, idx: np.ndarray) -> LabelledImages:
    t = torch.as_tensor(np.asarray(idx, dtype=np.int64))
    return LabelledImages(li.images[t], li.labels[t], li.spec, li.image_column, li.label_column)


def _stratified(
    labels: np.ndarray, rows: np.ndarray, rng: np.random.Generator, fraction: float, keep_two: bool = False
) -> np.ndarray:
    """A per-class ``fraction`` of ``rows`` (at least one per class that has enough rows)."""
    out = []
    for c in np.unique(labels[rows]):
        idx = rng.permutation(rows[labels[rows] == c])
        n = int(round(fraction * len(idx)))
        if fraction > 0 and n == 0 and len(idx) >= (3 if keep_two else 2):
            n = 1
        if keep_two:
            n = min(n, max(len(idx) - 2, 0))  # the training side keeps at least 2 images of every class
        out.append(idx[:n])
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def _split_class_mass(
    weights: torch.Tensor, labels: torch.Tensor, n_real: int, real_share: float, num_classes: int
) -> torch.Tensor:
    """Re-split each class's sampling mass: ``real_share`` of it to its real rows (the first ``n_real``), the
    rest to its synthetic rows, each side uniform. A class's total mass is kept; a class with rows on one
    side only keeps them as they were."""
    out = weights.clone()
    is_real = torch.arange(len(labels)) < n_real
    for c in range(num_classes):
        in_c = labels == c
        real_c, synth_c = in_c & is_real, in_c & ~is_real
        if not real_c.any() or not synth_c.any():
            continue
        mass = weights[in_c].sum()
        out[real_c] = mass * real_share / real_c.sum()
        out[synth_c] = mass * (1 - real_share) / synth_c.sum()
    return out
