"""How GitBook's dlt resources appear in Dagster: keys, deps, groups, kinds and column schema."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from dagster import (
    AssetKey,
    AssetSpec,
    FreshnessPolicy,
    TableColumn,
    TableColumnConstraints,
    TableSchema,
)
from dagster._core.definitions.metadata.metadata_set import TableMetadataSet
from dagster_dlt import DagsterDltTranslator
from dagster_dlt.translator import DltResourceTranslatorData

from analytics_assets.gitbook.history import HISTORIES
from analytics_assets.gitbook.settings import DATASET_NAME, RESOURCES_BY_NAME, ResourceSpec

KEY_PREFIX = "gitbook"
HISTORY_SPECS = {history.name: history.spec for history in HISTORIES}
GROUP_NAME = "gitbook"


def asset_key(resource_name: str) -> AssetKey:
    return AssetKey([KEY_PREFIX, resource_name])


def column_schema(spec: ResourceSpec) -> TableSchema:
    """The declared columns, so the UI shows the schema before the first load."""
    return TableSchema(
        columns=[
            TableColumn(
                name=name,
                type=str(column.get("data_type", "text")),
                constraints=TableColumnConstraints(
                    nullable=bool(column.get("nullable", True)),
                    other=["primary_key"] if name in spec.primary_key else [],
                ),
            )
            for name, column in spec.columns.items()
        ]
    )


class GitBookTranslator(DagsterDltTranslator):
    """`gitbook/<resource>` keys with real parent edges.

    dagster-dlt points a transformer's deps at a made-up source key; GitBook's parents are
    assets of their own, so the edges are set from the resource table in `settings.py`.
    """

    def __init__(
        self,
        destination: str = "duckdb",
        dataset_name: str = DATASET_NAME,
        freshness_windows: Mapping[str, timedelta] | None = None,
    ) -> None:
        self.destination = destination
        self.dataset_name = dataset_name
        self.freshness_windows = dict(freshness_windows or {})

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        default = super().get_asset_spec(data)
        name = data.resource.name
        spec = RESOURCES_BY_NAME[name] if name in RESOURCES_BY_NAME else HISTORY_SPECS[name]
        metadata = {
            **default.metadata,
            **TableMetadataSet(
                column_schema=column_schema(spec),
                table_name=f"{self.dataset_name}.{spec.name}",
                storage_kind=self.destination,
            ),
        }
        window = self.freshness_windows.get(spec.name)
        return default.replace_attributes(
            key=asset_key(spec.name),
            freshness_policy=FreshnessPolicy.time_window(fail_window=window) if window else None,
            deps=[asset_key(spec.parent)] if spec.parent else [],
            group_name=GROUP_NAME,
            kinds={"dlt", self.destination},
            description=spec.description,
            metadata=metadata,
        )
