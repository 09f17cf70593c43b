"""Error types raised for bad input. The CLI turns them into one line on stderr and exit code 2."""

from __future__ import annotations


class GanaugError(Exception):
    """Base of every error ganaug raises on purpose."""


class DataError(GanaugError, ValueError):
    """The dataset or arrays given cannot be used as they are (columns, labels, image sizes...)."""


class ConfigError(GanaugError, ValueError):
    """A setting, argument or recipe value is missing, of the wrong type or out of range."""


class ConfigTypeError(GanaugError, TypeError):
    """An argument has the wrong type."""


class CheckpointError(GanaugError, ValueError):
    """A checkpoint directory is missing, incomplete, tampered with or from an unknown format."""


class SpecMismatchError(GanaugError, ValueError):
    """Data given to a provider does not match what the provider was trained on."""


class TrainingError(GanaugError, RuntimeError):
    """Training diverged (NaN/inf losses) or could not continue."""
