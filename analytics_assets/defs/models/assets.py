"""The dbt models as Dagster assets: one `@dbt_assets` over `analytics_assets/dbt`.

Sources are the `gitbook` dataset's tables, keyed `gitbook/<table>` like the dlt assets that
load them, so the UI shows one lineage graph from the sync through the marts. Models are keyed
`analytics/<model>` in group `analytics`; every dbt test is an asset check (blocking when its
severity is error). The step shares the sync's pool: an embedded DuckDB file takes one writer.
"""

import shutil
from collections.abc import Iterator, Mapping
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    Definitions,
    Failure,
    definitions,
)
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from analytics_assets.defs.models import MODELS_GROUP
from analytics_assets.defs.models.automation import models_condition
from analytics_assets.defs.models.profile import (
    UnsupportedModelsDestination,
    profile_env,
    scoped_env,
)
from analytics_assets.defs.models.project import (
    dbt_cli,
    keep_partial_parse,
    prepared_project,
    run_target_path,
    seed_partial_parse,
)
from analytics_assets.defs.recovery.worker import CHILD_TAG, Worker
from analytics_assets.defs.resources import WarehouseResource
from analytics_assets.defs.sync.assets import CONCURRENCY_POOL

# The op; not the job's name (gitbook_models): op and job names share one namespace.
MODELS_ASSETS_NAME = "dbt_models"
MODELS_KEY_PREFIX = "analytics"


class ModelsTranslator(DagsterDbtTranslator):
    """Sources onto the dlt assets' keys; models under `analytics/`, eager with data present."""

    def __init__(self, destination: str = "duckdb") -> None:
        super().__init__()
        self.destination = destination

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return AssetKey([MODELS_KEY_PREFIX, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return MODELS_GROUP

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> Any:
        return models_condition()

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        # The manifest is parsed on DuckDB; the models run on the configured destination.
        return spec.replace_attributes(kinds={"dbt", self.destination})


def build_models_assets(project: DbtProject, destination: str = "duckdb") -> AssetsDefinition:
    """`dbt build` of the selected models and their tests, in the warehouse the sync writes."""

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        name=MODELS_ASSETS_NAME,
        dagster_dbt_translator=ModelsTranslator(destination),
        pool=CONCURRENCY_POOL,
    )
    def dbt_models(
        context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
    ) -> Iterator[Any]:
        target = warehouse.resolve_destination()
        # The dbt process inherits the profile's settings; they never appear in its arguments.
        try:
            env = profile_env(warehouse)
        except UnsupportedModelsDestination as error:
            raise Failure(description=str(error)) from None  # the message is the whole story
        run_target = run_target_path(project, context.run.run_id)
        seed_partial_parse(project, run_target)
        with scoped_env(env):
            invocation = dbt.cli(
                ["build", "--target", target], context=context, target_path=run_target
            )
        # If this worker is killed, dbt runs on for a moment: the recovery waits for it.
        child = Worker.of(invocation.process.pid).to_tag()
        context.instance.add_run_tags(context.run.run_id, {CHILD_TAG: child})
        yield from invocation.stream()
        keep_partial_parse(run_target, project)
        # A green run's artifacts are its events in Dagster; a failed run's stay for its log.
        shutil.rmtree(run_target, ignore_errors=True)

    return dbt_models


@definitions
def defs() -> Definitions:
    """The models over a current manifest, and the resource that runs dbt."""
    project = prepared_project()
    destination = WarehouseResource().resolve_destination()
    return Definitions(
        assets=[build_models_assets(project, destination=destination)],
        resources={"dbt": dbt_cli(project)},
    )
