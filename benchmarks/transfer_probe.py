"""Probe of the BAGAN idea: minority digits drawn from latents of real MAJORITY digits.

After a regime's GAN is trained, an encoder E (``ganaug.models.LatentEncoder``) is fitted to invert the frozen
generator on the training set's majority images: minimise ``|G(E(x), y) − x|₁`` (+ a small penalty keeping
E's codes at the prior's scale). Minority rows are then ``G(E(x_major), minority_label)``: the latent of a real
majority digit (its slant, thickness, size) decoded with the minority label, instead of a random ``z``. The
synthetic rows replace the ``balance`` output and every arm runs as in ``benchmarks/gains.py`` (same recipe,
seeds, test set).

It reuses a GAN trained by ``gains.py`` (``--gan runs/bench/<tag>/imb100/gan``), so it isolates the sampling
change. Results: ``benchmarks/results/gains-<tag>.json/.md/.png`` (same format as gains.py, read by
``benchmarks/ablations.py``).

Run (from the repository root)::

    .venv/bin/python benchmarks/gains.py --regimes imb100 --seeds 0 1 2 --gan-steps 1500 \\
        --classifier-steps 600 --set gan.mode_seeking=1.0 --set "arms=['classical','gan','gan+classical']" \\
        --tag quick-ms1
    .venv/bin/python benchmarks/transfer_probe.py --gan runs/bench/quick-ms1/imb100/gan --tag quick-ms1-transfer

With a GAN trained with ``gan.info > 0`` (a label-blind encoder Q recovers z from G's images during training;
with ``gan.reconstruction > 0`` Q and G also autoencode the real images), ``--use-q`` takes Q as the encoder
instead of fitting one afterwards::

    .venv/bin/python benchmarks/gains.py ... --set gan.info=1.0 --tag quick-info1
    .venv/bin/python benchmarks/transfer_probe.py --gan runs/bench/quick-info1/imb100/gan --use-q \
        --tag quick-info1-transfer
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from benchmarks import gains  # noqa: E402
from benchmarks._common import configure, results_dir  # noqa: E402
from ganaug.data import LabelledImages  # noqa: E402
from ganaug.models import build_latent_encoder  # noqa: E402
from ganaug.recipe import recipe_from_dict  # noqa: E402
from ganaug.runner import Runner  # noqa: E402


def fit_encoder(gen: nn.Module, images: torch.Tensor, labels: torch.Tensor, steps: int, seed: int) -> nn.Module:
    """A ``ganaug.models.LatentEncoder`` (image → z) fitted so that ``gen(E(x), y) ≈ x`` on these uint8 images;
    ``gen`` stays frozen."""
    torch.manual_seed(seed)
    enc = build_latent_encoder(gen.spec, gen.cfg)
    gen = gen.eval().requires_grad_(False)
    x_all = images.float() / 127.5 - 1
    opt = torch.optim.Adam(enc.parameters(), 1e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        i = torch.randint(len(x_all), (128,), generator=g)
        z = enc(x_all[i])
        loss = F.l1_loss(gen(z, labels[i]), x_all[i]) + 0.01 * (z.pow(2).mean() - 1).pow(2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return enc.eval()


def trained_latent_encoder(gan_dir: Path, spec, model_cfg) -> nn.Module:
    """The label-blind encoder Q saved in ``trainer.pt`` by a run with ``TrainConfig.info > 0``."""
    from ganaug.checkpoint import load_trainer_state

    state = load_trainer_state(gan_dir)
    if "Q" not in state:
        raise SystemExit(f"{gan_dir} was trained without a latent encoder (gan.info = 0); drop --use-q")
    enc = build_latent_encoder(spec, model_cfg)
    enc.load_state_dict(state["Q"])
    return enc.eval()


class TransferRunner(Runner):
    """The benchmark's Runner with the balance output replaced by latent-transfer samples (same counts)."""

    encoder_steps = 800
    use_q = False  # take the label-blind encoder trained with the GAN (TrainConfig.info > 0) from trainer.pt

    def make_augmented(self) -> None:
        super().make_augmented()
        gen = self.provider.generator
        counts = torch.bincount(self.train.labels, minlength=self.spec.num_classes)
        major = counts[self.train.labels] == counts.max()
        src, src_y = self.train.images[major], self.train.labels[major]
        if self.use_q:
            enc = trained_latent_encoder(Path(self.r.gan.checkpoint), self.spec, gen.cfg)
        else:
            enc = fit_encoder(gen, src, src_y, self.encoder_steps, seed=self.r.synthetic.seed)
        g = torch.Generator().manual_seed(self.r.synthetic.seed + 1)
        imgs, labs = [], []
        with torch.no_grad():
            for c, n in enumerate(self.synth.class_counts()):
                if n == 0:
                    continue
                pick = src[torch.randint(len(src), (n,), generator=g)].float() / 127.5 - 1
                x = gen(enc(pick), torch.full((n,), c))
                imgs.append(((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8))
                labs.append(torch.full((n,), c, dtype=torch.int64))
        self.synth = LabelledImages(torch.cat(imgs), torch.cat(labs), self.spec)
        how = "the GAN's own latent encoder" if self.use_q else f"an encoder fitted for {self.encoder_steps} steps"
        self.notes.append(f"synthetic rows: latent transfer from majority digits ({how})")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gan", required=True, help="checkpoint directory of a GAN trained on the imb100 training set")
    p.add_argument("--tag", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--classifier-steps", type=int, default=600)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--use-q", action="store_true", help="use the GAN's own label-blind encoder (gan.info > 0)")
    a = p.parse_args(argv)
    configure(a.threads)
    if not (Path(a.gan) / "meta.json").exists():
        p.error(f"{a.gan} holds no GAN; train one with benchmarks/gains.py first (see the module docstring)")
    args = gains.parse_args(
        ["--regimes", "imb100", "--seeds", *map(str, a.seeds), "--classifier-steps", str(a.classifier_steps)]
        + ["--set", "arms=['classical','gan','gan+classical']", "--set", f"gan.checkpoint={a.gan}", "--tag", a.tag]
    )
    rows = gains.plan(args)
    run_dir = Path(args.run_root) / a.tag / "imb100"
    raw = gains.regime_recipe("imb100", args, run_dir)
    t0 = time.perf_counter()
    runner = TransferRunner(recipe_from_dict(copy.deepcopy(raw)), progress=False)
    runner.use_q = a.use_q
    report = runner.run()
    entry = {
        "recipe": raw,
        "run_dir": str(run_dir),
        "wall_s": time.perf_counter() - t0,
        "summary": gains.summarize("imb100", report),
        "report": report,
    }
    gains.save(args, rows, 0.0, {"imb100": entry}, t0, results_dir(None, False), f"gains-{a.tag}")


if __name__ == "__main__":
    main()
