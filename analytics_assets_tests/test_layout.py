"""The package layout holds: a folder per concern under `defs/`, imports that run one way (the
order `analytics_assets/defs/__init__.py` states), and `gitbook/` free of Dagster."""

import ast
from pathlib import Path

import analytics_assets

PACKAGE = Path(analytics_assets.__file__).parent
# From the top down: a concern imports only the ones below it (defs/__init__.py says why).
ORDER = ["jobs", "report", "models", "checks", "sync", "recovery", "alerts", "resources"]


def imported_modules(path: Path) -> set[str]:
    """Every absolute module a file imports, at any depth (type-checking imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def concern(module: str) -> str | None:
    """`analytics_assets.defs.sync.assets` -> `sync`; `...defs.resources` -> `resources`."""
    parts = module.split(".")
    if parts[:2] != ["analytics_assets", "defs"] or len(parts) < 3:
        return None
    return parts[2]


def test_every_defs_module_belongs_to_a_concern_in_the_stated_order() -> None:
    defs = PACKAGE / "defs"
    found = {p.stem if p.is_file() else p.name for p in defs.iterdir()}
    assert found - {"__init__", "__pycache__"} == set(ORDER)
    docstring = ast.get_docstring(ast.parse((defs / "__init__.py").read_text())) or ""
    stated = [name for name in ORDER if f"`{name}/`" in docstring or f"`{name}.py`" in docstring]
    positions = [docstring.index(f"`{name}") for name in stated]
    assert stated == ORDER and positions == sorted(positions), "defs/__init__.py states the order"


def test_imports_between_concerns_run_one_way() -> None:
    upward = []
    for path in sorted((PACKAGE / "defs").rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        own = concern(module)
        if own is None:  # defs/__init__.py
            continue
        for imported in imported_modules(path):
            other = concern(imported)
            if other is not None and ORDER.index(other) < ORDER.index(own):
                upward.append(f"{path.relative_to(PACKAGE)} imports {imported}")
    assert upward == []


def test_the_dlt_source_and_the_shared_modules_import_no_definitions() -> None:
    """`gitbook/` is pure dlt; `settings` and `instance_lock` sit below every concern."""
    offending = []
    paths = [*(PACKAGE / "gitbook").rglob("*.py"), PACKAGE / "settings.py"]
    paths.append(PACKAGE / "instance_lock.py")
    for path in paths:
        for imported in imported_modules(path):
            gitbook_reaches_out = path.is_relative_to(PACKAGE / "gitbook") and (
                imported.startswith("dagster")
                or (imported.startswith("analytics_assets.") and ".gitbook" not in imported)
            )
            if gitbook_reaches_out or imported.startswith("analytics_assets.defs"):
                offending.append(f"{path.relative_to(PACKAGE)} imports {imported}")
    assert offending == []
