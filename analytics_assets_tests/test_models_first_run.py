"""A new account's first models run: green before any site insights day, on every destination
the models run on (DuckDB and PostgreSQL). Apart from `test_models.py`, whose tests share one
worker for its module-scoped sync, so that these run beside it."""

from datetime import datetime, timezone
from pathlib import Path

import pytest
from dagster import DagsterInstance

from analytics_assets.defs.models.project import (
    DEFAULT_TARGET_PATH,
    PARTIAL_PARSE,
    PROJECT_DIR,
    RUNS_FOLDER,
    TARGET_PATH_ENV,
)
from analytics_assets.defs.report.assets import DEFAULT_REPORT_PATH, REPORT_KEY
from analytics_assets.defs.report.charts import CHARTS
from analytics_assets.defs.resources import GitBookResource
from analytics_assets.devtools.bundled import (
    recent_days,
    run_full_sync,
    run_models,
    run_site_insights,
)
from analytics_assets.devtools.fake_api import Dataset, FakeGitBookAPI
from analytics_assets_tests.harness import TEST_TOKEN, PostgresWarehouse, Warehouse, copy_dbt_target
from analytics_assets_tests.test_models import CREDENTIALS_ENV, MODELS, _page_views


def test_the_declared_site_insights_columns_are_the_loaded_ones() -> None:
    """`source_or_empty` stands in for each site insights table with the columns `_sources.yml`
    declares; they must be the ones the sync loads, so the staging views have the same shape."""
    import yaml

    from analytics_assets.gitbook.settings import SITE_INSIGHTS_TABLES

    sources = yaml.safe_load((PROJECT_DIR / "models/staging/_sources.yml").read_text())
    (gitbook,) = sources["sources"]
    declared = {t["name"]: [c["name"] for c in t.get("columns", [])] for t in gitbook["tables"]}
    for spec in SITE_INSIGHTS_TABLES:
        assert declared[spec.name] == list(spec.columns), spec.name


@pytest.fixture(params=["duckdb", "postgres"])
def new_warehouse(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Warehouse | PostgresWarehouse:
    """An empty warehouse on each destination the models run on."""
    if request.param == "duckdb":
        return Warehouse(tmp_path / "warehouse.duckdb", tmp_path / "pipelines")
    url = request.getfixturevalue("postgres_url")
    monkeypatch.setenv(CREDENTIALS_ENV, url)
    return PostgresWarehouse(url, tmp_path / "pipelines")


@pytest.fixture
def default_dbt_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """ANALYTICS_DBT_TARGET_PATH unset, as for a new user: dbt writes under the working
    directory's data/dbt, which starts with the session's manifest, as after a first load."""
    folder = tmp_path / DEFAULT_TARGET_PATH
    copy_dbt_target(folder / "target")
    monkeypatch.delenv(TARGET_PATH_ENV)
    return folder


def _package_files() -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for path in PROJECT_DIR.rglob("*")}


def test_the_models_job_is_green_on_a_new_account_before_any_site_insights_day(
    new_warehouse: Warehouse | PostgresWarehouse,
    instance: DagsterInstance,
    default_dbt_folder: Path,
) -> None:
    """A new user's order: the full sync, then `gitbook_models` (headless, no sensor). The marts
    over site events are empty until the first day loads, then the next models run fills them.
    dbt writes nothing into the package: the runs keep their parse in data/dbt and remove their
    own folders when green."""
    package = _package_files()
    seeded_parse = (default_dbt_folder / "target" / PARTIAL_PARSE).stat().st_mtime_ns
    dataset = Dataset.demo(anchor=datetime.now(timezone.utc).date())
    warehouse, query = new_warehouse.resource(), new_warehouse.query
    with FakeGitBookAPI(dataset=dataset, token=TEST_TOKEN) as api:
        gitbook = GitBookResource(access_token=TEST_TOKEN, base_url=api.base_url)
        assert run_full_sync(gitbook, warehouse, "WARNING", instance).success
        assert "site_insights_daily" not in new_warehouse.tables()

        first = run_models(warehouse, "WARNING", instance)
        assert first.success
        assert all(check.passed for check in first.get_asset_check_evaluations())
        assert {m.asset_key.path[-1] for m in first.get_asset_materialization_events()} == set(
            MODELS
        )
        assert query("select count(*) from analytics.page_views_daily") == [(0,)]
        for mart in ("broken_urls", "search_queries_daily", "worst_rated_pages_30d"):
            assert query(f"select count(*) from analytics.{mart}") == [(0,)], mart
        # The report is written all the same: a sentence per chart, until a day is loaded.
        (report,) = [
            e for e in first.get_asset_materialization_events() if e.asset_key == REPORT_KEY
        ]
        metadata = report.materialization.metadata
        assert metadata["empty_charts"].value == [chart.id for chart in CHARTS]
        assert Path(str(metadata["path"].value)) == DEFAULT_REPORT_PATH.resolve()
        assert query("select count(*) from analytics.members_by_role")[0][0] > 0

        day = recent_days(1)
        assert run_site_insights(gitbook, warehouse, day, "WARNING", instance).success
        assert run_models(warehouse, "WARNING", instance).success
    assert query("select sum(views) from analytics.page_views_daily") == [
        (sum(_page_views(dataset, day).values()),)
    ]
    assert _package_files() == package
    assert (default_dbt_folder / "target" / PARTIAL_PARSE).stat().st_mtime_ns != seeded_parse
    assert list((default_dbt_folder / RUNS_FOLDER).iterdir()) == []
