"""The layers of docs/architecture.md#packages-and-what-each-may-import, checked on the source.

Every import statement counts, including imports inside functions and under ``TYPE_CHECKING``: a
lazy import of a higher layer is still a dependency on it. A failure names the file, the line and
the rule, so that a new import in the wrong direction is caught before it settles in.
"""

from __future__ import annotations

import ast
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
