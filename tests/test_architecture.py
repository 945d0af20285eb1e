"""The architecture, enforced: the import contracts of pyproject.toml ([tool.importlinter]:
layers, the core never importing the algorithms, no cycles), no module importing another's
private names, and no module over MAX_LINES lines without a stated reason.

import-linter analyses the package as installed (mli, with algorithms/ and featurize/ as
mli.algorithms and mli.featurize), so the test lays the sources out that way in a temporary
folder and runs ``lint-imports`` there.
"""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"mli": ROOT / "mli", "mli/algorithms": ROOT / "algorithms",
            "mli/featurize": ROOT / "featurize"}
MAX_LINES = 600
#: what a module over MAX_LINES lines says in its docstring, followed by why
LONG_MARKER = "Why this module is long:"


def _sources():
    for prefix, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder).with_suffix("")
            parts = prefix.split("/") + [p for p in rel.parts if p != "__init__"]
            yield ".".join(parts), path


def _installed_layout(tmp: Path) -> Path:
    for prefix, folder in PACKAGES.items():
        shutil.copytree(folder, tmp / prefix, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    return tmp


def test_import_contracts_hold(tmp_path):
    lint = shutil.which("lint-imports") or os.path.join(os.path.dirname(sys.executable),
                                                        "lint-imports")
    if not os.path.exists(lint):
        pytest.fail("lint-imports (import-linter) is not installed: pip install -e '.[test]'")
    root = _installed_layout(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(root))
    out = subprocess.run([lint, str(ROOT / "pyproject.toml"), "--no-cache"], cwd=root,
                         env=env, capture_output=True, text=True, timeout=300)
    report = out.stdout + out.stderr
    assert out.returncode == 0, report
    # the contracts ran on the whole package, mli.algorithms and mli.featurize included
    assert "Contracts: 4 kept, 0 broken." in report, report
    n_files = int(report.split("Analyzed ")[1].split(" files")[0])
    assert n_files == sum(1 for _ in _sources()), report


def _private_imports():
    found = []
    for name, path in _sources():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                    and node.module.startswith("mli"):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__") \
                            and node.module != name:
                        found.append(f"{name} (line {node.lineno}) imports {node.module}."
                                     f"{alias.name}")
    return found


def test_no_module_imports_another_modules_private_names():
    found = _private_imports()
    assert not found, "private names imported across modules:\n" + "\n".join(found)


def test_the_private_import_check_finds_one(tmp_path, monkeypatch):
    # the check itself: a module importing a private name is reported
    pkg = tmp_path / "mli"
    pkg.mkdir()
    (pkg / "a.py").write_text("def _hidden():\n    pass\n")
    (pkg / "b.py").write_text("from mli.a import _hidden, __doc__\n")
    monkeypatch.setitem(PACKAGES, "mli", pkg)
    monkeypatch.delitem(PACKAGES, "mli/algorithms")
    monkeypatch.delitem(PACKAGES, "mli/featurize")
    assert _private_imports() == ["mli.b (line 1) imports mli.a._hidden"]


def test_long_modules_state_why():
    unexplained = []
    for name, path in _sources():
        text = path.read_text()
        lines = text.count("\n")
        if lines > MAX_LINES and LONG_MARKER not in (ast.get_docstring(ast.parse(text)) or ""):
            unexplained.append(f"{name}: {lines} lines")
    assert not unexplained, (f"modules over {MAX_LINES} lines whose docstring does not say "
                             f"'{LONG_MARKER} ...':\n" + "\n".join(unexplained))
