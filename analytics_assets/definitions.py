"""The code location's single entry point: loads `analytics_assets.defs`, holds no logic.

Each concern contributes its definitions from its folder under `defs/` (see its docstring).
`@definitions` makes loading lazy: settings are read when Dagster loads the code location,
never at import.

This is `load_from_defs_folder` without its search for pyproject.toml's `[tool.dg]`, which an
installed wheel does not ship.
"""

import os
import warnings
from functools import lru_cache
from pathlib import Path

from dagster import ComponentTree, Definitions, PreviewWarning, definitions
from dlt.common.runtime.run_context import active

import analytics_assets.defs

ROOT = Path(__file__).resolve().parents[1]


@definitions
def defs() -> Definitions:
    """One load per process and settings. Dagster calls this up to five times in one
    `dagster job execute` (the job's origin, its reconstruction, each step), 0.3-0.4 s each
    after the first."""
    return _load(os.getcwd(), tuple(sorted(os.environ.items())), _dlt_files())


def _dlt_files() -> tuple[tuple[str, int], ...]:
    """dlt's config and secrets files (the project's `.dlt` and dlt's global folder) and when
    each last changed: settings the definitions read besides the environment."""
    files = (p for folder in _dlt_folders(os.getcwd()) for p in folder.glob("*.toml"))
    return tuple(sorted((str(p), p.stat().st_mtime_ns) for p in files if p.is_file()))


@lru_cache(maxsize=4)
def _dlt_folders(cwd: str) -> tuple[Path, ...]:
    """Asked once per working folder: dlt finds its global folder by trying to write there."""
    context = active()
    return tuple({Path(cwd) / context.settings_dir, Path(context.global_dir)})


@lru_cache(maxsize=4)
def _load(
    cwd: str, environment: tuple[tuple[str, str], ...], dlt_files: tuple[tuple[str, int], ...]
) -> Definitions:
    """The arguments are only the cache's key: what the settings are read from."""
    with warnings.catch_warnings():
        # The loader's module scan is marked preview; load_from_defs_folder hides it the same way.
        warnings.simplefilter("ignore", PreviewWarning)
        return ComponentTree.from_module(analytics_assets.defs, ROOT).build_defs()
