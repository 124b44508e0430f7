"""The audit site's tests open its HTML in a real headless Chromium: the module-scoped ``browser`` fixture (tests/helpers/browser.py)."""

from __future__ import annotations

from helpers.browser import browser  # noqa: F401 - a fixture, registered here for tests/audit
