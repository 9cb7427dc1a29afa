"""The layers of docs/architecture.md#packages-and-what-each-may-import, checked on the source,
and no import cycle among the service modules.

Every import statement counts, including imports inside functions and under ``TYPE_CHECKING``: a
lazy import of a higher layer is still a dependency on it. A failure names the file, the line and
the rule, so that a new import in the wrong direction is caught before it settles in.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = (
    "kuchikomi_settings",
    "detector",
    "models",
    "classifier",
    "crawler",
    "kuchikomi",
    "scheduler",
    "api",
)

# Package (or sub-package) -> the project modules it may import besides itself. A module is
# allowed when it is one of these or lies inside one of them.
ALLOWED: dict[str, tuple[str, ...]] = {
    "kuchikomi_settings": (),
    "detector": (),
    "models": ("kuchikomi_settings",),
    # Text in, verdicts out: no database, no HTTP.
    "classifier": ("kuchikomi_settings",),
    "crawler": ("kuchikomi_settings", "models"),
    # The use cases compose the stages; they never reach up to an entry point.
    "kuchikomi": (
        "kuchikomi_settings",
        "detector",
        "models",
        "classifier",
        "crawler",
    ),
    # Entry points: parse input, call a service, present the result.
    "scheduler": ("kuchikomi_settings", "models", "kuchikomi"),
    "api": ("kuchikomi_settings", "detector", "models", "classifier", "crawler", "kuchikomi"),
}
# Inside ``kuchikomi``, the CLI is an entry point like api/ and scheduler/ and may use them all.
ENTRY_POINTS_INSIDE_KUCHIKOMI = ("kuchikomi.cli",)
# No package but the CLI imports an entry point.
NEVER_BELOW_CLI = ("kuchikomi.cli",)


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _project_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue  # relative imports stay inside their own package
        found += [(node.lineno, n) for n in names if n.split(".")[0] in PROJECT]
    return found


def _owner(module_path: Path) -> str:
    """The package whose rule applies to a source file."""
    parts = module_path.relative_to(ROOT).with_suffix("").parts
    dotted = ".".join(parts)
    for entry in ENTRY_POINTS_INSIDE_KUCHIKOMI:
        if _inside(dotted, entry):
            return entry
    return parts[0]


def _violations(package: str) -> list[str]:
    problems: list[str] = []
    for path in sorted((ROOT / package).rglob("*.py")):
        owner = _owner(path)
        if owner in ENTRY_POINTS_INSIDE_KUCHIKOMI:
            continue  # the CLI composes everything
        allowed = (owner, *ALLOWED[owner])
        for line, module in _project_imports(path):
            if any(_inside(module, entry) for entry in NEVER_BELOW_CLI) or not any(
                _inside(module, a) for a in allowed
            ):
                where = path.relative_to(ROOT)
                problems.append(f"{where}:{line}: {owner} imports {module}")
    return problems


@pytest.mark.parametrize("package", list(ALLOWED))
def test_each_layer_imports_only_the_layers_below_it(package: str) -> None:
    assert (ROOT / package).is_dir()
    assert _violations(package) == []


def test_the_rules_catch_an_import_reaching_up(tmp_path: Path) -> None:
    # The checker itself: a bottom-layer module importing the top package is reported.
    source = tmp_path / "probe.py"
    source.write_text(
        "import json\nfrom kuchikomi.services import pipeline\ndef f():\n    import api.app\n",
        encoding="utf-8",
    )
    assert _project_imports(source) == [(2, "kuchikomi.services"), (4, "api.app")]


# --- no import cycles among the services -------------------------------------------------------
#
# Two services importing each other (even lazily, inside a function) hold each other's jobs: one
# of them cannot be read, tested or moved without the other. Shared types go to a module both
# import (as ``takedown/schemas.py`` for ``cases`` and ``takedown/drafting``).


def _module_name(path: Path, base: Path) -> str:
    parts = path.relative_to(base).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph(package_dir: Path, root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of the package it imports, by any import statement.

    ``from pkg import name`` counts as importing ``pkg.name`` when that is a module, else ``pkg``.
    Importing a submodule also runs its parent package's ``__init__``; that edge is left out, as
    a package's ``__init__`` re-exporting its own submodules is no cycle between jobs.
    """
    files = {path: _module_name(path, root) for path in sorted(package_dir.rglob("*.py"))}
    modules = set(files.values())
    graph: dict[str, set[str]] = {}
    for path, name in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from the module's own package upwards
                    package = (
                        name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    )
                    anchor = ".".join(package[: len(package) - node.level + 1])
                    source = f"{anchor}.{node.module}" if node.module else anchor
                else:
                    source = node.module or ""
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    targets.add(submodule if submodule in modules else source)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle (its modules, the first repeated at the end), or nothing."""
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as exc:
        return list(exc.args[1])
    return []


def test_no_import_cycle_among_the_services() -> None:
    graph = _import_graph(ROOT / "kuchikomi" / "services")
    assert "kuchikomi.services.cases" in graph  # the graph was read
    assert _cycle(graph) == []


def test_the_cycle_check_catches_a_lazy_import_back(tmp_path: Path) -> None:
    # The checker itself: ``drafts`` imports ``cases`` inside a function, ``cases`` imports a
    # name of ``drafts`` at the top (the shape of the takedown/cases cycle once found here).
    package = tmp_path / "svc"
    (package / "drafts").mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "drafts" / "__init__.py").write_text(
        "from .build import build_draft\n", encoding="utf-8"
    )
    (package / "drafts" / "build.py").write_text(
        "def build_draft():\n    from svc.cases import get_case\n", encoding="utf-8"
    )
    (package / "cases.py").write_text(
        "from svc.drafts import build_draft\ndef get_case():\n    pass\n", encoding="utf-8"
    )
    graph = _import_graph(package, tmp_path)
    assert graph["svc.drafts"] == {"svc.drafts.build"}
    assert sorted(_cycle(graph)) == sorted(
        ["svc.cases", "svc.drafts", "svc.drafts.build", "svc.cases"]
    )
    (package / "cases.py").write_text("def get_case():\n    pass\n", encoding="utf-8")
    assert _cycle(_import_graph(package, tmp_path)) == []
