"""`analytics/insights_report`: the report page, rebuilt whenever the marts it reads are.

An asset in the models' group, so `gitbook_models` builds it after the marts and the models'
automation refreshes it with them. It reads the marts through dlt's SQL client (any destination
the models run on), renders the page and replaces the file in one rename, so a reader never
opens half a page. The file's path and a `file://` link are the materialization's metadata, on
the asset's page in the UI.
"""

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Definitions,
    EnvVar,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    definitions,
)
from dlt.common.storages.file_storage import FileStorage

from analytics_assets.defs.models import MODELS_GROUP
from analytics_assets.defs.models.automation import models_condition
from analytics_assets.defs.report.charts import CHARTS, Chart
from analytics_assets.defs.resources import WarehouseResource
from analytics_assets.defs.sync.assets import CONCURRENCY_POOL

REPORT_KEY = AssetKey(["analytics", "insights_report"])
REPORT_PATH_ENV = "ANALYTICS_REPORT_PATH"
DEFAULT_REPORT_PATH = Path("data") / "report" / "insights.html"


def report_path() -> Path:
    """Where the page goes: $ANALYTICS_REPORT_PATH, else data/report/insights.html under the
    working directory (beside the warehouse file and dbt's folder)."""
    return Path(EnvVar(REPORT_PATH_ENV).get_value() or DEFAULT_REPORT_PATH).resolve()


def build_report_asset(destination: str = "duckdb") -> AssetsDefinition:
    """The report asset; its kinds name the destination it reads, like the models'."""

    @asset(
        key=REPORT_KEY,
        group_name=MODELS_GROUP,
        deps=sorted({AssetKey(["analytics", chart.mart]) for chart in CHARTS}, key=str),
        kinds={"html", destination},
        automation_condition=models_condition(),
        # It reads the warehouse: an embedded DuckDB file takes one writer, and a reader waits.
        pool=CONCURRENCY_POOL,
        description=(
            "One self-contained HTML page (inline SVG charts, no script, opens offline): page "
            "views per day, top pages, broken URLs, searches without results, worst-rated pages "
            f"and answers. Written to ${REPORT_PATH_ENV} (default {DEFAULT_REPORT_PATH})."
        ),
    )
    def insights_report(
        context: AssetExecutionContext, warehouse: WarehouseResource
    ) -> MaterializeResult:
        # Imported here: pygal is for the runs that draw a report, not every definitions load.
        from analytics_assets.defs.report.render import render_report

        charts = read_charts(warehouse)
        path = report_path()
        destination = warehouse.resolve_destination()
        source = str(warehouse.resolve_duckdb_path()) if destination == "duckdb" else destination
        page = render_report(charts, generated_at=datetime.now(timezone.utc), source=source)
        path.parent.mkdir(parents=True, exist_ok=True)
        FileStorage.save_atomic(str(path.parent), path.name, page)  # a rename: never half a page
        context.log.info(f"Wrote the insights report to {path}")
        return MaterializeResult(
            metadata={
                "report": MetadataValue.url(path.as_uri()),
                "path": MetadataValue.path(str(path)),
                "charts": MetadataValue.int(sum(1 for _, rows in charts if rows)),
                "empty_charts": MetadataValue.json([c.id for c, rows in charts if not rows]),
                "bytes": MetadataValue.int(len(page.encode("utf-8"))),
            }
        )

    return insights_report


def read_charts(warehouse: WarehouseResource) -> list[tuple[Chart, list[tuple[Any, ...]]]]:
    """Each chart with its mart's rows, over one connection; a missing mart names the job."""
    charts = []
    with warehouse.build_pipeline().sql_client() as client:
        for chart in CHARTS:
            try:
                rows = client.execute_sql(chart.sql) or []
            except Exception as error:
                reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
                raise Failure(
                    description=(
                        f"The report could not read analytics.{chart.mart} ({type(error).__name__}"
                        f": {reason}): build the models first (`dagster job execute -m "
                        "analytics_assets.definitions -j gitbook_models`)."
                    )
                ) from None
            charts.append((chart, [tuple(row) for row in rows]))
    return charts


@definitions
def defs() -> Definitions:
    return Definitions(assets=[build_report_asset(WarehouseResource().resolve_destination())])
