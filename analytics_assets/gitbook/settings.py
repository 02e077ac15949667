"""What the GitBook source loads, as data: endpoints, keys, parents and column hints.

Everything that differs between resources lives here, so the source builder (`source.py`) and the
Dagster layer read one table instead of repeating per-resource code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from dlt.common.schema.typing import TColumnSchema

DEFAULT_BASE_URL = "https://api.gitbook.com"
TOKEN_HINT = (
    "Set a valid token in GITBOOK_ACCESS_TOKEN, or `access_token` under [sources.gitbook] in "
    ".dlt/secrets.toml (see .dlt/secrets.toml.example)."
)
SOURCE_NAME = "gitbook"
DATASET_NAME = "gitbook"

# The design document's retry policy: retry only these, at most 3 retries (4 attempts),
# exponential backoff with factor 2 (2 s, 4 s, 8 s), honouring Retry-After.
RETRY_STATUSES: tuple[int, ...] = (429, 500, 502, 503, 504)
MAX_RETRIES = 3
BACKOFF_FACTOR = 2.0
MAX_RETRY_DELAY_SECONDS = 300.0
REQUEST_TIMEOUT_SECONDS = 60.0
# Requests in flight at once across all resources; low enough that an account is not throttled.
MAX_CONCURRENCY = 8
# GitBook's largest page (`limit`, 0 to 1000 in its OpenAPI description): fewest requests per list.
PAGE_SIZE = 1000
# The most wall time one sync may spend waiting for GitBook's rate-limit windows (GitBook's
# documented window is 60 s, so this is about 15 windows) before it fails.
MAX_RATE_LIMIT_WAIT_SECONDS = 900.0
# How replaced tables reach the destination: loaded into the staging dataset, then swapped in by
# one transaction (delete and insert), so a reader never sees a table half replaced.
REPLACE_STRATEGY = "insert-from-staging"
# Set to true to fail a sync that GitBook refused anything, instead of syncing what it may read.
REQUIRE_FULL_ACCESS_ENV = "GITBOOK_REQUIRE_FULL_ACCESS"
# A guard, not a limit anyone should reach: a resource that pages this far is treated as a loop.
MAX_PAGES_PER_REQUEST_CHAIN = 100_000


def _col(data_type: str, nullable: bool = True) -> TColumnSchema:
    return {"data_type": data_type, "nullable": nullable}  # type: ignore[typeddict-item]


@dataclass(frozen=True)
class ResourceSpec:
    """One GitBook endpoint and how it lands in the warehouse."""

    name: str
    path: str
    data_selector: str
    primary_key: tuple[str, ...]
    description: str
    columns: dict[str, TColumnSchema] = field(default_factory=dict)
    parent: str | None = None
    """Parent resource whose `id` fills the path placeholder."""
    parent_key: str | None = None
    """Column in this resource's rows that carries the parent's id; also the placeholder in
    `path` that the parent's id fills."""
    removed_hint: str | None = None
    """For an endpoint GitBook has removed from its current API: a 404 or 410 then means
    "not served to this account", and this hint is the run log's warning instead of a failure."""
    scope: str | None = None
    """The OAuth scope GitBook's 0.202.0 description puts this operation behind (`security`)."""
    visitor_text: tuple[str, ...] = ()
    """Columns of text that visitors wrote (search queries, questions, comments): stored, but
    never shown in logs or check metadata."""

    def parent_id_in(self, path: str) -> str | None:
        """The parent's id in a request path of this endpoint (None: no parent in the path)."""
        if self.parent_key is None:
            return None
        template = self.path.split("/")
        segments = path.split("/")
        placeholder = "{" + self.parent_key + "}"
        if placeholder not in template or len(segments) != len(template):
            return None
        return unquote(segments[template.index(placeholder)])

    @property
    def is_paginated_list(self) -> bool:
        """GitBook's paginated lists (`{"items": [...], "next": ...}`) take `limit` and `page`."""
        return self.data_selector == "items"


# Nested objects and arrays named in the spec (`urls`, `user`, `cover`, `layout`, `emailDomains`,
# `pages`) are declared `json`: one row per entity, cheap merges, and a stable column whatever
# the nested shape. Undeclared nested fields follow dlt's defaults (objects flatten to `a__b`
# columns, lists become child tables such as `content__tags`).
USERS = ResourceSpec(
    scope="user:read",
    name="users",
    path="/v1/user",
    data_selector="$",
    primary_key=("id",),
    description="The GitBook user that owns the access token (GET /v1/user).",
    columns={
        "id": _col("text", nullable=False),
        "object": _col("text"),
        "display_name": _col("text"),
        "email": _col("text"),
        "photo_url": _col("text"),
        "urls": _col("json"),
    },
)

ORGANIZATIONS = ResourceSpec(
    scope="organization:read",
    name="organizations",
    path="/v1/orgs",
    data_selector="items",
    primary_key=("id",),
    description="Organizations the token can see (GET /v1/orgs).",
    columns={
        "id": _col("text", nullable=False),
        "object": _col("text"),
        "type": _col("text"),
        "title": _col("text"),
        "created_at": _col("timestamp"),
        "default_role": _col("text"),
        "email_domains": _col("json"),
        "invite_links": _col("bool"),
        "plan": _col("text"),
        "urls": _col("json"),
        "use_case": _col("text"),
    },
)

SPACES = ResourceSpec(
    scope="space:read",
    name="spaces",
    path="/v1/orgs/{organization_id}/spaces",
    data_selector="items",
    primary_key=("id",),
    description=(
        "Spaces of each organization (GET /v1/orgs/{organizationId}/spaces). Not in the design "
        "document, but content and traffic are per space and need its ids."
    ),
    columns={
        "id": _col("text", nullable=False),
        "organization_id": _col("text", nullable=False),
        "object": _col("text"),
        "title": _col("text"),
        "visibility": _col("text"),
        "created_at": _col("timestamp"),
        "updated_at": _col("timestamp"),
        "urls": _col("json"),
    },
    parent="organizations",
    parent_key="organization_id",
)

ORG_MEMBERS = ResourceSpec(
    scope="organization:members:read",
    name="org_members",
    path="/v1/orgs/{organization_id}/members",
    data_selector="items",
    # The member id is the user id: one person in two orgs is two rows.
    primary_key=("organization_id", "id"),
    description="Members of each organization (GET /v1/orgs/{organizationId}/members).",
    columns={
        "organization_id": _col("text", nullable=False),
        "id": _col("text", nullable=False),
        "object": _col("text"),
        "role": _col("text"),
        "user": _col("json"),
        "disabled": _col("bool"),
        "joined_at": _col("timestamp"),
        "last_seen_at": _col("timestamp"),
        "sso": _col("bool"),
        "spaces": _col("bigint"),
        "teams": _col("bigint"),
    },
    parent="organizations",
    parent_key="organization_id",
)

CONTENT = ResourceSpec(
    scope="space:read",
    name="content",
    path="/v1/spaces/{space_id}/content",
    data_selector="pages",
    # Page ids repeat across spaces.
    primary_key=("space_id", "id"),
    description=(
        "Every page of each space's current revision (GET /v1/spaces/{spaceId}/content), the "
        "page tree flattened to one row per page with `parent_page_id`; `pages` holds the ids "
        "of the direct children."
    ),
    columns={
        "space_id": _col("text", nullable=False),
        "id": _col("text", nullable=False),
        "parent_page_id": _col("text"),
        "type": _col("text"),
        "kind": _col("text"),
        "title": _col("text"),
        "path": _col("text"),
        "slug": _col("text"),
        "document_id": _col("text"),
        "icon": _col("text"),
        "cover": _col("json"),
        "layout": _col("json"),
        "pages": _col("json"),
        "urls": _col("json"),
    },
    parent="spaces",
    parent_key="space_id",
)

INSIGHTS_TRAFFIC = ResourceSpec(
    name="insights_traffic",
    path="/v1/spaces/{space_id}/insights/traffic",
    data_selector="views",
    # Traffic points have no id, and every space reports the same timestamps.
    primary_key=("space_id", "timestamp"),
    description=(
        "Page views per day for each space (GET /v1/spaces/{spaceId}/insights/traffic, "
        "GitBook API up to 0.91.0)."
    ),
    removed_hint=(
        "this account's API no longer serves space traffic (the endpoint left GitBook's API "
        "after 0.91.0); use site_insights_daily"
    ),
    columns={
        "space_id": _col("text", nullable=False),
        "timestamp": _col("timestamp", nullable=False),
        # Nullable: a value that is not a whole number goes to a variant column, and the
        # `counts_are_non_negative_integers...` check fails on the null left here.
        "count": _col("bigint"),
    },
    parent="spaces",
    parent_key="space_id",
)

SITES = ResourceSpec(
    scope="site:read",
    name="sites",
    path="/v1/orgs/{organization_id}/sites",
    data_selector="items",
    primary_key=("id",),
    description=(
        "Published documentation sites of each organization (GET /v1/orgs/{organizationId}/"
        "sites, API 0.202.0). Today's analytics are per site: see site_insights_daily."
    ),
    columns={
        "id": _col("text", nullable=False),
        "organization_id": _col("text", nullable=False),
        "object": _col("text"),
        "type": _col("text"),
        "applied_type": _col("text"),
        "title": _col("text"),
        "hostname": _col("text"),
        "basename": _col("text"),
        "visibility": _col("text"),
        "default_level": _col("text"),
        "published": _col("bool"),
        "site_spaces": _col("bigint"),
        "created_at": _col("timestamp"),
        "permissions": _col("json"),
        "features": _col("json"),
        "urls": _col("json"),
    },
    parent="organizations",
    parent_key="organization_id",
)

RESOURCES: tuple[ResourceSpec, ...] = (
    USERS,
    ORGANIZATIONS,
    SPACES,
    ORG_MEMBERS,
    SITES,
    CONTENT,
    INSIGHTS_TRAFFIC,
)

SITE_INSIGHTS_PATH = "/v1/orgs/{organization_id}/sites/{site_id}/insights/events/aggregate"
_COUNTS = {
    "events_count": _col("bigint"),
    "sessions_count": _col("bigint"),
    "visitors_count": _col("bigint"),
    "query_split": _col("text"),
}


def _site_insights_spec(
    name: str,
    key: tuple[str, ...],
    columns: dict[str, TColumnSchema],
    description: str,
    visitor_text: tuple[str, ...] = (),
) -> ResourceSpec:
    """A table of aggregated site events: per site, UTC day and event type, then `key`.

    Every one is loaded from the same endpoint, by the same daily-partitioned run."""
    return ResourceSpec(
        scope="site:insights:read",
        name=name,
        path=SITE_INSIGHTS_PATH,
        data_selector="columns",
        primary_key=("site_id", "day", "event_type", *key),
        description=(
            f"{description} (POST /v1/orgs/{{organizationId}}/sites/{{siteId}}/insights/events/"
            "aggregate, API 0.202.0). visitor_bot is null for people, else the crawler or AI "
            "agent. Daily partitions."
        ),
        columns={
            "site_id": _col("text", nullable=False),
            "organization_id": _col("text", nullable=False),
            "day": _col("date", nullable=False),
            "event_type": _col("text", nullable=False),
            **columns,
            "visitor_bot": _col("text"),
            **_COUNTS,
        },
        parent="sites",
        parent_key="site_id",
        visitor_text=visitor_text,
    )


SITE_INSIGHTS_DAILY = _site_insights_spec(
    "site_insights_daily",
    # The URL path: every 404 has a null page and differs only by URL, and page ids repeat
    # across a site's spaces. A URL can 404 for some visitors because adaptive content hid its
    # page ("conditional") and for others not. The same page is read by people and by crawlers
    # and AI agents, on the site or through GitBook's MCP server (display_context).
    (
        "page_space_id",
        "page_id",
        "url_path",
        "page_not_found_type",
        "visitor_bot",
        "display_context",
    ),
    {
        "page_space_id": _col("text"),
        "page_id": _col("text"),
        "url_path": _col("text"),
        "is_not_found": _col("bool"),
        "page_not_found_type": _col("text"),
        "display_context": _col("text"),
    },
    "Events, sessions and visitors per site, UTC day, event type and page. is_not_found marks "
    "a page view or opened search result that resolved to no page (a 404, with its url_path); "
    "page_not_found_type 'conditional' marks a 404 that adaptive content explains, which "
    "broken-link reports leave out; display_context is where the events happened (site, "
    "embed, server, mcp)",
)
SITE_SEARCHES_DAILY = _site_insights_spec(
    "site_searches_daily",
    ("search_query", "page_space_id", "page_id", "visitor_bot"),
    {"search_query": _col("text"), "page_space_id": _col("text"), "page_id": _col("text")},
    "Searches per site, UTC day and query: the queries typed (search_type_query) and the "
    "results opened (search_open_result, with the page opened; null: no page)",
    visitor_text=("search_query",),
)
SITE_PAGE_FEEDBACK_DAILY = _site_insights_spec(
    "site_page_feedback_daily",
    ("page_space_id", "page_id", "rating", "comment", "visitor_bot"),
    {
        "page_space_id": _col("text"),
        "page_id": _col("text"),
        "rating": _col("text"),
        "comment": _col("text"),
    },
    "Page ratings per site, UTC day, page and rating (bad, ok, good): page_post_feedback "
    "events, and page_post_feedback_comment events with the comment",
    visitor_text=("comment",),
)
SITE_AI_QUESTIONS_DAILY = _site_insights_spec(
    "site_ai_questions_daily",
    ("question", "response_rating", "visitor_bot"),
    {"question": _col("text"), "response_rating": _col("bigint")},
    "Questions to the AI assistant per site, UTC day and question: ask_question events, and "
    "ask_rate_response events with the answer's rating (1 or -1)",
    visitor_text=("question",),
)
SITE_AUDIENCE_DAILY = _site_insights_spec(
    "site_audience_daily",
    ("referrer_domain", "country", "device", "visitor_bot"),
    {"referrer_domain": _col("text"), "country": _col("text"), "device": _col("text")},
    "Page views per site, UTC day, referrer domain, country (ISO 3166 alpha-2) and device",
)
SITE_INSIGHTS_TABLES: tuple[ResourceSpec, ...] = (
    SITE_INSIGHTS_DAILY,
    SITE_SEARCHES_DAILY,
    SITE_PAGE_FEEDBACK_DAILY,
    SITE_AI_QUESTIONS_DAILY,
    SITE_AUDIENCE_DAILY,
)
"""The daily-partitioned tables: one run loads the same days of all of them."""

TABLES: tuple[ResourceSpec, ...] = (*RESOURCES, *SITE_INSIGHTS_TABLES)
"""Every table, whichever pipeline loads it."""
RESOURCES_BY_NAME: dict[str, ResourceSpec] = {spec.name: spec for spec in TABLES}


# When space ids are configured, spaces are fetched one by one instead of discovered per org.
SPACE_BY_ID_PATH = "/v1/spaces/{space_id}"
CONFIGURED_SPACES_RESOURCE = "configured_space_ids"


def resource_for_path(path: str) -> str | None:
    """The resource whose endpoint `path` (as sent, percent-encoded ids) belongs to."""
    endpoints = [(spec.path, spec.name) for spec in TABLES] + [(SPACE_BY_ID_PATH, SPACES.name)]
    for template, name in endpoints:
        if re.fullmatch(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)), path):
            return name
    return None
