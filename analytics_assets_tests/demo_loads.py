"""The demo's loads, once per test session: what `python -m analytics_assets.devtools.demo`
leaves (a full sync of the bundled API, a week of site insights, the models), laid out as in the
repository (`data/demo.duckdb` and its dlt folder). The models tests and the docs' queries read
it; none of them writes to it.

The bundled API runs its 0.91 profile, so that space traffic loads too. The models' automation is
evaluated between the steps, against the instance the loads recorded in.
"""

from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster import (
    DagsterInstance,
    EvaluateAutomationConditionsResult,
    ExecuteInProcessResult,
    evaluate_automation_conditions,
)

from analytics_assets.definitions import defs
from analytics_assets.defs.models.assets import MODELS_KEY_PREFIX
from analytics_assets.defs.models.automation import models_selection
from analytics_assets.defs.resources import GitBookResource, WarehouseResource
from analytics_assets.devtools.bundled import (
    recent_days,
    run_full_sync,
    run_models,
    run_site_insights,
)
from analytics_assets.devtools.demo import DEFAULT_DEMO_DUCKDB, DEFAULT_DEMO_PIPELINES_DIR
from analytics_assets.devtools.fake_api import LEGACY_TRAFFIC_API, Dataset, FakeGitBookAPI
from analytics_assets_tests.harness import TEST_TOKEN, isolate

Rows = list[tuple[Any, ...]]


@dataclass(frozen=True)
class DemoLoads:
    """The loaded folder, what the API served, and each automation evaluation and run."""

    root: Path
    dataset: Dataset
    days: list[date]
    after_sync: EvaluateAutomationConditionsResult
    after_site_insights: EvaluateAutomationConditionsResult
    after_models: EvaluateAutomationConditionsResult
    models: ExecuteInProcessResult

    @property
    def duckdb_path(self) -> Path:
        return self.root / DEFAULT_DEMO_DUCKDB

    @property
    def pipelines_dir(self) -> Path:
        return self.root / DEFAULT_DEMO_PIPELINES_DIR

    def query(self, sql: str, time_zone: str | None = None) -> Rows:
        """Read-only, the connection closed after, as the docs' DuckDB snippet reads."""
        with duckdb.connect(str(self.duckdb_path), read_only=True) as con:
            if time_zone:
                con.execute(f"set TimeZone = '{time_zone}'")
            return con.execute(sql).fetchall()


def load_demo(root: Path) -> DemoLoads:
    """The demo's loads into `root`, as the demo lays them out."""
    dataset = Dataset.demo(anchor=datetime.now(timezone.utc).date())
    with pytest.MonkeyPatch.context() as mp, DagsterInstance.ephemeral() as instance:
        isolate(mp, root)  # a session fixture runs before conftest's autouse isolation
        warehouse = WarehouseResource(
            destination="duckdb",
            duckdb_path=str(root / DEFAULT_DEMO_DUCKDB),
            pipelines_dir=str(root / DEFAULT_DEMO_PIPELINES_DIR),
        )
        steps = sync_and_build(warehouse, dataset, instance)
    return DemoLoads(root, dataset, recent_days(), *steps)


def sync_and_build(
    warehouse: WarehouseResource, dataset: Dataset, instance: DagsterInstance
) -> tuple[Any, ...]:
    """Full sync, the models it feeds, a week of site insights, then every model, evaluating
    the models' automation before, between and after: the three evaluations after the first,
    then the last models run."""
    asset_defs = defs()
    models_keys = [
        key
        for key in asset_defs.resolve_asset_graph().get_all_asset_keys()
        if key.path[0] == MODELS_KEY_PREFIX
    ]

    def evaluate(after: EvaluateAutomationConditionsResult | None) -> Any:
        cursor = after.cursor if after else None
        return evaluate_automation_conditions(asset_defs, instance, models_selection, cursor=cursor)

    # The sensor's first tick, before anything loads (a first evaluation only starts the cursor).
    evaluations = [evaluate(None)]
    with FakeGitBookAPI(dataset=dataset, token=TEST_TOKEN, api_version=LEGACY_TRAFFIC_API) as api:
        gitbook = GitBookResource(access_token=TEST_TOKEN, base_url=api.base_url)
        assert run_full_sync(gitbook, warehouse, "WARNING", instance).success
        evaluations.append(evaluate(evaluations[-1]))
        # The sensor would now build what the tick requested: the models the sync fed.
        first = [key for key in models_keys if evaluations[-1].get_num_requested(key)]
        assert first and run_models(warehouse, "WARNING", instance, first).success
        assert run_site_insights(gitbook, warehouse, recent_days(), "WARNING", instance).success
    evaluations.append(evaluate(evaluations[-1]))
    models = run_models(warehouse, "WARNING", instance)
    assert models.success
    evaluations.append(evaluate(evaluations[-1]))
    return (*evaluations[1:], models)
