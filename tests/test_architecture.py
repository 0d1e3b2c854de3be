"""The house rules: layered imports without circles (import-linter contracts in pyproject.toml), SQL only in
``aimon/state/``, and no module loaded by a name in a string (which no import check can see)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "aimon"
STATE = PACKAGE / "state"
SQL_CALLS = {"execute", "executemany", "executescript"}
MAX_MODULE_LINES = 400


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _calls(path: Path, names: set[str], root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
            if name in names:
                found.append(f"{path.relative_to(root)}:{node.lineno}: {name}(")
    return found


def test_import_contracts_hold() -> None:
    """Every contract of ``[tool.importlinter]`` is kept; the output names each import that breaks one."""
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 5 kept, 0 broken." in done.stdout


def test_sql_only_in_the_state_package() -> None:
    """``aimon/state/`` owns every table: no other module runs a statement."""
    outside = [path for path in _modules() if STATE not in path.parents]
    found = [hit for path in outside for hit in _calls(path, SQL_CALLS)]
    assert found == []


def test_the_sql_check_sees_a_statement(tmp_path: Path) -> None:
    """The check above is not vacuous: a statement in a module is found."""
    module = tmp_path / "stage.py"
    module.write_text("def f(conn):\n    return conn.execute('SELECT 1')\n", encoding="utf-8")
    assert _calls(module, SQL_CALLS, root=tmp_path) == ["stage.py:2: execute("]


_WRITE = re.compile(r"\b(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|(?<!DO )UPDATE|DELETE\s+FROM)\s+(\w+)")


def test_each_table_is_written_by_one_state_module() -> None:
    """One owner per table: the module of its family is the only one that inserts, updates or deletes its rows."""
    writers: dict[str, set[str]] = {}
    for path in sorted(STATE.glob("*.py")):
        for match in _WRITE.finditer(path.read_text(encoding="utf-8")):
            writers.setdefault(match.group(1), set()).add(path.name)
    shared = {table: sorted(modules) for table, modules in writers.items() if len(modules) > 1}
    assert shared == {}
    assert writers["fingerprints"] == {"groups.py"} and writers["deliveries"] == {"outbox.py"}


def test_no_module_is_loaded_by_a_string() -> None:
    """``import_module("aimon....")`` would hide an arrow from the import contracts: imports are written out."""
    found = [hit for path in _modules() for hit in _calls(path, {"import_module", "__import__"})]
    assert found == []


def test_modules_stay_small() -> None:
    """A module a newcomer can read in one sitting."""
    long = {str(path.relative_to(ROOT)): n for path in _modules() if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert long == {}
