"""The apps depend one way (integrations -> feedback -> pipeline -> handoff -> leads -> core),
and the pages call services only by their public names: a page never reaches into a service's
private helper (a read the page needs lives in selectors).

`core` is the ground floor: every app may import it, it imports no app (nor `config`, which
wires the apps), and its migrations depend on no app's."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.urls import resolve, reverse

from handoff.views import HandoffAction

ROOT = Path(__file__).resolve().parent.parent
# Lowest first: an app may import the apps before it in this list, never the ones after it.
LAYERS = ["core", "leads", "handoff", "pipeline", "feedback", "integrations"]
VIEW_MODULES = ["handoff/views", "handoff/views.py", "feedback/views", "feedback/views.py"]


def _modules(*places: str) -> list[Path]:
    found: list[Path] = []
    for place in places:
        path = ROOT / place
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(p for p in sorted(path.rglob("*.py")) if "migrations" not in p.parts)
    return found


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted module) of every import in a module, the ones inside functions included."""
    names: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append((node.lineno, node.module))
            # `from handoff import services` imports the module handoff.services.
            names.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return names


def _private_service_uses(tree: ast.AST) -> list[str]:
    """Underscore names taken from a services module: imported by name, or read as an attribute
    of a services module the file imported."""
    found: list[str] = []
    service_aliases: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            is_services = node.module == "services" or node.module.endswith(".services")
            for alias in node.names:
                if is_services and alias.name.startswith("_"):
                    found.append(f"line {node.lineno}: from {node.module} import {alias.name}")
                if alias.name == "services":
                    service_aliases.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.endswith(".services") and alias.asname:
                    service_aliases.add(alias.asname)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and isinstance(node.value, ast.Name)
            and node.value.id in service_aliases
        ):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    return found


@pytest.mark.parametrize("path", _modules(*VIEW_MODULES), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_page_calls_no_private_service_helper(path):
    uses = _private_service_uses(ast.parse(path.read_text(), filename=str(path)))
    assert not uses, f"{path.relative_to(ROOT)} reaches into a services module: {uses}"


def test_the_view_modules_are_found():
    names = {str(p.relative_to(ROOT)) for p in _modules(*VIEW_MODULES)}
    assert "handoff/views/handoff.py" in names
    assert "feedback/views.py" in names or "feedback/views/__init__.py" in names


@pytest.mark.parametrize("app", LAYERS)
def test_no_app_imports_an_app_above_it(app):
    above = LAYERS[LAYERS.index(app) + 1 :]
    upward = []
    for path in _modules(app):
        for line, module in _imported(ast.parse(path.read_text(), filename=str(path))):
            top = module.split(".")[0]
            if top in above:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not upward, f"{app} must not import {', '.join(above)}: " + "; ".join(upward)


def test_core_imports_no_app():
    apps = {*LAYERS[1:], "config"}
    found = []
    for path in _modules("core"):
        for line, module in _imported(ast.parse(path.read_text(), filename=str(path))):
            if module.split(".")[0] in apps:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert _modules("core"), "the core package is not where this test looks"
    assert not found, "core must import no app: " + "; ".join(found)


def test_core_migrations_depend_on_no_app():
    apps = {*LAYERS[1:], "config"}
    upward = []
    for path in sorted((ROOT / "core" / "migrations").glob("0*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Tuple) and len(node.elts) == 2:
                first = node.elts[0]
                if isinstance(first, ast.Constant) and first.value in apps:
                    upward.append(f"{path.name} depends on {first.value}")
        for _, module in _imported(tree):
            if module.split(".")[0] in apps:
                upward.append(f"{path.name} imports {module}")
    assert not upward, "; ".join(upward)


def test_every_app_may_import_core():
    # core is below every app: the layering check lets any app import it.
    for app in LAYERS[1:]:
        assert LAYERS.index("core") < LAYERS.index(app)
    tree = ast.parse("from core.errors import Conflict\nfrom core import pages\n")
    assert {"core.errors", "core.pages"} <= {m for _, m in _imported(tree)}


def test_the_check_sees_a_private_helper_and_an_upward_import():
    # The checks themselves: a file doing what is forbidden is caught.
    tree = ast.parse(
        "from handoff import services\n"
        "from handoff.services import _can_work\n"
        "services._can_inform(None, None)\n"
        "from feedback.views import handoff_return\n"
    )
    assert len(_private_service_uses(tree)) == 2
    assert "feedback.views" in {m for _, m in _imported(tree)}


@pytest.mark.parametrize(
    "name",
    [
        "handoff:handoff-accept",
        "handoff:handoff-ask",
        "handoff:handoff-answer",
        "handoff:handoff-first-touch",
        "handoff:handoff-qualify",
        "handoff:handoff-reassign",
        "feedback:handoff-return",
    ],
)
def test_every_action_of_the_handoff_page_is_one_generic_view(name):
    view = resolve(reverse(name, kwargs={"pk": 1})).func
    assert issubclass(view.view_class, HandoffAction)
