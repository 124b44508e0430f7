"""One way to write JSON: strict (no NaN / Infinity), undefined numbers as null."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

import shardkit
from shardkit.jsonio import dumps, finite_or_none
from shardkit.storage import Store

PACKAGE = Path(shardkit.__file__).parent


def test_non_finite_numbers_become_null_everywhere_in_the_tree():
    value = {"nan": float("nan"), "list": [np.float32("inf"), 1.5, np.int64(3)], "tuple": (np.float64(-np.inf), "x"), "nested": {"ok": 2.0}}
    text = dumps(value, sort_keys=True)
    assert json.loads(text) == {"list": [None, 1.5, 3], "nan": None, "nested": {"ok": 2.0}, "tuple": [None, "x"]}
    assert "NaN" not in text and "Infinity" not in text
    assert finite_or_none(math.inf) is None and finite_or_none(0.25) == 0.25 and finite_or_none(True) is True


def test_dumps_still_refuses_what_it_cannot_write():
    with pytest.raises(TypeError):
        dumps({"x": object()})
    assert dumps({"x": object()}, default=lambda o: "obj") == '{"x": "obj"}'


def test_store_write_json_is_strict(tmp_path: Path):
    store = Store(str(tmp_path))
    store.write_json("report.json", {"auc": float("nan"), "loss": [1.0, float("-inf")]})
    assert json.loads((tmp_path / "report.json").read_text(), parse_constant=lambda c: pytest.fail(c)) == {"auc": None, "loss": [1.0, None]}


def test_no_json_is_written_around_the_helper():
    """Every JSON the package writes goes through `shardkit.jsonio` (grep guard)."""
    offenders = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "jsonio.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bjson\.dumps?\(", line)
    ]
    assert offenders == []
