"""The project's own files hold together: lint, format, the import-layer contract, and pins that satisfy the ranges."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        path = shutil.which(name)
        if path is None:
            pytest.skip(f"{name} is not installed (the lint extra has it)")
    return str(path)


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines += [line for line in extra if not line.startswith("shardkit[")]
    return [Requirement(line) for line in lines]


def _pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[re.sub(r"[-_.]+", "-", name.lower())] = version
    return pins


def unsatisfied(requirements: list[Requirement], pins: dict[str, str]) -> list[str]:
    """Each declared requirement that constraints.txt leaves out or pins outside its range."""
    problems = []
    for requirement in requirements:
        version = pins.get(re.sub(r"[-_.]+", "-", requirement.name.lower()))
        if version is None:
            problems.append(f"{requirement.name}: not pinned")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name}: pinned {version}, declared {requirement.specifier}")
    return problems


def test_constraints_pin_every_declared_dependency_inside_its_range():
    assert unsatisfied(_declared(), _pins((ROOT / "constraints.txt").read_text())) == []


def test_the_pin_check_sees_a_pin_outside_its_range():
    pins = _pins((ROOT / "constraints.txt").read_text())
    assert unsatisfied([Requirement("numpy~=2.3")], {**pins, "numpy": "1.26.4"}) == ["numpy: pinned 1.26.4, declared ~=2.3"]
    assert unsatisfied([Requirement("click~=8.5")], {}) == ["click: not pinned"]


def test_ruff_check_passes():
    proc = subprocess.run([_tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format_check_passes():
    proc = subprocess.run([_tool("ruff"), "format", "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_import_layer_contract_is_kept():
    proc = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def import_cycles(package: str) -> list[list[str]]:
    """Groups of modules of ``package`` that import each other, directly or through others (Tarjan)."""
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph(package)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = stack[stack.index(module) :]
            del stack[stack.index(module) :]
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def test_no_module_imports_itself_through_others():
    assert import_cycles("shardkit") == []


def test_the_cycle_check_sees_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    package = tmp_path / "cyclic_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from cyclic_pkg import b\n")
    (package / "b.py").write_text("def f():\n    from cyclic_pkg import c\n")
    (package / "c.py").write_text("import cyclic_pkg.a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles("cyclic_pkg") == [["cyclic_pkg.a", "cyclic_pkg.b", "cyclic_pkg.c"]]


def named_modules(doc: str) -> set[str]:
    """Paths of the modules the tree in the architecture note names: ``  read/`` then ``    dataset.py``,
    ``  storage.py``, or ``  audio/decode.py`` (two-space indent per level under ``shardkit/``)."""
    named, package = set(), ""
    for line in doc.splitlines():
        top = re.match(r"^  ([a-z_0-9]+(?:/[a-z_0-9]+)*)(/|\.py)(?:\s|$)", line) or re.match(r"^  ([a-z_0-9]+/[a-z_0-9_]+\.py)()(?:\s|$)", line)
        inner = re.match(r"^    ([a-z_0-9]+\.py)(?:\s|$)", line)
        if top and top.group(2) == "/":
            package = top.group(1)
        elif top:
            named.add(f"shardkit/{top.group(1)}" + (".py" if top.group(2) == ".py" else ""))
            package = ""
        elif inner and package:
            named.add(f"shardkit/{package}/{inner.group(1)}")
    return named


def architecture_gaps(doc: str, modules: list[str]) -> list[str]:
    """Modules the architecture note's tree does not name, and modules it names that do not exist."""
    named = named_modules(doc)
    return [f"not in docs/architecture.md: {m}" for m in modules if m not in named] + [f"named but not in the tree: {m}" for m in sorted(named - set(modules))]


def test_the_architecture_note_names_every_module_and_no_other():
    modules = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "shardkit").rglob("*.py") if p.name != "__init__.py")
    assert architecture_gaps((ROOT / "docs" / "architecture.md").read_text(), modules) == []


def test_the_architecture_check_sees_a_missing_and_a_stale_module():
    doc = "  storage.py      the door\n  audio/decode.py streaming decode\n  read/\n    dataset.py    ShardReader\n    summary.py    gone\n"
    modules = ["shardkit/storage.py", "shardkit/audio/decode.py", "shardkit/read/dataset.py", "shardkit/read/inspect.py"]
    assert architecture_gaps(doc, modules) == [
        "not in docs/architecture.md: shardkit/read/inspect.py",
        "named but not in the tree: shardkit/read/summary.py",
    ]
