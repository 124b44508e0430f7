"""Strict JSON for everything shardkit writes: no NaN / Infinity, undefined numbers as ``null``.

Python's `json` writes ``NaN`` and ``-Infinity`` by default, which strict parsers (JavaScript,
Go, jq, most JSON schema tools) refuse. Every file, member and report the package writes goes
through `dumps`: non-finite floats become ``null`` first, and ``allow_nan=False`` makes any
that slipped through an error rather than a broken file.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def finite_or_none(value: Any) -> Any:
    """``value`` with every non-finite float (also numpy scalars, in nested dicts/lists/tuples) as None.

    numpy scalars become Python numbers; tuples become lists (as JSON writes them anyway).
    """
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(obj: Any, **kwargs: Any) -> str:
    """`json.dumps` of ``obj`` with non-finite numbers as null, refusing NaN/Infinity (``allow_nan=False``).

    Args:
        obj: any JSON-ready value.
        **kwargs: passed to `json.dumps` (``indent``, ``sort_keys``, ``default`` ...).
    """
    return json.dumps(finite_or_none(obj), allow_nan=False, **kwargs)
