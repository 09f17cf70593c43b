"""Probes of benchmarks/pair_variants.py that change how a trained GAN is applied, training untouched."""

import torch


def test_label_z_scale_draws_the_label_gan_nearer_the_middle_of_its_noise(tiny_provider, monkeypatch):
    """``--label-z-scale S``: a label-conditioned provider samples with its noise × S (S = 1 changes nothing, a
    tiny S gives one image per label whatever the noise); its generator is given back after each call."""
    from benchmarks.pair_variants import label_noise_probe
    from ganaug.provider import Provider

    monkeypatch.setattr(Provider, "sample", Provider.sample)  # the probe patches the class: undone after the test
    generator = tiny_provider.generator
    labels = torch.full((64,), 3)
    plain = tiny_provider.sample(labels, seed=1)
    label_noise_probe(1.0)
    assert torch.equal(tiny_provider.sample(labels, seed=1), plain)
    label_noise_probe(1e-4)  # on top of the first: noise × 1e-4
    flat = tiny_provider.sample(labels, seed=1)
    spread = [x.float().std(0).mean().item() for x in (plain, flat)]
    assert spread[0] > 1 and spread[1] < 0.05 * spread[0], spread
    assert tiny_provider.generator is generator
