"""The deployment-stage tests use the session's `tiny_shards` and `tiny_model` (tests/conftest.py)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
