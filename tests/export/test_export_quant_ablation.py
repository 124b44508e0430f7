"""tools/quant_ablation.py on the trained tiny model: every row scored, switching quantizers off moves the twin toward float."""

from __future__ import annotations

import pytest
from helpers.tools import loaded_tool


@pytest.fixture(scope="module")
def tool():
    yield from loaded_tool("quant_ablation")


def test_ablation_rows(tool, tiny_model, tiny_shards):
    rows = {row["row"]: row for row in tool.ablation(str(tiny_model), str(tiny_shards), gate_samples=20)}
    assert list(rows)[:2] == ["float", "all quantized"]
    assert len(rows) == 6
    weights_only, everything = rows["weights only (no activation quantized)"], rows["all quantized"]
    assert weights_only["cosine_mean"] >= everything["cosine_mean"] - 1e-6
    assert weights_only["cosine_p5"] > 0.99  # per-channel INT8 weights alone barely move the outputs
    assert all(0.0 <= row["roc_auc"] <= 1.0 for row in rows.values())
