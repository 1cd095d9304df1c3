"""The library's layout rules: wings by stage whose imports point one way, small files and functions,
and a repository that names no file outside itself."""

import ast
import re
import subprocess
from pathlib import Path

import pytest

from clipcreate_lib import paths

LIBRARY = paths.REPO / "clipcreate_lib"
# The bottom, then the stages in the order of the pipeline: a module may import its own layer and
# the layers before it, never a later one.
LAYERS = [
    {"paths", "config", "artifacts", "stats", "schedules", "progress", "session", "tables", "figures", "tracking"},
    {"data"},
    {"models"},
    {"styles"},
    {"ddpo"},
    {"evaluation"},
    {"study"},
    {"guidance", "search"},
    {"tokens"},
]
MAX_FILE_LINES, MAX_CLASS_LINES, MAX_FUNCTION_LINES = 300, 120, 40


def module_name(file: Path) -> str:
    parts = file.relative_to(paths.REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(f): f for f in sorted(LIBRARY.rglob("*.py"))}


def imports(tree: ast.AST, own: str) -> list[tuple[str, bool]]:
    """(imported clipcreate_lib module, whether the import is at the module's top level) for every
    import of the library in ``tree``; ``from X import y`` counts y when it is a module itself."""
    found = []
    top = {id(node) for node in getattr(tree, "body", [])}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [
                f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES else node.module
                for alias in node.names
            ]
        else:
            continue
        found += [(name, id(node) in top) for name in names if name.startswith("clipcreate_lib") and name != own]
    return found


def layer(module: str) -> int:
    wing = module.split(".")[1] if "." in module else ""
    return next(i for i, names in enumerate(LAYERS) if wing in names)


GRAPH = {name: imports(ast.parse(file.read_text()), name) for name, file in MODULES.items()}


def test_every_module_belongs_to_a_layer():
    assert all(layer(name) >= 0 for name in MODULES if name != "clipcreate_lib")


@pytest.mark.parametrize("name", [n for n in MODULES if n != "clipcreate_lib"])
def test_imports_point_one_way_and_only_at_the_top_of_a_module(name):
    for target, at_top in GRAPH[name]:
        assert at_top, f"{name} imports {target} inside a function (a hidden cycle or a late dependency)"
        if target != "clipcreate_lib":
            assert layer(target) <= layer(name), f"{name} (layer {layer(name)}) imports the later {target}"


def test_there_is_no_import_cycle():
    edges = {name: {t for t, _ in targets if t in MODULES and t != "clipcreate_lib"} for name, targets in GRAPH.items()}
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges[node]):
            assert state.get(nxt) != "open", "import cycle: " + " -> ".join(trail + [node, nxt])
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name, [])


def test_the_layout_test_sees_a_back_edge_and_a_function_level_import():
    tree = ast.parse("from clipcreate_lib.study import kit\ndef f():\n    from clipcreate_lib.ddpo import runs\n")
    found = dict(imports(tree, "clipcreate_lib.data.wikiart"))
    assert found == {"clipcreate_lib.study.kit": True, "clipcreate_lib.ddpo.runs": False}
    assert layer("clipcreate_lib.study.kit") > layer("clipcreate_lib.data.wikiart")


@pytest.mark.parametrize("name", list(MODULES))
def test_files_classes_and_functions_are_short(name):
    source = MODULES[name].read_text()
    assert len(source.splitlines()) <= MAX_FILE_LINES, f"{name} has {len(source.splitlines())} lines"
    for node in ast.walk(ast.parse(source)):
        size = getattr(node, "end_lineno", 0) - getattr(node, "lineno", 0) + 1
        if isinstance(node, ast.ClassDef):
            assert size <= MAX_CLASS_LINES, f"{name}.{node.name} is a class of {size} lines"
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            assert size <= MAX_FUNCTION_LINES, f"{name}: {node.name} has {size} lines"


def test_every_wing_says_which_notebook_and_paper_section_it_serves():
    stages = ("data", "models", "styles", "ddpo", "evaluation", "study")
    for wing in stages:
        doc = ast.get_docstring(ast.parse((LIBRARY / wing / "__init__.py").read_text())) or ""
        assert "notebook" in doc and "§" in doc, f"clipcreate_lib/{wing}/__init__.py names no notebook or section"
    for package in ("config", "figures"):  # the bottom's packages say what they hold
        assert ast.get_docstring(ast.parse((LIBRARY / package / "__init__.py").read_text()))
    the_map = ast.get_docstring(ast.parse((LIBRARY / "__init__.py").read_text())) or ""
    assert all(f"``{wing}``" in the_map for wing in stages)


def test_nothing_in_the_repository_refers_to_a_file_outside_it():
    tracked = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=paths.REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    pattern = re.compile(r"\.\./shared|\bPAPER\.md|\bDESIGN\.md")
    offending = [
        f
        for f in tracked
        if f.endswith((".py", ".md", ".sh", ".yaml", ".toml"))
        and (paths.REPO / f).is_file()
        and pattern.search((paths.REPO / f).read_text(errors="replace"))
    ]
    assert offending == [], f"these files name documents a clone does not have (the steering notes): {offending}"
