"""The dbt profile's settings, taken from the warehouse the sync writes: never configured twice.

`dbt/profiles.yml` reads ANALYTICS_DBT_* variables; this module sets them, for the one dbt
process a run starts, from `WarehouseResource` (destination, DuckDB file, memory limit) and from
dlt's resolved destination credentials (`DESTINATION__POSTGRES__CREDENTIALS`, `.dlt/secrets.toml`).
"""

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from analytics_assets.defs.resources import (
    DEFAULT_DUCKDB_MEMORY_LIMIT,
    DUCKDB_MEMORY_LIMIT_ENV,
    WarehouseResource,
)

# Destinations with an output in profiles.yml (and the dbt adapter a dependency installs).
PROFILE_TARGETS = ("duckdb", "postgres")
# A run that builds some models runs the tests whose every parent is built or upstream of one
# (dbt's "buildable"): a relationships test to a model that was not selected, and maybe never
# built yet (the site insights models before the first day loads), waits for a run that has both.
INDIRECT_SELECTION = {"DBT_INDIRECT_SELECTION": "buildable"}


class UnsupportedModelsDestination(ValueError):
    """The destination has no output in the dbt profile."""


def profile_env(warehouse: WarehouseResource) -> dict[str, str]:
    """The ANALYTICS_DBT_* values for this warehouse (a password included: keep it off logs)."""
    destination = warehouse.resolve_destination()
    if destination == "duckdb":
        memory = (
            warehouse.duckdb_memory_limit
            or os.environ.get(DUCKDB_MEMORY_LIMIT_ENV)
            or DEFAULT_DUCKDB_MEMORY_LIMIT
        )
        path = warehouse.resolve_duckdb_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        return {
            **INDIRECT_SELECTION,
            "ANALYTICS_DBT_DUCKDB_PATH": str(path),
            "ANALYTICS_DBT_DUCKDB_MEMORY_LIMIT": memory,
        }
    if destination == "postgres":
        credentials = warehouse.build_pipeline().destination_client().config.credentials
        return {
            **INDIRECT_SELECTION,
            "ANALYTICS_DBT_PG_HOST": str(credentials.host),
            "ANALYTICS_DBT_PG_PORT": str(credentials.port or 5432),
            "ANALYTICS_DBT_PG_USER": str(credentials.username),
            "ANALYTICS_DBT_PG_PASSWORD": str(credentials.password or ""),
            "ANALYTICS_DBT_PG_DATABASE": str(credentials.database),
        }
    raise UnsupportedModelsDestination(
        f"The dbt models run on {', '.join(PROFILE_TARGETS)}; ANALYTICS_DESTINATION is "
        f"{destination!r}. Install its dbt adapter, add an output named {destination!r} to "
        "analytics_assets/dbt/profiles.yml and fill its settings in profile_env() in "
        "analytics_assets/defs/models/profile.py (see docs/models.md, Other destinations)."
    )


@contextmanager
def scoped_env(values: Mapping[str, str]) -> Iterator[None]:
    """Set variables for the block (a dbt process started inside inherits them), then restore."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
