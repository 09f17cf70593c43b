"""ganaug: class-conditional GAN data augmentation for small and imbalanced image-classification data.

Train a generator with Lightning Fabric, then use it as a provider of labelled synthetic samples in
Hugging Face ``datasets`` (``augment``, ``Augment``, ``balance``) and torchvision (``transforms``,
``SyntheticDataset``); recipes (``ganaug run``) report whether it helps your classifier.
"""

from . import transforms  # noqa: E402
from ._version import __version__  # noqa: E402,F401
from .classify import ClassifierConfig  # noqa: E402
from .config import FabricConfig, TrainConfig  # noqa: E402
from .errors import GanaugError  # noqa: E402
from .hf import Augment, augment, balance  # noqa: E402
from .mix import MixedProvider, mix  # noqa: E402
from .models import ModelConfig  # noqa: E402
from .provider import Provider, default_provider, load_provider  # noqa: E402
from .train import train  # noqa: E402
from .transforms import SyntheticDataset  # noqa: E402

__all__ = [
    "Augment",
    "ClassifierConfig",
    "FabricConfig",
    "GanaugError",
    "MixedProvider",
    "ModelConfig",
    "Provider",
    "SyntheticDataset",
    "TrainConfig",
    "augment",
    "balance",
    "default_provider",
    "load_provider",
    "mix",
    "train",
    "transforms",
]
