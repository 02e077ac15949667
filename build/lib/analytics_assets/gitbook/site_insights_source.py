"""The site insights dlt source: every site's aggregated events for the given UTC days.

Its own source (and, in Dagster, its own pipeline) because its days come from a partition: the
unpartitioned tables never wait for, or get partitioned with, it. Organizations and sites are
discovered with the same `rest_api` entries as the main source, unloaded here; each (site, day)
is then one task for a parallelized transformer that posts the day's aggregation queries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from typing import Any

import dlt
from dlt.extract.resource import DltResource
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from dlt.sources.helpers.rest_client.exceptions import IgnoreResponseException
from dlt.sources.rest_api import rest_api_resources

from analytics_assets.gitbook.errors import GitBookError
from analytics_assets.gitbook.http import build_session, require_safe_base_url, response_guard
from analytics_assets.gitbook.path_segment import PathSegment
from analytics_assets.gitbook.settings import (
    BACKOFF_FACTOR,
    DEFAULT_BASE_URL,
    MAX_CONCURRENCY,
    MAX_PAGES_PER_REQUEST_CHAIN,
    MAX_RETRIES,
    ORGANIZATIONS,
    REQUEST_TIMEOUT_SECONDS,
    SITE_INSIGHTS_DAILY,
    SITE_INSIGHTS_MERGE_KEY,
    SITES,
    SOURCE_NAME,
)
from analytics_assets.gitbook.site_insights_query import fetch_day
from analytics_assets.gitbook.source import SCHEMA_CONTRACT, discovery_resources

logger = logging.getLogger(__name__)

SITE_INSIGHTS_SOURCE_NAME = "gitbook_site_insights"
SITE_DAYS_RESOURCE = "site_days"


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
    allow_insecure_http: bool = False,
    warn: Callable[[str], None] = logger.warning,
    on_page: Callable[[str], None] | None = None,
) -> list[DltResource]:
    """`site_insights_daily` rows of every site the token sees, for each day in `days`.

    Settings are shared with the main source (`[sources.gitbook]` in dlt's config).
    """
    base_url = require_safe_base_url(base_url, allow_insecure_http=allow_insecure_http)
    session = build_session(
        max_retries=max_retries,
        backoff_factor=backoff_factor,
        request_timeout=request_timeout,
        max_concurrency=max_concurrency,
    )
    organizations, sites = rest_api_resources(
        discovery_resources(
            (ORGANIZATIONS, SITES),
            access_token=access_token,
            base_url=base_url,
            session=session,
            attempts=max_retries + 1,
            max_pages=max_pages,
            warn=warn,
            on_page=on_page,
        )
    )
    client = RESTClient(base_url=base_url, auth=BearerTokenAuth(access_token), session=session)
    guard = response_guard(
        SITE_INSIGHTS_DAILY.name,
        data_selector=SITE_INSIGHTS_DAILY.data_selector,
        attempts=max_retries + 1,
        # A site deleted after it was listed is skipped with a warning, like other children.
        skip_not_found=True,
        warn=warn,
        on_page=on_page,
    )

    @dlt.transformer(name=SITE_DAYS_RESOURCE, selected=False)
    def site_days(page: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """One task per (site, day), so the days of one site are fetched concurrently too."""
        for site in page:
            for day in days:
                yield {
                    "organization_id": site["organization_id"],
                    "site_id": site["id"],
                    "day": day,
                }

    @dlt.transformer(
        name=SITE_INSIGHTS_DAILY.name,
        parallelized=True,
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        merge_key=list(SITE_INSIGHTS_MERGE_KEY),
        columns=dict(SITE_INSIGHTS_DAILY.columns),
    )
    def site_insights_daily(task: dict[str, Any]) -> list[dict[str, Any]]:
        path = SITE_INSIGHTS_DAILY.path.format(
            organization_id=PathSegment(task["organization_id"]),
            site_id=PathSegment(task["site_id"]),
        )

        def post(body: dict[str, Any]) -> Any:
            return client.post(path, json=body, hooks={"response": [guard]}).json()

        try:
            rows = fetch_day(post, task["day"], site_id=str(task["site_id"]))
        except IgnoreResponseException:  # the site was deleted after it was listed
            return []
        except ValueError as exc:  # an answer whose columns do not line up, or another day
            raise GitBookError(
                f"GitBook's site insights answer for resource '{SITE_INSIGHTS_DAILY.name}' at "
                f"POST {path} (site '{task['site_id']}', {task['day']}) is malformed: {exc}. "
                "Nothing was loaded for this run; re-run later, or report it if it persists."
            ) from None
        for row in rows:
            row["organization_id"] = str(task["organization_id"])
        return rows

    return [organizations, sites, sites | site_days | site_insights_daily]
