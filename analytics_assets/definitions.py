"""The code location's single entry point: loads `analytics_assets.defs`, holds no logic.

Each concern contributes its definitions from its folder under `defs/` (see its docstring).
`@definitions` makes loading lazy: settings are read when Dagster loads the code location,
never at import.

This is `load_from_defs_folder` without its search for pyproject.toml's `[tool.dg]`, which an
installed wheel does not ship.
"""

import warnings
from pathlib import Path

from dagster import ComponentTree, Definitions, PreviewWarning, definitions

import analytics_assets.defs


@definitions
def defs() -> Definitions:
    project_root = Path(__file__).resolve().parents[1]
    with warnings.catch_warnings():
        # The loader's module scan is marked preview; load_from_defs_folder hides it the same way.
        warnings.simplefilter("ignore", PreviewWarning)
        return ComponentTree.from_module(analytics_assets.defs, project_root).build_defs()
