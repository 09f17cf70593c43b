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


def test_teach_pool_teaches_the_pair_gan_on_the_unused_pool_and_leaves_the_split_alone(tmp_path, monkeypatch):
    """``--teach-pool``: the pair GAN's teaching set is the training set plus the rare classes' pool images in
    neither training nor validation; the splits the runner varies and scores are untouched."""
    from test_recipe import TINY

    from benchmarks import pair_variants as pv
    from ganaug.experiment import build_splits
    from ganaug.recipe import recipe_from_dict

    raw = {**TINY, "output_dir": str(tmp_path / "run"), "gan": {**TINY["gan"], "arch": "pair"}}
    recipe = recipe_from_dict(raw)
    splits = build_splits(recipe.data, recipe.experiment)
    more = pv.unused_pool(recipe.data, splits)
    used = {x.numpy().tobytes() for x in torch.cat([splits.train.images, splits.val.images])}
    assert not used & {x.numpy().tobytes() for x in more.images}
    assert more.class_counts() == [0] * 8 + [500 - 3 - 5] * 2  # mnist-mini: 500 per digit; 3 train, 5 validation
    taught = []
    monkeypatch.setattr(pv.synthetic, "_gan", lambda r, s, *a, **k: (taught.append(s), ("pair", "trained"))[1])
    provider, source = pv.pool_taught(recipe, splits, tmp_path, False, lambda msg: None)
    assert provider == "pair" and source == "trained; taught on 984 unused pool images too"
    assert taught[0].train.class_counts() == [12] * 8 + [495, 495] and taught[0].val is splits.val
    assert splits.train.class_counts() == [12] * 8 + [3, 3]
    # with the recipe's mix: the label GAN learns from the training set alone, and the source names the mix
    from benchmarks._common import toml_text

    label = tmp_path / "label.toml"
    label.write_text(toml_text({**TINY, "name": "tiny-label", "output_dir": str(tmp_path / "unused")}))
    mixed = recipe_from_dict({**raw, "synthetic": {"mix_with": str(label), "mix_share": 0.75}})
    monkeypatch.setattr(pv.synthetic, "mix", lambda pair, other, weights: (pair, other))
    provider, source = pv.pool_taught(mixed, splits, tmp_path, False, lambda msg: None)
    assert provider == ("pair", "pair") and taught[2] is splits  # taught[1]: the pair GAN's teaching set again
    assert (
        source
        == "trained; taught on 984 unused pool images too; 75% of the synthetic images from tiny-label's GAN, trained"
    )
