"""Argument checks shared by the public entry points (messages name the argument, the value and the range)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ConfigError


def check_int(name: str, value: Any, low: int, allow_none: bool = False) -> None:
    """Refuse anything but an integer >= ``low`` (and None, when allowed)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        what = {0: "a non-negative integer", 1: "a positive integer"}.get(low, f"an integer >= {low}")
        raise ConfigError(f"{name} must be {what}{' or None' if allow_none else ''}, got {value!r}")


def check_off_or_up_to(name: str, value: Any, high: float, what: str) -> None:
    """Refuse anything but a number in [0, ``high``], where 0 turns the setting off; ``what`` names the unit."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high:
        raise ConfigError(f"{name} must be {what} in [0, {high}] (0 turns it off), got {value!r}")


def check_probability(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(f"{name} must be a probability in [0, 1], got {value!r}")
