"""Asset checks on the loaded GitBook tables: keys, parents, schema, values and data freshness.

One `@multi_asset_check` runs the checks of every unpartitioned table over one destination
connection, another those of the partitioned site insights. Rules and their SQL live in
`quality.py`; this module only says which rule guards which table, at what severity, and what a
person sees.
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetRecordsFilter,
    Definitions,
    Failure,
    MetadataValue,
    definitions,
    multi_asset_check,
)

from analytics_assets.defs.checks.quality import (
    LOADS_TABLE,
    Finding,
    Tables,
    column_mismatches,
    invalid_counts,
    invalid_traffic,
    open_version_repeats,
    open_versions_differ,
    orphans,
    overlapping_versions,
    primary_key_violations,
    row_count,
    stale_load,
    stale_traffic,
    storage_columns,
)
from analytics_assets.defs.resources import WarehouseResource
from analytics_assets.defs.sync.assets import CONCURRENCY_POOL, COVERAGE_KEY, REFUSED_KEY
from analytics_assets.defs.sync.load_metadata import PROFILE_KEY
from analytics_assets.defs.sync.translator import asset_key
from analytics_assets.gitbook.history import HISTORIES, VALID_FROM, VALID_TO, History
from analytics_assets.gitbook.schema_drift import CONTRACT_ENV, schema_changes
from analytics_assets.gitbook.settings import SITE_INSIGHTS_TABLES, TABLES, ResourceSpec
from analytics_assets.settings import SITE_INSIGHTS_NAMES, TRAFFIC_TABLE, OperationsConfig


@dataclass(frozen=True)
class CheckInputs:
    """What a rule may look at: the destination, the time, and when Dagster last recorded a
    successful load of the table (None: never)."""

    db: Tables
    now: datetime
    loaded_at: datetime | None
    refused: list[str]
    """Parents GitBook refused the token in the table's last load (its metadata)."""
    coverage: str
    profiles: tuple[Mapping[str, Any], Mapping[str, Any]] | None = None
    """The column profiles of the table's previous and last loads; None: fewer than two."""


Rule = Callable[[CheckInputs], Finding]

# Tables whose emptiness means the token sees nothing: worth a warning, not a failure.
MUST_HAVE_ROWS = ("users", "organizations")
# The step that checks every unpartitioned table.
GITBOOK_CHECKS_NAME = "gitbook_checks"
# The step that checks the partitioned site insights tables.
SITE_INSIGHTS_CHECKS_NAME = "site_insights_checks"


@dataclass(frozen=True)
class Check:
    """One named rule on one table."""

    name: str
    description: str
    severity: AssetCheckSeverity
    blocking: bool
    rule: Rule | None  # None: evaluated from the destination's column metadata


def history_checks(history: History) -> list[Check]:
    """What keeps a history table's intervals meaningful."""
    key, name, current = history.key, history.name, history.current.name
    error, warn = AssetCheckSeverity.ERROR, AssetCheckSeverity.WARN
    return [
        Check(
            "one_open_version_per_key",
            f"At most one version of each ({', '.join(key)}) has a null {VALID_TO}; two would "
            "count a member, space or site twice on any later date.",
            error,
            True,
            lambda i: open_version_repeats(i.db, name, key, VALID_TO),
        ),
        Check(
            "versions_do_not_overlap",
            "No version ends before it starts, and no two versions of one key overlap; "
            "a query for a past date then finds at most one.",
            error,
            False,
            lambda i: overlapping_versions(i.db, name, key, VALID_FROM, VALID_TO),
        ),
        Check(
            "open_versions_match_current_table",
            f"The open versions are exactly the keys of {current}; a refused organization or "
            "a run that loaded one without the other leaves them apart until the next full sync.",
            warn,
            False,
            lambda i: open_versions_differ(i.db, name, current, key, VALID_TO),
        ),
    ]


def checks_for(spec: ResourceSpec, ops: OperationsConfig) -> list[Check]:
    """Every check that guards `spec`'s table."""
    if spec.name in {history.name for history in HISTORIES}:
        return history_checks(next(h for h in HISTORIES if h.name == spec.name))
    error, warn = AssetCheckSeverity.ERROR, AssetCheckSeverity.WARN
    key = ", ".join(spec.primary_key)
    window = ops.freshness_window_for(spec.name)
    not_null = [name for name in spec.primary_key if not spec.columns[name].get("nullable", True)]
    if len(not_null) == len(spec.primary_key):
        key_check = Check(
            "primary_key_is_unique_and_not_null",
            f"No two rows share ({key}) and no part of it is null; duplicates mean a broken "
            "load or a manual insert, and double-counted metrics.",
            error,
            True,
            lambda i: primary_key_violations(i.db, spec.name, spec.primary_key),
        )
    else:
        key_check = Check(
            "key_is_unique",
            f"No two rows share ({key}), nulls counting as equal, and none of "
            f"({', '.join(not_null)}) is null; duplicates mean double-counted metrics.",
            error,
            True,
            lambda i: primary_key_violations(
                i.db, spec.name, spec.primary_key, not_null, spec.visitor_text
            ),
        )
    checks = [
        key_check,
        Check(
            "declared_columns_have_declared_types",
            "Every column the design document names exists with its declared type; a renamed "
            "field or a type change upstream breaks every query on this table.",
            error,
            True,
            None,
        ),
        Check(
            "was_loaded_within_freshness_window",
            f"The last successful load of this table (its newest materialization) is at most "
            f"{window} old; an empty table that was loaded is fresh.",
            error,
            False,
            lambda i: stale_load(spec.name, i.loaded_at, i.now, window),
        ),
    ]
    checks.append(
        Check(
            "schema_unchanged_since_previous_load",
            "The fields GitBook serves are those of the previous load; names each column "
            "added, retyped (its values now land in a dlt variant column) or, on the "
            "unpartitioned tables, removed (held values, now none). Adapt the queries that "
            f"read it; {CONTRACT_ENV}=freeze fails the sync instead of loading a change.",
            warn,
            False,
            lambda i: schema_drift(i, removals=spec.name not in SITE_INSIGHTS_NAMES),
        )
    )
    if spec.parent is not None and spec.parent_key is not None:
        checks.append(
            Check(
                f"{spec.parent_key}_exists_in_{spec.parent}",
                f"Every {spec.parent_key} names an id in {spec.parent}; orphans mean a partial "
                "load or a parent deleted between syncs.",
                error,
                False,
                lambda i: orphans(i.db, spec.name, spec.parent_key, spec.parent),
            )
        )
    if spec.parent is not None:
        checks.append(
            Check(
                "coverage_is_complete",
                f"The last sync could read {spec.name} of every {spec.parent[:-1]} it listed; "
                "a token refused some (HTTP 403, or GitBook's own permissions) makes it partial.",
                warn,
                False,
                lambda i: Finding(len(i.refused), i.refused[:5], i.coverage),
            )
        )
    if spec.name in MUST_HAVE_ROWS:
        checks.append(
            Check(
                "has_rows",
                "At least one row; none usually means the token sees no data.",
                warn,
                False,
                lambda i: Finding(int(row_count(i.db, spec.name) == 0)),
            )
        )
    if spec.name == TRAFFIC_TABLE:
        checks += [
            Check(
                "counts_are_non_negative_integers_and_timestamps_not_in_future",
                "Every count is a non-negative integer and every timestamp parses and is not in "
                "the future.",
                error,
                False,
                lambda i: invalid_traffic(i.db, spec.name, i.now),
            ),
            Check(
                "newest_point_is_recent",
                f"The newest traffic point is at most {ops.traffic_max_data_age} older than the "
                "load that fetched it; catches an API serving stale numbers.",
                error,
                False,
                lambda i: stale_traffic(i.db, spec.name, ops.traffic_max_data_age),
            ),
        ]
    if spec.name in SITE_INSIGHTS_NAMES:
        counts = [name for name in spec.columns if name.endswith("_count")]
        checks.append(
            Check(
                "counts_are_non_negative_integers",
                f"Every one of {', '.join(counts)} is a non-negative whole number.",
                error,
                False,
                lambda i: invalid_counts(
                    i.db, spec.name, counts, spec.primary_key, spec.visitor_text
                ),
            )
        )
    return checks


def schema_drift(inputs: CheckInputs, removals: bool) -> Finding:
    """What changed between the table's last two column profiles."""
    if inputs.profiles is None:
        return Finding(0, [], "Fewer than two loads with a column profile: nothing to compare.")
    changes = schema_changes(*inputs.profiles, removals=removals)
    if not changes:
        return Finding(0, [], "Same columns, types and filled columns as the previous load.")
    items = changes.items()
    return Finding(len(items), items[:5], "GitBook's fields changed: " + "; ".join(items) + ".")


def _result(check: Check, finding: Finding, spec: ResourceSpec) -> AssetCheckResult:
    metadata = {
        "failing_rows": MetadataValue.int(finding.failing_rows),
        "examples": MetadataValue.json(finding.examples),
    }
    if finding.detail:
        metadata["detail"] = MetadataValue.text(finding.detail)
    return AssetCheckResult(
        asset_key=asset_key(spec.name),
        check_name=check.name,
        passed=finding.passed,
        severity=check.severity,
        metadata=metadata,
    )


def _inputs(
    context: AssetCheckExecutionContext, spec: ResourceSpec, db: Tables, at: datetime
) -> CheckInputs:
    """What the rules of `spec`'s table see, from its last materialization's metadata."""
    key = asset_key(spec.name)
    partitioned = spec.name in SITE_INSIGHTS_NAMES
    # An unpartitioned table materializes once per run: the record before the latest is the
    # previous run's.
    records = context.instance.fetch_materializations(key, limit=1 if partitioned else 2).records
    latest = records[0] if records else None
    loaded_at = datetime.fromtimestamp(latest.timestamp, timezone.utc) if latest else None
    materialization = latest.asset_materialization if latest is not None else None
    metadata = materialization.metadata if materialization is not None else {}
    refused = metadata.get(REFUSED_KEY)
    coverage = metadata.get(COVERAGE_KEY)
    profile = metadata.get(PROFILE_KEY)
    previous: Mapping[str, Any] | None = None
    if latest is not None and profile is not None:
        if partitioned:
            previous = _previous_run_profile(context, key, latest.run_id)
        elif len(records) == 2 and records[1].asset_materialization is not None:
            earlier = records[1].asset_materialization.metadata.get(PROFILE_KEY)
            previous = earlier.value if earlier is not None else None  # type: ignore[assignment]
    return CheckInputs(
        db,
        at,
        loaded_at,
        list(refused.value) if refused is not None else [],  # type: ignore[arg-type]
        str(coverage.value) if coverage is not None else "",
        (previous, profile.value) if previous is not None and profile is not None else None,  # type: ignore[arg-type]
    )


def _previous_run_profile(
    context: AssetCheckExecutionContext, key: AssetKey, run_id: str
) -> Mapping[str, Any] | None:
    """The column profile of the table's newest load by an earlier run than `run_id`: one run
    of several days writes one materialization per day, all with the same profile."""
    run = context.instance.get_run_record_by_id(run_id)
    if run is None or run.start_time is None:
        return None
    earlier = AssetRecordsFilter(asset_key=key, before_timestamp=run.start_time)
    records = context.instance.fetch_materializations(earlier, limit=1).records
    event = records[0].asset_materialization if records else None
    profile = event.metadata.get(PROFILE_KEY) if event is not None else None
    return profile.value if profile is not None else None  # type: ignore[return-value]


def build_group_checks(
    name: str,
    specs: Sequence[ResourceSpec],
    ops: OperationsConfig,
    clock: Callable[[], datetime] | None = None,
) -> AssetChecksDefinition:
    """One step running every rule for `specs`' tables over one connection.

    One step, not one per table: each step costs a few tenths of a second of Dagster overhead,
    which for ten small tables was most of the checks' time. A rule that raises fails the step
    only after the other tables' checks were evaluated.
    """
    checks = {spec.name: checks_for(spec, ops) for spec in specs}
    now = clock or (lambda: datetime.now(timezone.utc))

    @multi_asset_check(
        name=name,
        specs=[
            AssetCheckSpec(
                name=check.name,
                asset=asset_key(spec.name),
                description=check.description,
                blocking=check.blocking,
            )
            for spec in specs
            for check in checks[spec.name]
        ],
        can_subset=True,
        # Checks read the tables a load writes: never interleave them with a sync.
        pool=CONCURRENCY_POOL,
    )
    def group_checks(
        context: AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[AssetCheckResult]:
        with warehouse.connected() as connection:  # one open of the file for the step
            pipeline = warehouse.build_pipeline(connection=connection)
            selected = {(key.asset_key, key.name) for key in context.selected_asset_check_keys}
            checked_assets = {key for key, _ in selected}
            chosen = [s for s in specs if asset_key(s.name) in checked_assets]
            tables = [t for s in chosen for t in (s.name, s.parent or s.name)]
            columns = storage_columns(pipeline, list(dict.fromkeys([*tables, LOADS_TABLE])))
            at = now()
            errors: list[str] = []
            with pipeline.sql_client() as client:
                db = Tables(client, set(columns))
                for spec in chosen:
                    inputs = _inputs(context, spec, db, at)
                    try:
                        for check in checks[spec.name]:
                            if (asset_key(spec.name), check.name) not in selected:
                                continue
                            if check.rule is None:
                                finding = column_mismatches(spec.columns, columns.get(spec.name))
                            else:
                                finding = check.rule(inputs)
                            yield _result(check, finding, spec)
                    except Exception as error:  # the other tables are still checked
                        context.log.error(f"Checks of {spec.name} could not run: {error!r}")
                        errors.append(spec.name)
        if errors:
            raise Failure(
                f"The checks of {', '.join(errors)} could not run (the errors are above); the "
                "other tables' checks ran. Re-run the checks once the cause is fixed."
            )

    return group_checks


def build_site_insights_checks(
    ops: OperationsConfig, clock: Callable[[], datetime] | None = None
) -> AssetChecksDefinition:
    """The partitioned site insights tables' checks, in a step of their own."""
    return build_group_checks(SITE_INSIGHTS_CHECKS_NAME, SITE_INSIGHTS_TABLES, ops, clock)


def build_checks(
    ops: OperationsConfig, clock: Callable[[], datetime] | None = None
) -> list[AssetChecksDefinition]:
    """Two steps: every unpartitioned table with its history, and the partitioned site insights
    (their job is partitioned, so their checks run in its runs)."""
    unpartitioned = [s for s in TABLES if s.name not in SITE_INSIGHTS_NAMES]
    unpartitioned += [history.spec for history in HISTORIES]
    return [
        build_group_checks(GITBOOK_CHECKS_NAME, unpartitioned, ops, clock),
        build_site_insights_checks(ops, clock),
    ]


@definitions
def defs() -> Definitions:
    return Definitions(asset_checks=build_checks(OperationsConfig.from_env()))
