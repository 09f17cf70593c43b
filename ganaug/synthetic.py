"""The GAN side of a recipe run: the provider (reused, cached or trained), the synthetic rows made through the
public API (``balance`` or ``Augment``), and the judge-based choices among candidates (``gan+filter``,
``selection = "diverse"``)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._io import atomic_write, ensure_writable_dir
from .arms import balanced_weights
from .checkpoint import TRAINER_FILE
from .classify import extract_features, predict_proba, train_classifier
from .data import LabelledImages, load_images
from .errors import CheckpointError
from .experiment import Splits, subset
from .mix import mix
from .provider import Provider, load_provider
from .recipe import Recipe, classifier_config, gan_settings, mixed_recipe
from .stats import balanced_accuracy_from_correct


def recipe_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def get_provider(
    recipe: Recipe, splits: Splits, out: Path, progress: bool, log: Callable[[str], None], gan_seed: int | None = None
):
    """The recipe's provider and where it came from (see ``_gan``); with ``[synthetic] mix_with``, mixed with that
    recipe's GAN of the same seed (trained, or reused, in ``out/mix``) in the share ``mix_share``."""
    provider, source = _gan(recipe, splits, out, progress, log, gan_seed)
    return with_mix(recipe, provider, source, splits, out / "mix", progress, log, gan_seed)


def with_mix(
    recipe: Recipe,
    provider: Provider,
    source: str,
    splits: Splits,
    mix_dir: Path,
    progress: bool,
    log: Callable[[str], None],
    gan_seed: int | None = None,
):
    """``provider`` (from ``source``) as ``get_provider`` mixes it: unchanged without ``[synthetic] mix_with``, else
    mixed in the share ``mix_share`` with that recipe's GAN of the same seed, trained on ``splits`` (or reused) in
    ``mix_dir``; the source line names the mix."""
    other = mixed_recipe(recipe)
    if other is None:
        return provider, source
    seed = recipe.gan.seed if gan_seed is None else gan_seed
    part, part_source = _gan(other, splits, mix_dir, progress, log, seed)
    share = recipe.synthetic.mix_share
    return mix(provider, part, weights=[1 - share, share]), f"{source}; {share:.0%} of the synthetic images from " + (
        f"{other.name}'s GAN, {part_source}"
    )


def _gan(
    recipe: Recipe, splits: Splits, out: Path, progress: bool, log: Callable[[str], None], gan_seed: int | None = None
):
    """One GAN of a recipe and where it came from: ``gan.checkpoint``, a cached GAN trained with the same
    settings on the same data, or a new one. The GAN of ``gan_seed`` (default ``gan.seed``) lives in
    ``out/gan`` for the recipe's first GAN seed and in ``out/gan-seed<N>`` for the others. A training that was
    stopped (``partial_key.txt`` holds its settings' key until it finishes) resumes from its last checkpoint when
    the settings and data are the same, and ends with the weights of an uninterrupted one."""
    from .train import train

    g = recipe.gan if gan_seed is None else replace(recipe.gan, seed=gan_seed)
    if g.checkpoint:
        provider = load_provider(g.checkpoint)
        if provider.spec.shape != splits.spec.shape:
            raise CheckpointError(
                f"gan.checkpoint makes {provider.spec.shape} images, the data has {splits.spec.shape}"
            )
        return provider, f"reused checkpoint {g.checkpoint}"
    tcfg, mcfg = gan_settings(g)
    tcfg = replace(tcfg, checkpoint_every=max(g.steps // 4, 1))
    key = recipe_hash({"train": tcfg.to_dict(), "model": mcfg.to_dict(), "data": splits.train.fingerprint()})
    gan_dir = out / ("gan" if g.seed == recipe.gan_seed_list()[0] else f"gan-seed{g.seed}")
    key_file = gan_dir / "cache_key.txt"
    if key_file.exists() and key_file.read_text().strip() == key:
        try:
            provider = load_provider(gan_dir)
            if provider.meta.get("step") == g.steps:
                source = f"cached GAN in {gan_dir} (recipe and data fingerprint match)"
                log(source)
                return provider, source
        except CheckpointError:
            pass
    # an interrupted training of these same settings resumes from its last checkpoint (bit-identical weights)
    partial = gan_dir / "partial_key.txt"
    resume = partial.exists() and partial.read_text().strip() == key and (gan_dir / TRAINER_FILE).exists()
    if resume:  # train() reads the checkpoint itself
        log(f"resuming the interrupted GAN training in {gan_dir} from its last checkpoint ({g.steps} steps)")
    else:
        log(f"training the GAN: {g.steps} steps on {len(splits.train)} images")
        ensure_writable_dir(gan_dir)
        key_file.unlink(missing_ok=True)
        (gan_dir / TRAINER_FILE).unlink(missing_ok=True)  # another training's: never resumed under this key
        atomic_write(partial, lambda p: p.write_text(key + "\n"))
    provider = train(
        splits.train,
        gan_dir,
        config=tcfg,
        model=mcfg,
        accelerator=g.accelerator,
        precision=g.precision,
        resume=resume,
        progress=progress,
    )
    atomic_write(key_file, lambda p: p.write_text(key + "\n"))
    partial.unlink()
    return provider, f"{'resumed and finished' if resume else 'trained'} in {gan_dir}"


def scaled_targets(class_counts: list[int], strategy: Any, scale: float, provider: Provider) -> dict[int, int]:
    """``sampling_strategy``'s target totals, each class it fills filled to ``scale`` × its target instead
    (``target_scale``: 2 fills the rare classes to twice the majority count); a class never loses rows."""
    from .balancing import sampling_targets

    counts = {c: n for c, n in enumerate(class_counts) if n}
    targets = sampling_targets(counts, strategy, provider)
    exact = Fraction(repr(scale))  # exact: 1.1 × 450 is 495, not 495.00000000000006
    return {c: max(counts.get(c, 0), math.ceil(exact * t)) for c, t in targets.items()}


def make_synthetic(recipe: Recipe, splits: Splits, provider: Provider) -> tuple[Any, LabelledImages]:
    """The augmented dataset (real rows then synthetic rows, flagged) through ``balance`` or ``Augment``, and its
    synthetic rows decoded; with ``selection = "diverse"`` both hold the chosen rows, as the classifiers see them."""
    from .hf import Augment, balance

    s = recipe.synthetic
    if s.mode == "balance":
        if s.target_per_class > 0:
            strategy: Any = {c: max(s.target_per_class, n) for c, n in enumerate(splits.train.class_counts())}
        else:
            strategy = s.sampling_strategy
            try:
                strategy = float(strategy)
            except ValueError:
                pass
            if s.target_scale != 1.0:
                strategy = scaled_targets(splits.train.class_counts(), strategy, s.target_scale, provider)
        aug_ds = balance(
            splits.train_ds,
            provider,
            label_column=splits.label_column,
            image_column=splits.image_column,
            sampling_strategy=strategy,
            seed=s.seed,
        )
    else:
        aug = Augment(
            provider, ratio=s.ratio, seed=s.seed, label_column=splits.label_column, image_column=splits.image_column
        )
        aug_ds = splits.train_ds.map(aug, batched=True, batch_size=1000, desc="augment")
    flags = np.asarray(aug_ds["synthetic"], dtype=bool)
    synth = subset(load_images(aug_ds, splits.image_column, splits.label_column), np.nonzero(flags)[0])
    if s.selection == "diverse":
        import datasets

        from .hf import synthetic_rows

        synth = diverse_synthetic(recipe, splits, provider, synth.class_counts())
        real_rows = aug_ds.select(np.nonzero(~flags)[0])
        new_rows = synthetic_rows(real_rows, synth.images, synth.labels, splits.image_column, splits.label_column)
        aug_ds = datasets.concatenate_datasets([real_rows, new_rows])
    return aug_ds, synth


def train_judge(recipe: Recipe, splits: Splits, seed: int):
    """A classifier of the real training set (classical augmentation, class-balanced draws) that scores
    synthetic candidates for ``gan+filter`` and ``selection = "diverse"``."""
    c = recipe.classifier
    return train_classifier(
        splits.train.images,
        splits.train.labels,
        splits.spec.num_classes,
        classifier_config(c, seed, augment=True),
        sample_weight=balanced_weights(splits.train.labels, splits.spec.num_classes),
        accelerator=c.accelerator,
    )


def diverse_synthetic(recipe: Recipe, splits: Splits, provider: Provider, counts: list[int]) -> LabelledImages:
    """``counts[c]`` samples per class, chosen among ``filter_candidates``× candidates by
    ``selection.select_diverse`` in the feature space of a judge trained on the real training set."""
    from .selection import select_diverse

    s = recipe.synthetic
    judge = train_judge(recipe, splits, seed=20_000 + s.seed)

    def choose(c: int, n: int, cand: torch.Tensor, conf: torch.Tensor) -> torch.Tensor:
        feats = extract_features(judge, cand)
        anchors = extract_features(judge, splits.train.images[splits.train.labels == c])
        return select_diverse(feats, conf, n, min_confidence=s.filter_confidence, anchors=anchors)

    return _choose_among_candidates(recipe, splits, provider, counts, judge, choose)


def filtered_synthetic(
    recipe: Recipe, splits: Splits, provider: Provider, counts: list[int], judge
) -> tuple[LabelledImages, float]:
    """``counts[c]`` samples per class, the ones ``judge`` is most confident of among ``filter_candidates``×
    candidates; and the share of kept samples above ``filter_confidence``."""
    s = recipe.synthetic
    passed = 0

    def choose(c: int, n: int, cand: torch.Tensor, conf: torch.Tensor) -> torch.Tensor:
        nonlocal passed
        passed += int((conf >= s.filter_confidence).sum().clamp(max=n))
        return torch.argsort(conf, descending=True)[:n]

    chosen = _choose_among_candidates(recipe, splits, provider, counts, judge, choose)
    return chosen, passed / max(sum(counts), 1)


def _choose_among_candidates(recipe, splits: Splits, provider: Provider, counts: list[int], judge, choose):
    """For every class with ``n`` rows wanted: draw ``ceil(n · filter_candidates)`` candidates, score them with
    ``judge`` and keep the ``n`` rows ``choose(class, n, candidates, confidences)`` returns."""
    s = recipe.synthetic
    imgs, labs = [], []
    for c, n in enumerate(counts):
        if n == 0:
            continue
        cand = provider.sample([c] * int(np.ceil(n * s.filter_candidates)), seed=s.seed * 7919 + c + 1)
        conf = predict_proba(judge, cand)[:, c]
        imgs.append(cand[choose(c, n, cand, conf)])
        labs.append(torch.full((n,), c, dtype=torch.int64))
    return LabelledImages(torch.cat(imgs), torch.cat(labs), splits.spec)


POOR_RECALL = 0.3  # a class whose real images the synthetic rows cover less than this is "covered poorly"


def synthetic_coverage(recipe: Recipe, splits: Splits, synth: LabelledImages) -> dict[str, Any]:
    """How well the synthetic rows cover each class's real images that the GAN never saw (the validation split;
    the training split when there is none): improved precision and recall (k = 3) per class, the synthetic rows
    drawn to the real images' count (``metrics.matched_precision_recall``), and domain FID beside
    its real-vs-real floor (``metrics.fid_against_floor``), in the feature space of a judge trained on the real
    training set; and the classification accuracy score of the rows (``synthetic_cas``).

    Against its own training images a GAN that only redraws its 5 images of a class looks perfect; against
    unseen images of the class its recall is what tracked the downstream result in the ablations (0.01-0.22
    for 5-image digits), so the report names the classes it leaves poorly covered."""
    from .metrics import fid_against_floor, matched_precision_recall

    reference = splits.val if len(splits.val) else splits.train
    judge = train_judge(recipe, splits, seed=30_000 + recipe.synthetic.seed)
    real_f, synth_f = extract_features(judge, reference.images), extract_features(judge, synth.images)
    ks, precision, recall = [], [], []
    for c, (n_real, n_synth) in enumerate(zip(reference.class_counts(), synth.class_counts(), strict=True)):
        k = min(3, n_real - 1, n_synth - 1)  # 3, or fewer for a class with 3 images or fewer
        p, r = (
            matched_precision_recall(real_f[reference.labels == c], synth_f[synth.labels == c], k, seed=c)
            if k >= 1
            else (float("nan"), float("nan"))
        )
        ks.append(k)
        precision.append(p)
        recall.append(r)
    poor = [c for c, n in enumerate(synth.class_counts()) if n > 1 and not recall[c] >= POOR_RECALL]
    return {
        "feature_space": "penultimate layer of a SmallCNN trained on the real training set",
        "reference": "validation" if len(splits.val) else "train",
        "k": ks,
        "precision": precision,
        "recall": recall,
        "fid": fid_against_floor(synth_f, synth.labels, real_f, reference.labels),
        "cas": synthetic_cas(recipe, splits, synth, reference),
        "poorly_covered_classes": poor,
        "poor_recall_below": POOR_RECALL,
    }


def synthetic_cas(
    recipe: Recipe, splits: Splits, synth: LabelledImages, reference: LabelledImages
) -> dict[str, Any] | None:
    """Classification accuracy score of the synthetic rows, restricted to the classes they hold: the recipe's
    classifier (classical augmentation, class-balanced draws) trained on those rows alone, and the same
    classifier trained on the real training images of those classes, both scored on the ``reference`` images of
    those classes (balanced accuracy, predictions among those classes only). None with fewer than two classes.

    A balance recipe makes rows for its rare classes only, so the usual all-class CAS does not exist there; this
    one asks whether the rows teach those classes at least as well as their few real images do."""
    present = [c for c, n in enumerate(synth.class_counts()) if n > 0 and bool((reference.labels == c).any())]
    if len(present) < 2:
        return None
    classes = torch.tensor(present)
    keep = torch.isin(reference.labels, classes)
    ref_images, ref_labels = reference.images[keep], reference.labels[keep]
    k = splits.spec.num_classes
    c = recipe.classifier

    def score(images: torch.Tensor, labels: torch.Tensor) -> float:
        model = train_classifier(
            images,
            labels,
            k,
            classifier_config(c, 40_000 + recipe.synthetic.seed, augment=True),
            sample_weight=balanced_weights(labels, k),
            accelerator=c.accelerator,
        )
        pred = classes[predict_proba(model, ref_images)[:, classes].argmax(1)]
        return balanced_accuracy_from_correct(pred == ref_labels, ref_labels)

    rows, real = torch.isin(synth.labels, classes), torch.isin(splits.train.labels, classes)
    return {
        "classes": present,
        "synthetic": score(synth.images[rows], synth.labels[rows]),
        "real": score(splits.train.images[real], splits.train.labels[real]),
        "synthetic_rows": int(rows.sum()),
        "real_rows": int(real.sum()),
        "metric": "balanced_accuracy",
    }
