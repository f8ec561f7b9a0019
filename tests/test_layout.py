"""The package's plumbing as the design draws it: no import circle, no private name imported across
modules, crops that never load the catalog (DESIGN.md, "Layout")."""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from pathlib import Path

import homecat
from tests.conftest import one_recording_crop_index, write_tone

PACKAGE = Path(homecat.__file__).parent


@functools.cache
def _modules() -> dict[str, ast.Module]:
    """Every module of the package by dotted name (a package by its own name), parsed."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("homecat", *path.relative_to(PACKAGE).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return found


def _imports(name: str, tree: ast.Module, modules: dict[str, ast.Module]) -> dict[str, set[str]]:
    """The homecat modules ``name`` imports anywhere (inside functions too), each with the names it takes."""
    taken: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    taken.setdefault(alias.name, set())
        elif isinstance(node, ast.ImportFrom) and node.module in modules and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in modules:  # `from homecat import audio`
                    taken.setdefault(submodule, set())
                else:
                    taken.setdefault(node.module, set()).add(alias.name)
    # importing a.b.c runs the package a.b first (unless name is inside it: that package is already loading)
    for target in list(taken):
        parts = target.split(".")
        for depth in range(2, len(parts)):
            package = ".".join(parts[:depth])
            if not (name == package or name.startswith(package + ".")):
                taken.setdefault(package, set())
    taken.pop(name, None)
    return taken


def _private_imports(modules: dict[str, ast.Module]) -> list[str]:
    return [
        f"{name} imports {target}.{taken}"
        for name, tree in modules.items()
        for target, names in _imports(name, tree, modules).items()
        for taken in sorted(names)
        if taken.startswith("_") and not taken.startswith("__")
    ]


def _circles(modules: dict[str, ast.Module]) -> list[str]:
    """Each import circle found by a depth-first walk, as 'a -> b -> a'."""
    graph = {name: set(_imports(name, tree, modules)) for name, tree in modules.items()}
    circles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                circles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target)
        path.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    return circles


def test_no_module_imports_a_private_name_of_another():
    assert _private_imports(_modules()) == []


def test_no_import_circle_among_homecat_modules():
    assert _circles(_modules()) == []


def test_the_checks_find_the_circle_and_the_private_import_issue_18_found():
    modules = {
        "homecat.scan": ast.parse("def scan():\n    from homecat.childproject import scan_dataset\n"),
        "homecat.childproject": ast.parse("from homecat.childproject.scan import scan_dataset\n"),
        "homecat.childproject.scan": ast.parse("from homecat.scan import _unique_id, sync_recordings\n"),
    }
    assert _private_imports(modules) == ["homecat.childproject.scan imports homecat.scan._unique_id"]
    assert _circles(modules) == [
        "homecat.childproject -> homecat.childproject.scan -> homecat.scan -> homecat.childproject"
    ]


# The crop side may lean on these and on itself, nothing else of homecat (DataLoader workers import it).
CROP_SIDE_MAY_IMPORT = {"homecat.audio", "homecat.settings", "homecat.errors"}


def test_the_crop_side_imports_only_audio_settings_and_errors():
    modules = _modules()
    crop_side = [name for name in modules if name == "homecat.crops" or name.startswith("homecat.crops.")]
    assert len(crop_side) > 1
    outside = {
        f"{name} imports {target}"
        for name in crop_side
        for target in _imports(name, modules[name], modules)
        if target not in CROP_SIDE_MAY_IMPORT and not target.startswith("homecat.crops")
    }
    assert outside == set()


# A DataLoader worker's life: load the snapshot, draw crops, read a dev crop. Run in a fresh interpreter so
# that nothing this test session imported earlier hides an import.
_WORKER = """
import json, sys
from homecat.crops import CropDataset, CropIndex, dev_crops, read_crop
from homecat.settings import CropSettings, DataSettings

index = CropIndex.load(sys.argv[1])
dataset = CropDataset(index, CropSettings(crop_sec=0.5, crop_policy="uniform"), DataSettings())
samples = [len(dataset[k]["input_values"]) for k in range(3)] + [len(read_crop(dataset, dev_crops(index, 1, 0.5)[0]))]
print(json.dumps({"samples": samples, "loaded": sorted(m for m in sys.modules if m == "duckdb" or m.startswith("homecat."))}))
"""


def test_crops_draw_from_a_snapshot_without_loading_duckdb_or_the_catalog(tmp_path):
    from homecat.crop_snapshot import write_snapshot

    path = write_tone(tmp_path / "P1.wav", 2.0)
    index = one_recording_crop_index(str(path), "P1.wav", 32000)
    snapshot = write_snapshot(index, tmp_path / "index" / "train.parquet")
    result = subprocess.run(
        [sys.executable, "-c", _WORKER, str(snapshot)], capture_output=True, text=True, check=True, timeout=120
    )
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["samples"] == [8000] * 4  # half a second at 16 kHz, read from the raw file
    assert "duckdb" not in seen["loaded"] and "homecat.catalog" not in seen["loaded"]
    assert {"homecat.crops.dataset", "homecat.crops.index"} <= set(seen["loaded"])
