"""Property: any account GitBook's schemas allow syncs, with one row per distinct key.

The hand-written demo data only covers the shapes we thought of. Here the payloads are generated
from GitBook's own OpenAPI schemas (see ``openapi_strategies``), served by the bundled API with
its normal cursor pagination, and loaded through the real Dagster assets into DuckDB. The
expected rows are computed from the generated objects, not with the client's code.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from dagster import DagsterInstance
from hypothesis import HealthCheck, Phase, event, given, settings

from analytics_assets.devtools.fake_api import LEGACY_TRAFFIC_API, Dataset, FakeGitBookAPI
from analytics_assets.devtools.fake_api.dataset import DEMO_ANCHOR
from analytics_assets.devtools.fake_api.site_insights import aggregate
from analytics_assets.gitbook.settings import RESOURCES
from analytics_assets_tests.harness import TEST_TOKEN, Runner, Warehouse, failure_message
from analytics_assets_tests.openapi_contract import validate_request, validate_response
from analytics_assets_tests.openapi_strategies import (
    Account,
    accounts,
    parse_timestamp,
    walk_pages,
)

TABLES = tuple(spec.name for spec in RESOURCES)  # the unpartitioned tables of the main sync
# 20 examples take about 45 s on 2 cores; raise it for a deeper local or nightly run.
MAX_EXAMPLES = int(os.environ.get("GITBOOK_PROPERTY_EXAMPLES", "20"))
# Small pages, so every list and most page trees and traffic series span several requests.
MAX_PAGE_SIZE = 2
# The key columns of each table, as SQL; timestamps compared as UTC microseconds since epoch.
KEY_SQL = {
    "users": "id",
    "organizations": "id",
    "spaces": "id",
    "org_members": "organization_id, id",
    "sites": "id",
    "content": "space_id, id",
    "insights_traffic": 'space_id, epoch_us("timestamp")',
}
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
AGGREGATE = "/orgs/{organizationId}/sites/{siteId}/insights/events/aggregate"
# Site insights queries whose answers must match GitBook's response schema, for every site.
INSIGHT_QUERIES: list[dict[str, Any]] = [
    {
        "range": {"from": "2024-06-30T00:00:00.000Z", "to": "2024-06-30T23:59:59.999Z"},
        "groupBy": [{"column": "eventType"}, {"column": "page"}, {"column": "urlPath"}],
        "select": [
            {"column": "eventsCount"},
            {"column": "sessionsCount"},
            {"column": "visitorsCount"},
        ],
    },
    {
        "range": "last7Days",
        "groupBy": [
            {"column": "datetime", "interval": "hour"},
            {"column": "hourOfDay"},
            {"column": "dayOfWeek"},
        ],
        "where": [{"column": "page", "values": [None]}],
        "limit": 5,
    },
    {"range": "last24Hours", "select": []},
]


def epoch_us(moment: datetime) -> int:
    """Microseconds since the epoch, as DuckDB's ``epoch_us`` gives them."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def lists_members(account: Account, org_id: str) -> bool:
    """Whether the org's `permissions` let the token's user list its members."""
    org = next(org for org in account.organizations if org["id"] == org_id)
    return (org.get("permissions") or {}).get("listMembers") is not False


def expected_keys(account: Account) -> dict[str, set[Any]]:
    """The distinct primary keys a correct sync lands per table (merge on these keys)."""
    return {
        "users": {account.user["id"]},
        "organizations": {org["id"] for org in account.organizations},
        "spaces": {space["id"] for space in account.spaces},
        # GitBook says where the token's user may not list members: those are not asked for.
        "org_members": {
            (org_id, member["id"])
            for org_id, members in account.members_by_org.items()
            if lists_members(account, org_id)
            for member in members
        },
        "sites": {site["id"] for sites in account.sites_by_org.values() for site in sites},
        "content": {
            (space_id, page["id"])
            for space_id, pages in account.pages_by_space.items()
            for page in walk_pages(pages)
        },
        "insights_traffic": {
            (space_id, epoch_us(parse_timestamp(point["timestamp"])))
            for space_id, views in account.traffic_by_space.items()
            for point in views
        },
    }


def loaded_keys(warehouse: Warehouse) -> dict[str, tuple[int, set[Any]]]:
    """Rows per table and their distinct keys; dlt creates no table for a resource with no
    rows, which counts as empty."""
    existing = warehouse.tables()
    loaded: dict[str, tuple[int, set[Any]]] = {}
    for table in TABLES:
        rows = (
            warehouse.query(f"select {KEY_SQL[table]} from gitbook.{table}")
            if table in existing
            else []
        )
        loaded[table] = (len(rows), {row[0] if len(row) == 1 else tuple(row) for row in rows})
    return loaded


def test_the_insight_queries_are_valid_gitbook_requests() -> None:
    """The queries the property test sends the fake are ones GitBook would accept."""
    for query in INSIGHT_QUERIES:
        validate_request(AGGREGATE, query)


def features(account: Account) -> Iterator[str]:
    """The awkward cases an example holds, reported by ``--hypothesis-show-statistics``."""
    pages = {s: list(walk_pages(p)) for s, p in account.pages_by_space.items()}
    if any(page.get("pages") for tree in pages.values() for page in tree):
        yield "nested pages"
    if any("pages" not in page for tree in pages.values() for page in tree):
        yield "page without a pages key"
    page_ids = [page["id"] for tree in pages.values() for page in tree]
    if len(page_ids) > len(set(page_ids)):
        yield "page id in several spaces"
    moments = [
        parse_timestamp(p["timestamp"]) for v in account.traffic_by_space.values() for p in v
    ]
    if len(moments) > len(set(moments)):
        yield "traffic timestamp in several spaces"
    members = [m["id"] for ms in account.members_by_org.values() for m in ms]
    if len(members) > len(set(members)):
        yield "member in several orgs"
    path_ids = [o["id"] for o in account.organizations] + [s["id"] for s in account.spaces]
    if any(c in "/+ %?#" for value in path_ids for c in value):
        yield "org or space id with / + space % ? or #"
    lists = [
        *account.spaces_by_org.values(),
        *account.members_by_org.values(),
        *account.pages_by_space.values(),
        *account.traffic_by_space.values(),
    ]
    if any(len(rows) > MAX_PAGE_SIZE for rows in lists):
        yield "a list spanning several requests"


def served_payloads(account: Account, dataset: Dataset) -> Iterator[tuple[str, Any]]:
    """Each endpoint's response body as the API serves it, before pagination slices lists."""
    yield "/user", account.user
    yield "/orgs", {"items": account.organizations, "count": len(account.organizations)}
    for org in account.organizations:
        for route, rows in (
            ("/orgs/{organizationId}/spaces", account.spaces_by_org[org["id"]]),
            ("/orgs/{organizationId}/members", account.members_by_org[org["id"]]),
        ):
            yield route, {"items": rows, "count": len(rows)}
    for space in account.spaces:
        revision = {
            **dataset.revision_of(space["id"]),
            "pages": account.pages_by_space[space["id"]],
        }
        yield "/spaces/{spaceId}/content", revision
        views = account.traffic_by_space[space["id"]]
        total = dataset.traffic(space["id"]).total
        yield "/spaces/{spaceId}/insights/traffic", {"count": total, "views": views}
    now = datetime.combine(DEMO_ANCHOR, datetime.min.time(), timezone.utc) + timedelta(hours=12)
    for org in account.organizations:
        sites = account.sites_by_org[org["id"]]
        yield "/orgs/{organizationId}/sites", {"items": sites, "count": len(sites)}
        for site in sites:
            for query in INSIGHT_QUERIES:
                yield AGGREGATE, aggregate(dataset, site["id"], query, now)


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    # No shrinking: every shrink step is a full sync, and shrinking one failure takes minutes.
    # The failure still names the table and column; add Phase.shrink locally to minimise it.
    phases=[Phase.explicit, Phase.generate],
    # The only function-scoped fixture is the autouse environment isolation (env vars, cwd),
    # which is safe to share; each example makes its own API, warehouse and Dagster instance.
    # Generating a whole account from GitBook's big schemas is slow by Hypothesis' standards.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(account=accounts())
def test_any_schema_valid_account_syncs_one_row_per_distinct_key(account: Account) -> None:
    """Whatever GitBook may send within its schemas, the sync succeeds and merges exactly."""
    dataset = Dataset.from_objects(
        user=account.user,
        organizations=account.organizations,
        spaces_by_org=account.spaces_by_org,
        members_by_org=account.members_by_org,
        pages_by_space=account.pages_by_space,
        traffic_by_space=account.traffic_by_space,
        sites_by_org=account.sites_by_org,
    )
    for feature in features(account):
        event(feature)
    # The generator must not drift from GitBook's real schemas (it simplifies them).
    for route, payload in served_payloads(account, dataset):
        validate_response(route, payload, method="post" if route == AGGREGATE else "get")

    with (
        tempfile.TemporaryDirectory(prefix="gitbook-property-") as tmp,
        FakeGitBookAPI(dataset=dataset, token=TEST_TOKEN, api_version=LEGACY_TRAFFIC_API) as api,
        DagsterInstance.ephemeral() as instance,
    ):
        warehouse = Warehouse(Path(tmp) / "warehouse.duckdb", Path(tmp) / "dlt_pipelines")
        # Small pages, so generated lists take several.
        runner = Runner(api, warehouse, instance)
        # The tables only: their history tables are another load, not what this property is about.
        result = runner.materialize(TABLES, raise_on_error=False, page_size=MAX_PAGE_SIZE)
        assert result.success, failure_message(result)

        expected = expected_keys(account)
        loaded = loaded_keys(warehouse)
        assert {t: rows for t, (rows, _) in loaded.items()} == {
            t: len(keys) for t, keys in expected.items()
        }
        for table in TABLES:
            assert loaded[table][1] == expected[table], table
