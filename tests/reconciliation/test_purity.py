"""The bill layer is pure: standard library and ``indiepay.core`` only — no database, no HTTP, no framework.

(import-linter keeps domains off the web layer; this keeps the parsers and writers off everything else,
so the sandbox gateways can share them.)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import indiepay.reconciliation

PACKAGE = Path(indiepay.reconciliation.__file__).parent
ALLOWED_PREFIXES = ("indiepay.core", "indiepay.reconciliation")


def test_parsers_and_writers_import_only_the_standard_library_and_core() -> None:
    files = sorted([*PACKAGE.glob("parsers/*.py"), *PACKAGE.glob("writers/*.py"), PACKAGE / "errors.py"])
    assert len(files) >= 8
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top == "__future__" or name.startswith(ALLOWED_PREFIXES), (
                    f"{path.name} imports {name}")


def test_every_file_stays_under_400_lines() -> None:
    for path in PACKAGE.rglob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) < 400, path
