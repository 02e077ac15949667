"""The site insights dlt source: every site's aggregated events for the given UTC days, one
table per grouping (`site_insights_groupings.py`).

Its own source (and, in Dagster, its own pipeline) because its days come from a partition: the
unpartitioned tables never wait for, or get partitioned with, it. Organizations and sites are
discovered once, with the same `rest_api` entries as the main source, unloaded here; each
(site, day) of a published site is then one task per table, run in a thread pool of
`max_concurrency` workers, that posts the day's aggregation queries. Each table replaces the
run's days whole (see `replaced_scope`).

A day that fails for a table (GitBook errors for it after the retries, or answers it malformed)
is recorded in that table's `FailedDays` and left out of that table's load, rows and delete
alike; its other days, and the other tables, still load. Failures no day escapes (token,
permissions, rate-limit budget) still stop the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import date
from typing import Any

import dlt
from dlt.extract.hints import make_hints
from dlt.extract.resource import DltResource
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from dlt.sources.helpers.rest_client.exceptions import IgnoreResponseException
from dlt.sources.rest_api import rest_api_resources
from requests import RequestException

from analytics_assets.gitbook.access import Access
from analytics_assets.gitbook.errors import GitBookError
from analytics_assets.gitbook.failed_days import RUN_LEVEL_ERRORS, FailedDays
from analytics_assets.gitbook.http import build_session, child_guard, require_safe_base_url
from analytics_assets.gitbook.merge_scope import sql_literals
from analytics_assets.gitbook.path_segment import PathSegment
from analytics_assets.gitbook.settings import (
    BACKOFF_FACTOR,
    DEFAULT_BASE_URL,
    MAX_CONCURRENCY,
    MAX_PAGES_PER_REQUEST_CHAIN,
    MAX_RATE_LIMIT_WAIT_SECONDS,
    MAX_RETRIES,
    ORGANIZATIONS,
    PAGE_SIZE,
    REQUEST_TIMEOUT_SECONDS,
    SITES,
    SOURCE_NAME,
)
from analytics_assets.gitbook.site_insights_groupings import GROUPINGS, Grouping
from analytics_assets.gitbook.site_insights_query import fetch_day
from analytics_assets.gitbook.source import SCHEMA_CONTRACT, discovery_resources

logger = logging.getLogger(__name__)

SITE_INSIGHTS_SOURCE_NAME = "gitbook_site_insights"


@dlt.source(name=SITE_INSIGHTS_SOURCE_NAME, section=SOURCE_NAME, schema_contract=SCHEMA_CONTRACT)
def site_insights_source(
    days: Sequence[date],
    access_token: str = dlt.secrets.value,
    base_url: str = DEFAULT_BASE_URL,
    max_retries: int = MAX_RETRIES,
    backoff_factor: float = BACKOFF_FACTOR,
    request_timeout: float = REQUEST_TIMEOUT_SECONDS,
    max_pages: int = MAX_PAGES_PER_REQUEST_CHAIN,
    max_concurrency: int = MAX_CONCURRENCY,
    page_size: int = PAGE_SIZE,
    max_rate_limit_wait: float = MAX_RATE_LIMIT_WAIT_SECONDS,
    allow_insecure_http: bool = False,
    warn: Callable[[str], None] = logger.warning,
    info: Callable[[str], None] = logger.info,
    on_page: Callable[[str], None] | None = None,
    access: Access | None = None,
    failed_days: dict[str, FailedDays] | None = None,
) -> list[DltResource]:
    """Each grouping's rows of every published site the token sees, for each day in `days`.

    Settings are shared with the main source (`[sources.gitbook]` in dlt's config). A site whose
    insights the token may not read (403) is skipped through `access`, like the main source's.
    Days that could not be loaded are recorded in `failed_days` under their table's name, for
    the caller to report.
    """
    access = access or Access(warn=warn)
    access.share([grouping.name for grouping in GROUPINGS])
    failed_days = failed_days if failed_days is not None else {}
    base_url = require_safe_base_url(base_url, allow_insecure_http=allow_insecure_http)
    session = build_session(
        max_retries=max_retries,
        backoff_factor=backoff_factor,
        request_timeout=request_timeout,
        max_concurrency=max_concurrency,
        max_rate_limit_wait=max_rate_limit_wait,
        warn=warn,
    )
    _organizations, sites = rest_api_resources(
        discovery_resources(
            (ORGANIZATIONS, SITES),
            access_token=access_token,
            base_url=base_url,
            session=session,
            attempts=max_retries + 1,
            max_pages=max_pages,
            page_size=page_size,
            warn=warn,
            on_page=on_page,
            access=access,
        )
    )
    client = RESTClient(base_url=base_url, auth=BearerTokenAuth(access_token), session=session)

    # Discovered before extraction: the load's delete scope names the sites that exist now.
    listed = list(sites)
    # An unpublished site has no visitors: it costs no request, and keeps the rows it has.
    unpublished = sorted(str(site["id"]) for site in listed if site.get("published") is False)
    if unpublished:
        info(f"Skipping {len(unpublished)} unpublished site(s): {', '.join(unpublished)}")
    site_days = [
        {"organization_id": site["organization_id"], "site_id": site["id"], "day": day}
        for site in listed
        if str(site["id"]) not in unpublished
        for day in days
    ]
    site_ids = [str(site["id"]) for site in listed]

    def table(grouping: Grouping) -> DltResource:
        failed = failed_days.setdefault(grouping.name, FailedDays())
        guard = child_guard(
            grouping.spec, attempts=max_retries + 1, warn=warn, on_page=on_page, access=access
        )

        def site_day_rows(task: dict[str, Any]) -> list[dict[str, Any]]:
            day: date = task["day"]
            if day in failed:  # another site already lost this day: it will not load anyway
                return []
            site_id = str(task["site_id"])
            if (reason := access.refusal(grouping.name, site_id)) is not None:
                # Refused for another table of this endpoint: the same scope, not asked again.
                access.refuse(grouping.name, SITES.name, site_id, reason)
                return []
            path = grouping.spec.path.format(
                organization_id=PathSegment(task["organization_id"]),
                site_id=PathSegment(task["site_id"]),
            )

            def post(body: dict[str, Any]) -> Any:
                return client.post(path, json=body, hooks={"response": [guard]}).json()

            where = f"resource '{grouping.name}' at POST {path} (site '{site_id}')"
            try:
                rows = fetch_day(post, day, site_id=site_id, grouping=grouping)
            except IgnoreResponseException:  # deleted after it was listed, or its insights refused
                return []
            except RUN_LEVEL_ERRORS:
                raise
            except ValueError as exc:  # an answer whose columns do not line up, or another day
                return _day_failed(
                    failed, grouping.name, day, f"GitBook's answer for {where} is malformed: {exc}"
                )
            except GitBookError as exc:  # an error status left after the retries, cut-off groups
                return _day_failed(failed, grouping.name, day, str(exc))
            except RequestException as exc:  # no answer at all after the retries
                return _day_failed(
                    failed, grouping.name, day, f"{type(exc).__name__} for {where} on every attempt"
                )
            for row in rows:
                row["organization_id"] = str(task["organization_id"])
            return rows

        @dlt.resource(
            name=grouping.name,
            primary_key=list(grouping.spec.primary_key),
            columns=dict(grouping.spec.columns),
            write_disposition={
                "disposition": "merge",
                "strategy": "delete-insert",
                "destination_scope": replaced_scope(days, site_ids, unpublished),
            },
        )
        def rows() -> Iterator[Any]:
            """The run's days, replaced whole, in one transaction: every row of those days, and
            every row of a site that no longer exists, is deleted; then the rows fetched now are
            inserted. The marker puts the table in the load even when nothing was fetched, so
            the delete still runs (and the table exists).

            The hints are set again once every task is done, when the failed days are known:
            the last hints are the ones dlt loads with, so a failed day is neither deleted nor
            inserted, and a table that lost every day is left as it was.
            """
            # One task per (site, day), submitted before the first yield: dlt's round robin
            # reaches every selected table's generator at once, so all tables' requests share
            # the concurrency cap from the start. (dlt's own parallel transformers, nested in
            # this generator, would start one table's requests only after another's first
            # answer; run in dlt's workers, they mangle its injected context.)
            with ThreadPoolExecutor(max_concurrency, f"{grouping.name}-") as pool:
                futures = [pool.submit(site_day_rows, task) for task in site_days]
                try:
                    yield dlt.mark.materialize_table_schema()
                    for future in as_completed(futures):
                        if found := future.result():
                            yield found
                finally:  # a failed or stopped extract asks for nothing more
                    for future in futures:
                        future.cancel()
            loaded = [day for day in days if day not in failed]
            disposition: dict[str, Any] = {
                "disposition": "merge",
                "strategy": "delete-insert",
                "destination_scope": replaced_scope(loaded, site_ids, unpublished),
            }
            if failed:
                disposition["source_filter"] = f"day IN ({sql_literals(_iso(loaded))})"
            if not loaded:
                disposition["destination_scope"] = disposition["source_filter"] = NOTHING
            hints = make_hints(write_disposition=disposition)  # type: ignore[arg-type]
            yield dlt.mark.with_hints(dlt.mark.materialize_table_schema(), hints)

        return rows

    def _day_failed(failed: FailedDays, table: str, day: date, reason: str) -> list[dict[str, Any]]:
        if day not in failed:
            warn(
                f"Site insights: {table} for {day} could not be loaded ({reason}). The other "
                "days and tables go on; this one keeps the rows it had, and the run will fail "
                "naming it."
            )
        failed.record(day, reason)
        return []

    return [table(grouping) for grouping in GROUPINGS]


NOTHING = "1 = 0"
"""A scope and a filter that select no row: a table that lost every day keeps what it had."""


def _iso(days: Sequence[date]) -> list[str]:
    return [day.isoformat() for day in days]


def replaced_scope(
    days: Sequence[date], site_ids: Sequence[str], unpublished: Sequence[str] = ()
) -> str:
    """SQL selecting the destination rows a run replaces (dlt's merge `destination_scope`):
    the run's days of every published site, and every day of a site GitBook no longer lists.

    An unpublished site keeps its rows: its past traffic happened, and it has none now."""
    scope = f"day IN ({sql_literals(_iso(days))})"
    if unpublished:
        scope = f"({scope} AND site_id NOT IN ({sql_literals(unpublished)}))"
    if site_ids:
        return f"{scope} OR site_id NOT IN ({sql_literals(site_ids)})"
    return f"{scope} OR site_id IS NOT NULL"  # no site exists any more: none keeps its rows
