"""What tests share besides fixtures: the test token, the warehouse and the asset runner."""

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster import (
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    DagsterInstance,
    ExecuteInProcessResult,
    materialize,
)
from dagster_dlt import DagsterDltResource

from analytics_assets.defs.checks.tables import build_checks
from analytics_assets.defs.models.project import PROJECT_DIR, TARGET_PATH_ENV
from analytics_assets.defs.report.assets import REPORT_PATH_ENV
from analytics_assets.defs.resources import (
    BASE_URL_ENV,
    DESTINATION_ENV,
    DUCKDB_PATH_ENV,
    FULL_REFETCH_ENV,
    PIPELINES_DIR_ENV,
    SPACE_IDS_ENV,
    TOKEN_ENV,
    GitBookResource,
    WarehouseResource,
)
from analytics_assets.defs.sync.assets import build_gitbook_assets
from analytics_assets.devtools.fake_api import Dataset, FakeGitBookAPI
from analytics_assets.devtools.fake_api.site_insights import ATOM_FIELDS
from analytics_assets.gitbook.personal_data import PII_ENV, PII_KEY_ENV
from analytics_assets.gitbook.site_insights_groupings import PAGE, PAGE_COLUMNS, Grouping
from analytics_assets.settings import OperationsConfig

TEST_TOKEN = "gb_test_token_3f9a1c7e5b2d4f6a"
# The asset checks a healthy account runs: those on the raw tables, and the dbt tests.
RAW_CHECKS = 86
# Those of the unpartitioned tables (the full sync's), histories included.
UNPARTITIONED_CHECKS = 51
DBT_TESTS = 52
ALL_CHECKS = RAW_CHECKS + DBT_TESTS
# Small enough that retry tests take milliseconds, large enough to tell from Retry-After.
TEST_BACKOFF_FACTOR = 0.01


# Variables a developer may have set that no test may see (conftest clears them).
SETTINGS_ENV = (
    TOKEN_ENV,
    BASE_URL_ENV,
    SPACE_IDS_ENV,
    DESTINATION_ENV,
    DUCKDB_PATH_ENV,
    PIPELINES_DIR_ENV,
    FULL_REFETCH_ENV,
    REPORT_PATH_ENV,
    PII_ENV,
    PII_KEY_ENV,
)
# dbt's folder, shared by every test of this checkout (and kept for the next session): a folder
# per test would parse the dbt project in each one, about 5 s of CPU. Its manifest is current
# or parsed again under a lock, as for any deployment (see defs/models/project.py).
SHARED_DBT_TARGET = Path(tempfile.gettempdir()) / (
    f"analytics-assets-tests-dbt-{os.getuid()}-"
    + hashlib.sha256(str(PROJECT_DIR).encode()).hexdigest()[:10]
)


def expected_rows(
    dataset: Dataset, grouping: Grouping, days: Sequence[date]
) -> dict[tuple[Any, ...], tuple[int, int, int]]:
    """What `grouping`'s table must hold for `days`, summed straight from the bundled API's
    atoms: `(site_id, day, event_type, *the grouping's warehouse columns)` to `(events,
    sessions, visitors)`. Independent of the client's queries and splitting."""
    totals: dict[tuple[Any, ...], tuple[int, int, int]] = {}
    for site_id in dataset.published_site_ids():
        for day in days:
            for atom in dataset.site_events(site_id, day):
                if grouping.event_types and atom.event_type not in grouping.event_types:
                    continue
                key: list[Any] = [site_id, day, atom.event_type]
                for column, _ in grouping.columns:
                    if column == PAGE:
                        key += [None, None] if atom.page is None else [atom.page[1], atom.page[0]]
                    else:
                        key.append(getattr(atom, ATOM_FIELDS[column]))
                events, sessions, visitors = totals.get(tuple(key), (0, 0, 0))
                totals[tuple(key)] = (
                    events + atom.events,
                    sessions + atom.sessions,
                    visitors + atom.visitors,
                )
    return totals


def loaded_rows(
    query: Callable[[str], list[tuple[Any, ...]]], grouping: Grouping
) -> dict[tuple[Any, ...], tuple[int, int, int]]:
    """`grouping`'s table keyed like :func:`expected_rows`."""
    columns = [
        part
        for column, name in grouping.columns
        for part in (PAGE_COLUMNS if column == PAGE else (name,))
    ]
    rows = query(
        f"select site_id, day, event_type, {', '.join(columns)}, events_count, sessions_count, "
        f"visitors_count from gitbook.{grouping.name}"
    )
    return {tuple(row[:-3]): tuple(row[-3:]) for row in rows}


def copy_dbt_target(destination: Path) -> None:
    """The session's current manifest and kept parse (times kept, so current there too) into
    `destination`, as after a first load; only those two files, never another worker's
    temporary ones."""
    from analytics_assets.defs.models.project import PARTIAL_PARSE, prepared_project

    source = prepared_project().target_path
    destination.mkdir(parents=True, exist_ok=True)
    for name in ("manifest.json", PARTIAL_PARSE):
        if (source / name).exists():
            shutil.copy2(source / name, destination / name)


def isolate(mp: pytest.MonkeyPatch, root: Path) -> None:
    """No test sees the developer's GitBook or warehouse settings, or their dlt folder: `root`
    is the working directory and holds dlt's data. conftest applies it to every test; a
    module-scoped fixture, which runs before conftest's, applies it itself."""
    for name in SETTINGS_ENV:
        mp.delenv(name, raising=False)
    mp.setenv("DLT_DATA_DIR", str(root / "dlt_data"))
    mp.setenv(TARGET_PATH_ENV, str(SHARED_DBT_TARGET))
    # As in .dlt/config.toml, which tests do not read (they run in their tmp dir).
    mp.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    mp.chdir(root)


# The asset graph: each table and the tables it hangs off.
EXPECTED_PARENTS = {
    "users": set(),
    "organizations": set(),
    "spaces": {"organizations"},
    "org_members": {"organizations"},
    "sites": {"organizations"},
    "content": {"spaces"},
    "insights_traffic": {"spaces"},
    "site_insights_daily": {"sites"},
    "site_searches_daily": {"sites"},
    "site_page_feedback_daily": {"sites"},
    "site_ai_questions_daily": {"sites"},
    "site_audience_daily": {"sites"},
    "org_members_history": {"org_members"},
    "spaces_history": {"spaces"},
    "sites_history": {"sites"},
}


class _Queries:
    """Row counts and table names for any warehouse that can run SQL (`?` placeholders)."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def count(self, table: str) -> int:
        return int(self.query(f"select count(*) from gitbook.{table}")[0][0])

    def tables(self) -> set[str]:
        rows = self.query(
            "select table_name from information_schema.tables where table_schema = 'gitbook'"
        )
        return {row[0] for row in rows}


@dataclass
class Warehouse(_Queries):
    """A DuckDB file and dlt folder under the test's tmp dir."""

    duckdb_path: Path
    pipelines_dir: Path

    def resource(self) -> WarehouseResource:
        return WarehouseResource(
            duckdb_path=str(self.duckdb_path), pipelines_dir=str(self.pipelines_dir)
        )

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.duckdb_path), read_only=True) as con:
            return con.execute(sql, list(params)).fetchall()


@dataclass
class PostgresWarehouse(_Queries):
    """A PostgreSQL database reached the way a user configures it: dlt's credentials variable."""

    url: str
    pipelines_dir: Path

    def resource(self) -> WarehouseResource:
        return WarehouseResource(destination="postgres", pipelines_dir=str(self.pipelines_dir))

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        import psycopg2

        with psycopg2.connect(self.url) as con, con.cursor() as cursor:
            cursor.execute(sql.replace("?", "%s"), list(params))
            return list(cursor.fetchall())


@dataclass
class Runner:
    """Materializes the real GitBook assets against the fake API and the test warehouse."""

    api: FakeGitBookAPI
    warehouse: Warehouse | PostgresWarehouse
    instance: DagsterInstance
    ops: OperationsConfig = field(default_factory=OperationsConfig)
    clock: Callable[[], datetime] | None = None

    def gitbook(self, **overrides: Any) -> GitBookResource:
        settings: dict[str, Any] = {
            "access_token": TEST_TOKEN,
            "base_url": self.api.base_url,
            "backoff_factor": TEST_BACKOFF_FACTOR,
            **overrides,
        }
        return GitBookResource(**settings)

    def resources(self, **gitbook_overrides: Any) -> dict[str, Any]:
        return {
            "dlt": DagsterDltResource(),
            "gitbook": self.gitbook(**gitbook_overrides),
            "warehouse": self.warehouse.resource(),
        }

    def run_checks(self) -> ExecuteInProcessResult:
        """Every asset check, without loading anything first."""
        return materialize(
            [build_gitbook_assets(), *build_checks(self.ops, self.clock)],
            selection=AssetSelection.all_asset_checks(),
            instance=self.instance,
            resources=self.resources(),
            raise_on_error=False,
        )

    def materialize(
        self,
        selection: Sequence[str] | None = None,
        *,
        raise_on_error: bool = True,
        with_checks: bool = False,
        extra_assets: Sequence[AssetsDefinition] = (),
        run_config: dict[str, Any] | None = None,
        **gitbook_overrides: Any,
    ) -> ExecuteInProcessResult:
        assets = build_gitbook_assets()
        keys = [AssetKey(["gitbook", name]) for name in selection] if selection else None
        checks = build_checks(self.ops, self.clock) if with_checks else []
        return materialize(
            [assets, *checks, *extra_assets],
            selection=keys,
            instance=self.instance,
            resources=self.resources(**gitbook_overrides),
            raise_on_error=raise_on_error,
            run_config=run_config,
        )


def failure_message(result: ExecuteInProcessResult) -> str:
    """The step failure's message and its causes, as a person sees them in the run log."""
    failures = [event for event in result.all_events if event.is_step_failure]
    assert failures, "expected the run to fail"
    error = failures[0].step_failure_data.error
    parts = []
    while error is not None:
        parts.append(error.message)
        error = error.cause
    user_failure = failures[0].step_failure_data.user_failure_data
    if user_failure is not None and user_failure.description:
        parts.insert(0, user_failure.description)
    return "\n".join(parts)
