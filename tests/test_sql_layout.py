"""SQL writes live beside the reads: named statements in sql/, run through the catalog.

Only homecat/catalog.py (the schema migrations' bookkeeping) may hold INSERT/UPDATE/DELETE text; every
other module runs ``Catalog.run(file, name)``, and each name it runs is a statement of that file.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from homecat.catalog import named_queries

PACKAGE = Path(__file__).resolve().parent.parent / "homecat"
# The statement heads of a write; SQL in this project is written in capitals, prose is not.
_WRITE = re.compile(r"\b(INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DO\s+UPDATE|DELETE\s+FROM)\b")


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string constant of a module with its line; an f-string as its text with each field as 'x'."""
    found = []
    in_fstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [v.value if isinstance(v, ast.Constant) else "x" for v in node.values]
            found.append((node.lineno, "".join(str(p) for p in parts)))
            in_fstrings.update(id(v) for v in node.values)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in in_fstrings:
            found.append((node.lineno, node.value))
    return found


def _writes(source: str) -> list[tuple[int, str]]:
    """(line, statement head) of each write statement a module's source holds as a string."""
    return sorted((line, m[0]) for line, text in _strings(ast.parse(source)) if (m := _WRITE.search(text)))


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "catalog.py")


def test_no_module_but_the_catalog_holds_a_write_statement():
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {head}"
        for path in _modules()
        for line, head in _writes(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "write statements belong in sql/ as named statements:\n" + "\n".join(offenders)


def test_the_check_finds_writes_in_plain_strings_f_strings_and_upserts():
    source = (
        'a = "DELETE FROM speech WHERE source = ?"\n'
        'b = f"UPDATE {table} SET x = 1"\n'
        'c = "INSERT OR REPLACE INTO catalog_state VALUES (?, ?)"\n'
        'd = ("INSERT INTO t SELECT * FROM b "\n     "ON CONFLICT (k) DO UPDATE SET v = excluded.v")\n'
        'e = "Delete from the set to update the set of rows."  # prose\n'
    )
    assert [line for line, _ in _writes(source)] == [1, 2, 3, 4]


def _runs(path: Path) -> list[tuple[int, str, str]]:
    """(line, SQL file, statement name) of every ``.run(FILE, "name", ...)`` / ``.run_many`` in a module,
    FILE a string or a module-level name bound to one."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    found = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("run", "run_many")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
        ):
            continue
        file = node.args[0]
        relative = file.value if isinstance(file, ast.Constant) else constants.get(getattr(file, "id", ""))
        if isinstance(relative, str) and relative.endswith(".sql"):
            found.append((node.lineno, relative, node.args[1].value))
    return found


def test_every_statement_a_module_runs_is_named_in_its_sql_file():
    runs = [(path, *run) for path in _modules() for run in _runs(path)]
    missing = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {name} in {relative}"
        for path, line, relative, name in runs
        if name not in named_queries(relative)
    ]
    assert missing == []
    # the modules that write run their statements this way (a rename that breaks the lookup above shows here)
    assert {Path(relative).name for _, _, relative, _ in runs} >= {
        "scan.sql",
        "validate.sql",
        "childproject.sql",
        "vad.sql",
        "its.sql",
        "segments.sql",
        "split.sql",
        "participants.sql",
        "embed.sql",
    }
