"""Sample quality of a provider on real MNIST (mnist-mini), measured with the library's own small CNN.

For every classifier seed (``--seeds``, default 0 1 2):

(a) **CAS** (classification accuracy score): ``ganaug.classify.SmallCNN`` trained with ``train_classifier`` only
    on ``--per-class`` × 10 synthetic samples (default 500 per class, drawn with ``seed``), tested on the real
    10k test set; the reference is the same CNN and budget trained on the 5,000 real training images; the
    ratio CAS / reference.
(b) **Domain FID**: the Fréchet distance between the 128-d penultimate features
    (``ganaug.classify.extract_features``) of the CNN trained on REAL data, for the synthetic samples vs the
    real test set; the floor is the real training images vs the real test set (same sample sizes).
(c) **Per-class precision and recall** with k-NN manifolds (Kynkäänniemi et al. 2019, k = ``--k``, default 3)
    in the same feature space, synthetic vs real test per class, with the real-train floor.

Mean ± std (ddof=1) over the seeds go to ``benchmarks/results/quality.json`` and ``quality.md``.

The default provider is the bundled one (``ganaug.default_provider()``); ``--provider PATH`` measures any
checkpoint directory. With ``--smoke`` (plumbing only) a 5-step stand-in is trained if the bundled provider is
missing; its numbers mean nothing.

Run (from the repository root)::

    .venv/bin/python benchmarks/quality.py                        # bundled provider, seeds 0 1 2, 1000 steps
    .venv/bin/python benchmarks/quality.py --provider runs/x/gan --tag x
    .venv/bin/python benchmarks/quality.py --smoke                # < 60 s, writes results/smoke/

The metrics themselves are the library's public ``ganaug.metrics`` (``frechet_distance``, ``domain_fid``,
``precision_recall``, ``per_class_precision_recall``, ``cas``), which every recipe report also uses.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks._common import (  # noqa: E402
    SMOKE_BANNER,
    configure,
    get_provider,
    machine_line,
    machine_record,
    md_table,
    mean_std,
    pm,
    results_dir,
    write_results,
)

NAME = "quality"


from ganaug.metrics import (  # noqa: E402  (the metrics live in the library)
    cas,
    frechet_distance,
    per_class_precision_recall,
)

# ---------------------------------------------------------------------------------------------------------
# the benchmark


def evaluate_seed(
    provider, real_train, test, seed: int, steps: int, batch_size: int, per_class: int, k: int
) -> dict[str, Any]:
    from ganaug.classify import extract_features

    c = cas(provider, real_train, test, seed, steps, batch_size, per_class)
    model = c.pop("real_model")
    syn_images, syn_labels = c.pop("synthetic_images"), c.pop("synthetic_labels")
    f_test = extract_features(model, test.images)
    f_train = extract_features(model, real_train.images)
    f_syn = extract_features(model, syn_images)
    n_cls = real_train.spec.num_classes
    pr_syn = per_class_precision_recall(f_test, test.labels, f_syn, syn_labels, n_cls, k)
    pr_floor = per_class_precision_recall(f_test, test.labels, f_train, real_train.labels, n_cls, k)
    return {
        "seed": seed,
        **c,
        "fid_synthetic_vs_test": frechet_distance(f_syn, f_test),
        "fid_train_vs_test_floor": frechet_distance(f_train, f_test),
        "per_class_precision_synthetic": pr_syn["precision"],
        "per_class_recall_synthetic": pr_syn["recall"],
        "per_class_precision_floor": pr_floor["precision"],
        "per_class_recall_floor": pr_floor["recall"],
        "precision_synthetic_mean_over_classes": float(np.nanmean(pr_syn["precision"])),
        "recall_synthetic_mean_over_classes": float(np.nanmean(pr_syn["recall"])),
        "precision_floor_mean_over_classes": float(np.nanmean(pr_floor["precision"])),
        "recall_floor_mean_over_classes": float(np.nanmean(pr_floor["recall"])),
    }


SCALARS = (
    "cas",
    "real_reference",
    "cas_over_real",
    "cas_balanced",
    "real_reference_balanced",
    "fid_synthetic_vs_test",
    "fid_train_vs_test_floor",
    "precision_synthetic_mean_over_classes",
    "recall_synthetic_mean_over_classes",
    "precision_floor_mean_over_classes",
    "recall_floor_mean_over_classes",
)
PER_CLASS = (
    "per_class_precision_synthetic",
    "per_class_recall_synthetic",
    "per_class_precision_floor",
    "per_class_recall_floor",
)


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {key: mean_std([r[key] for r in runs]) for key in SCALARS}
    for key in PER_CLASS:
        arr = np.array([r[key] for r in runs], dtype=np.float64)  # seeds × classes
        out[key] = {
            "mean": arr.mean(0).tolist(),
            "std": arr.std(0, ddof=1).tolist() if len(runs) > 1 else [None] * arr.shape[1],
        }
    return out


def markdown(res: dict[str, Any]) -> str:
    s = res["summary"]
    st = res["settings"]

    def row(label: str, key: str, scale: float = 1.0, digits: int = 3) -> list[str]:
        return [label, pm(s[key]["mean"], s[key]["std"], scale, digits)]

    lines = [
        f"# ganaug sample quality: {res['provider']}",
        "",
        f"Machine: {machine_line(res['machine'])}",
        SMOKE_BANNER if res["settings"]["smoke"] else "",
        "",
        f"Seeds {st['seeds']}; SmallCNN, {st['steps']} steps × batch {st['batch_size']}; {st['per_class']} synthetic "
        f"samples per class; real: mnist-mini train ({res['data']['train_rows']} images) and test "
        f"({res['data']['test_rows']} images); k-NN manifolds with k = {st['k']}. Mean ± std over seeds.",
        "",
        md_table(
            ["measure", "value"],
            [
                row("CAS: test accuracy, trained on synthetic only", "cas", 100, 2),
                row("reference: test accuracy, trained on real train", "real_reference", 100, 2),
                row("CAS / reference", "cas_over_real"),
                row("domain FID, synthetic vs real test", "fid_synthetic_vs_test", 1, 2),
                row("domain FID floor, real train vs real test", "fid_train_vs_test_floor", 1, 2),
                row("precision, synthetic (mean over classes)", "precision_synthetic_mean_over_classes"),
                row("recall, synthetic (mean over classes)", "recall_synthetic_mean_over_classes"),
                row("precision floor, real train (mean over classes)", "precision_floor_mean_over_classes"),
                row("recall floor, real train (mean over classes)", "recall_floor_mean_over_classes"),
            ],
        ),
        "",
        "## Per class (synthetic vs real test; floor: real train vs real test)",
        "",
    ]
    rows = []
    for c, name in enumerate(res["data"]["class_names"]):
        rows.append([name] + [pm(s[key]["mean"][c], s[key]["std"][c], 1, 3) for key in PER_CLASS])
    lines += [
        md_table(["class", "precision", "recall", "precision floor", "recall floor"], rows),
        "",
        f"Wall time {res['wall_s']:.0f} s.",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--provider", default=None, help="checkpoint directory (default: the bundled provider)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=1000, help="classifier steps")
    p.add_argument("--batch-size", type=int, default=64, help="classifier batch size")
    p.add_argument("--per-class", type=int, default=500, help="synthetic samples per class")
    p.add_argument("--k", type=int, default=3, help="k of the k-NN manifolds")
    p.add_argument("--test-rows", type=int, default=0, help="use only the first N test images (0 = all 10,000)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--tag", default=None, help="write quality-<tag>.json/.md")
    p.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (< 60 s); writes to <out>/smoke/")
    a = p.parse_args(argv)
    if a.smoke:
        a.seeds, a.steps, a.per_class, a.test_rows = [0, 1], 10, 50, 2000
    return a


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from ganaug.data import LabelledImages, load_images

    args = parse_args(argv)
    configure(args.threads)
    out_dir = results_dir(args.out, args.smoke)
    t0 = time.perf_counter()
    real_train, test = load_images("mnist-mini", split="train"), load_images("mnist-mini", split="test")
    if args.test_rows:
        test = LabelledImages(test.images[: args.test_rows], test.labels[: args.test_rows], test.spec)
    runs = []
    with tempfile.TemporaryDirectory(prefix="ganaug-quality-") as tmp:
        provider, desc = get_provider(args.provider, Path(tmp), allow_tiny=args.smoke)
        if provider.spec.shape != real_train.spec.shape or provider.spec.num_classes != real_train.spec.num_classes:
            raise SystemExit(
                f"the provider makes {provider.spec.shape} images of {provider.spec.num_classes} classes; "
                "this benchmark needs an MNIST provider (1×28×28, 10 classes)"
            )
        for seed in args.seeds:
            ts = time.perf_counter()
            r = evaluate_seed(provider, real_train, test, seed, args.steps, args.batch_size, args.per_class, args.k)
            r["wall_s"] = time.perf_counter() - ts
            runs.append(r)
            print(
                f"  seed {seed}: CAS {r['cas']:.4f} (real {r['real_reference']:.4f}), "
                f"FID {r['fid_synthetic_vs_test']:.2f} "
                f"(floor {r['fid_train_vs_test_floor']:.2f}), P {r['precision_synthetic_mean_over_classes']:.3f} "
                f"R {r['recall_synthetic_mean_over_classes']:.3f}  [{r['wall_s']:.0f} s]",
                flush=True,
            )
    res = {
        "benchmark": NAME,
        "machine": machine_record("cpu"),
        "settings": vars(args),
        "provider": desc,
        "provider_meta": {k: provider.meta.get(k) for k in ("step", "generator_sha256", "model", "train")},
        "data": {
            "source": "mnist-mini",
            "train_rows": len(real_train),
            "test_rows": len(test),
            "class_names": list(real_train.spec.class_names),
        },
        "runs": runs,
        "summary": summarize(runs),
        "wall_s": time.perf_counter() - t0,
    }
    name = f"{NAME}-{args.tag}" if args.tag else NAME
    js, md = write_results(out_dir, name, res, markdown(res))
    print(f"wrote {js} and {md} ({res['wall_s']:.0f} s)")
    return res


if __name__ == "__main__":
    main()
