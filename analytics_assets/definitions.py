"""The code location's single entry point: loads `analytics_assets.defs`, holds no logic.

Each concern contributes its definitions from its folder under `defs/`. `@definitions` makes
loading lazy: settings are read when Dagster loads the code location, never at import.
"""

from pathlib import Path

from dagster import Definitions, definitions, load_from_defs_folder


@definitions
def defs() -> Definitions:
    return load_from_defs_folder(path_within_project=Path(__file__).parent)
