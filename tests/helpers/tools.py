"""Import a script from tools/ by path (tools/ is not a package); the one place tests load a tool."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def loaded_tool(name: str) -> Iterator[ModuleType]:
    """Yield ``tools/<name>.py`` as module ``name`` (registered, so spawned workers find it), then unregister it."""
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(name, None)
