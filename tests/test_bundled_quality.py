"""Quality gate of the bundled provider: a CNN trained only on its samples must recognise real digits."""

import torch

import ganaug
from ganaug.classify import ClassifierConfig, evaluate, predict_proba, train_classifier
from ganaug.data import load_images, mnist_mini


def test_bundled_provider_meta_says_it_never_saw_the_test_split():
    p = ganaug.default_provider()
    test = load_images(mnist_mini("test"))
    train = load_images(mnist_mini("train"))
    assert p.meta["data_fingerprint"] == train.fingerprint() != test.fingerprint()
    assert p.meta["data_class_counts"] == [500] * 10


def test_cas_of_the_bundled_provider_is_at_least_90_percent():
    provider = ganaug.default_provider()
    x, y = provider.sample_counts({c: 500 for c in range(10)}, seed=0)
    clf = train_classifier(x, y, 10, ClassifierConfig(steps=1000, batch_size=64, seed=0))
    test = load_images(mnist_mini("test"))
    acc = evaluate(test.labels, predict_proba(clf, test.images).argmax(1), 10)["accuracy"]
    print(f"CAS of the bundled provider: {acc:.4f}")
    assert acc >= 0.90
    again, _ = provider.sample_counts({c: 500 for c in range(10)}, seed=0)
    assert torch.equal(x, again)  # same seed, same images
