"""The GitBook dlt source: the design document's `rest_api` configuration, made correct."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dlt
from dlt.common.schema.typing import TSchemaContract
from dlt.extract.resource import DltResource
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from dlt.sources.rest_api import rest_api_resources
from dlt.sources.rest_api.typing import RESTAPIConfig
from requests import Session

from analytics_assets.gitbook.access import Access
from analytics_assets.gitbook.content import ContentPlan, content_resource
from analytics_assets.gitbook.http import (
    build_session,
    child_guard,
    require_safe_base_url,
    response_guard,
)
from analytics_assets.gitbook.paginator import GitBookCursorPaginator
from analytics_assets.gitbook.path_segment import PathSegment, encode_id
from analytics_assets.gitbook.personal_data import PersonalData
from analytics_assets.gitbook.removed_endpoint import RemovedEndpoint
from analytics_assets.gitbook.rows import (
    first_of_each_key,
    rename_parent_key,
    space_organization_id,
    unwrap_data_envelope,
)
from analytics_assets.gitbook.settings import (
    BACKOFF_FACTOR,
    CONFIGURED_SPACES_RESOURCE,
    CONTENT,
    DEFAULT_BASE_URL,
    MAX_CONCURRENCY,
    MAX_PAGES_PER_REQUEST_CHAIN,
    MAX_RATE_LIMIT_WAIT_SECONDS,
    MAX_RETRIES,
    ORG_MEMBERS,
    ORGANIZATIONS,
    PAGE_SIZE,
    REQUEST_TIMEOUT_SECONDS,
    RESOURCES,
    SOURCE_NAME,
    SPACE_BY_ID_PATH,
    SPACES,
    ResourceSpec,
)

logger = logging.getLogger(__name__)
MEMBER_ORGANIZATIONS_RESOURCE = "organizations_listing_members"

# Row mappers per resource, applied after the parent key is renamed.
EXTRA_STEPS: dict[str, list[dict[str, Any]]] = {
    "users": [{"map": unwrap_data_envelope}],
    # Their ids are placed in child paths: encode them there, load them unchanged.
    "organizations": [{"map": encode_id}],
    "spaces": [{"map": encode_id}],
}


@dataclass(frozen=True)
class _Policy:
    """What every resource entry shares: retry budget, page size and cap, where warnings and
    page counts go."""

    attempts: int
    max_pages: int
    page_size: int
    warn: Callable[[str], None]
    on_page: Callable[[str], None] | None
    access: Access | None = None
    removed: Mapping[str, RemovedEndpoint] = field(default_factory=dict)


def _guard(spec: ResourceSpec, policy: _Policy, *, data_selector: str, skip_404: bool) -> Any:
    return response_guard(
        spec.name,
        data_selector=data_selector,
        attempts=policy.attempts,
        skip_not_found=skip_404,
        warn=policy.warn,
        on_page=policy.on_page,
        removed_hint=spec.removed_hint,
        spec=spec,
        access=policy.access,
        removed=policy.removed.get(spec.name),
    )


def _endpoint_resource(spec: ResourceSpec, policy: _Policy) -> dict[str, Any]:
    """The `rest_api` resource entry for one spec: paginator, errors, keys and column hints."""
    endpoint: dict[str, Any] = {
        "path": spec.path,
        "data_selector": spec.data_selector,
        "paginator": GitBookCursorPaginator(spec.name, max_pages=policy.max_pages),
        # A child whose parent vanished between listing and fetching is skipped, not fatal.
        "response_actions": [
            _guard(spec, policy, data_selector=spec.data_selector, skip_404=spec.parent is not None)
        ],
        # GitBook's default page size is undocumented; ask for its largest pages.
        "params": {"limit": policy.page_size} if spec.is_paginated_list else {},
    }
    resource: dict[str, Any] = {
        "name": spec.name,
        "endpoint": endpoint,
        "primary_key": list(spec.primary_key),
        # Each sync lists everything, so each table is replaced by what GitBook serves now:
        # deleted organizations, spaces, pages and sites, and members who left, disappear.
        # The destination swaps each table in one transaction (see `REPLACE_STRATEGY`).
        "write_disposition": "replace",
        "columns": dict(spec.columns),
        "processing_steps": [],
    }
    if spec.parent is not None and spec.parent_key is not None:
        # Each parent's pages are fetched by one of dlt's extract workers, concurrently.
        resource["parallelized"] = True
        endpoint["params"][spec.parent_key] = {
            "type": "resolve",
            "resource": spec.parent,
            "field": "id",
        }
        resource["include_from_parent"] = ["id"]
        rename = rename_parent_key(spec.parent, spec.parent_key)
        resource["processing_steps"].append({"map": rename})
    return resource


def _spaces_by_id(space_ids: Sequence[str], policy: _Policy) -> list[Any]:
    """`spaces` fetched one by one from configured ids, plus the unloaded resource seeding it."""

    @dlt.resource(name=CONFIGURED_SPACES_RESOURCE, selected=False)
    def configured_space_ids() -> Iterator[list[dict[str, Any]]]:
        yield [{"id": PathSegment(space_id)} for space_id in space_ids]

    resource = _endpoint_resource(SPACES, policy)
    resource["endpoint"].update(
        path=SPACE_BY_ID_PATH,
        data_selector="$",
        # A configured space that does not exist is a configuration error: fail on its 404.
        response_actions=[_guard(SPACES, policy, data_selector="$", skip_404=False)],
        params={
            "space_id": {"type": "resolve", "resource": CONFIGURED_SPACES_RESOURCE, "field": "id"}
        },
    )
    del resource["include_from_parent"]
    resource["processing_steps"] = [{"map": space_organization_id}]
    return [configured_space_ids, resource]


def build_rest_api_config(
    *,
    access_token: str,
    base_url: str = DEFAULT_BASE_URL,
    space_ids: Sequence[str] | None = None,
    max_retries: int = MAX_RETRIES,
    backoff_factor: float = BACKOFF_FACTOR,
    request_timeout: float = REQUEST_TIMEOUT_SECONDS,
    max_pages: int = MAX_PAGES_PER_REQUEST_CHAIN,
    max_concurrency: int = MAX_CONCURRENCY,
    page_size: int = PAGE_SIZE,
    max_rate_limit_wait: float = MAX_RATE_LIMIT_WAIT_SECONDS,
    allow_insecure_http: bool = False,
    warn: Callable[[str], None] = logger.warning,
    on_page: Callable[[str], None] | None = None,
    access: Access | None = None,
    personal_data: PersonalData | None = None,
) -> RESTAPIConfig:
    """The `rest_api` configuration for every GitBook resource.

    `space_ids`, when given, replaces space discovery: each space is fetched by id. `warn`
    receives the warnings a person should see in the run log (skipped deleted parents);
    `on_page` is called with the resource name for every page fetched; `personal_data` says
    what is stored of a person (default: everything GitBook serves).
    """
    personal_data = personal_data or PersonalData()
    base_url = require_safe_base_url(base_url, allow_insecure_http=allow_insecure_http)
    # Removed from GitBook's API: once confirmed gone, asked no more (see removed_endpoint.py).
    removed = {
        spec.name: RemovedEndpoint(spec, SPACE_BY_ID_PATH)
        for spec in RESOURCES
        if spec.removed_hint and spec.parent == SPACES.name
    }
    policy = _Policy(
        attempts=max_retries + 1,
        max_pages=max_pages,
        page_size=page_size,
        warn=warn,
        on_page=on_page,
        access=access,
        removed=removed,
    )
    resources: list[Any] = []
    for spec in RESOURCES:
        if spec is CONTENT:
            continue  # fetched by revision (`content.py`), not listed here
        if spec is SPACES and space_ids:
            *seeds, resource = _spaces_by_id(space_ids, policy)
            resources.extend(seeds)
        else:
            resource = _endpoint_resource(spec, policy)
        resource["processing_steps"].extend(EXTRA_STEPS.get(spec.name, []))
        if (protect := personal_data.row_mapper(spec.name)) is not None:
            resource["processing_steps"].append({"map": protect})
        resource["processing_steps"].append({"filter": first_of_each_key(spec.primary_key)})
        resources.append(resource)

    session = build_session(
        max_retries=max_retries,
        backoff_factor=backoff_factor,
        request_timeout=request_timeout,
        max_concurrency=max_concurrency,
        max_rate_limit_wait=max_rate_limit_wait,
        warn=warn,
        removed=list(removed.values()),
    )
    return {"client": _client(access_token, base_url, session), "resources": resources}


def _client(access_token: str, base_url: str, session: Session) -> dict[str, Any]:
    return {
        "base_url": base_url,
        "auth": {"type": "bearer", "token": access_token},
        "session": session,
    }


def discovery_resources(
    specs: Sequence[ResourceSpec],
    *,
    access_token: str,
    base_url: str,
    session: Session,
    attempts: int,
    max_pages: int,
    page_size: int = PAGE_SIZE,
    warn: Callable[[str], None] = logger.warning,
    on_page: Callable[[str], None] | None = None,
    access: Access | None = None,
) -> RESTAPIConfig:
    """`rest_api` entries that list parents for another source without loading them.

    Same paths, pagination, errors and id encoding as the main source's entries for `specs`.
    """
    policy = _Policy(
        attempts=attempts,
        max_pages=max_pages,
        page_size=page_size,
        warn=warn,
        on_page=on_page,
        access=access,
    )
    resources: list[Any] = []
    for spec in specs:
        resource = _endpoint_resource(spec, policy)
        resource["processing_steps"].extend(EXTRA_STEPS.get(spec.name, []))
        resource["selected"] = False
        resources.append(resource)
    return {"client": _client(access_token, base_url, session), "resources": resources}


# By default shape drift never fails a sync: new fields become columns, and a value that cannot
# be coerced to its column's type lands in a variant column (`count__v_text`), leaving the typed
# column null, where the asset checks flag it. GitBook types many counts as JSON `number`, so an
# integer-then-fractional field is routine. Each run sets every table's contract from
# GITBOOK_SCHEMA_CONTRACT (`defs/sync/contract.py`).
SCHEMA_CONTRACT: TSchemaContract = {"tables": "evolve", "columns": "evolve", "data_type": "evolve"}


@dlt.source(name=SOURCE_NAME, section=SOURCE_NAME, schema_contract=SCHEMA_CONTRACT)
def gitbook_source(
    access_token: str = dlt.secrets.value,
    base_url: str = DEFAULT_BASE_URL,
    space_ids: list[str] | None = None,
    max_retries: int = MAX_RETRIES,
    backoff_factor: float = BACKOFF_FACTOR,
    request_timeout: float = REQUEST_TIMEOUT_SECONDS,
    max_pages: int = MAX_PAGES_PER_REQUEST_CHAIN,
    max_concurrency: int = MAX_CONCURRENCY,
    page_size: int = PAGE_SIZE,
    max_rate_limit_wait: float = MAX_RATE_LIMIT_WAIT_SECONDS,
    allow_insecure_http: bool = False,
    warn: Callable[[str], None] = logger.warning,
    on_page: Callable[[str], None] | None = None,
    access: Access | None = None,
    content_plan: ContentPlan | None = None,
    personal_data: PersonalData | None = None,
) -> list[DltResource]:
    """GitBook users, organizations, spaces, members, content and traffic.

    Args:
        access_token: GitBook API token (`sources.gitbook.access_token` in dlt's secrets).
        base_url: API host without `/v1`, e.g. `https://api.gitbook.com`.
        space_ids: Load only these spaces instead of discovering every org's spaces.
        max_retries: Retries on 429/500/502/503/504 (the spec: 3, so 4 attempts).
        backoff_factor: Exponential backoff factor between retries, in seconds (the spec: 2).
        request_timeout: Per-request timeout in seconds.
        max_pages: Pages one request chain may follow before it is treated as a loop.
        max_concurrency: Requests in flight at once. Run dlt's extract with at least this many
            workers (`extract.workers`) to use them all.
        page_size: `limit` sent to every paginated list (GitBook's maximum is 1000).
        max_rate_limit_wait: Wall time the sync may spend waiting for GitBook's rate-limit
            windows before it fails.
        allow_insecure_http: Send the token over plain HTTP to a non-loopback host.
        warn: Where warnings for the run log go (skipped deleted parents).
        on_page: Called with the resource name for every page fetched (progress reporting).
        access: Records what the token is refused (403, `listMembers: false`) and whether a
            refusal fails the sync; by default refusals are skipped with a warning.
        content_plan: Which spaces' content to fetch (by revision) and the run's tally; by
            default every space is fetched.
        personal_data: What is stored of a person (`GITBOOK_PII`): by default, everything.
    """
    access = access or Access(warn=warn)
    content_plan = content_plan or ContentPlan(full=True)
    config = build_rest_api_config(
        access_token=access_token,
        base_url=base_url,
        space_ids=space_ids,
        max_retries=max_retries,
        backoff_factor=backoff_factor,
        request_timeout=request_timeout,
        max_pages=max_pages,
        max_concurrency=max_concurrency,
        page_size=page_size,
        max_rate_limit_wait=max_rate_limit_wait,
        allow_insecure_http=allow_insecure_http,
        warn=warn,
        on_page=on_page,
        access=access,
        personal_data=personal_data,
    )
    resources = rest_api_resources(config)
    by_name = {resource.name: resource for resource in resources}
    # Members are asked for only where GitBook says the token's user may list them.
    listable = dlt.transformer(name=MEMBER_ORGANIZATIONS_RESOURCE, selected=False)(
        listing_members(access)
    )
    by_name[ORG_MEMBERS.name].pipe_data_from(by_name[ORGANIZATIONS.name] | listable)
    client = config["client"]
    guard = child_guard(
        CONTENT, attempts=max_retries + 1, warn=warn, on_page=on_page, access=access
    )
    rest_client = RESTClient(
        base_url=client["base_url"],
        auth=BearerTokenAuth(access_token),
        session=client["session"],
    )
    planned = content_resource(
        by_name[SPACES.name], rest_client, guard, content_plan, max_pages=max_pages
    )
    return [*resources, *planned, listable]


def listing_members(access: Access) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    """Keep the organizations whose members the token's user may list; refuse the others
    without a request (GitBook would answer 403)."""

    def keep(organizations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = []
        for org in organizations:
            if (org.get("permissions") or {}).get("listMembers") is False:
                access.refuse(
                    ORG_MEMBERS.name,
                    ORGANIZATIONS.name,
                    str(org["id"]),
                    "its permissions say the token's user may not list its members "
                    "(listMembers: false; an admin role in it is needed), so none were asked for",
                )
            else:
                kept.append(org)
        return kept

    return keep
