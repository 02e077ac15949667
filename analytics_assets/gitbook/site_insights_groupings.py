"""What each site insights table asks GitBook's aggregation for, as data.

Every table is one grouping of the same events: which event types it counts (`where`), and
which of GitBook's columns it groups them by, each landing in a warehouse column. A grouping is
one query per site and day (more only when a day holds 1,000 groups or more; see
`site_insights_query.py`), so a table costs one request per site-day, and one narrow grouping
per question keeps each far below the limit, where one wide grouping of everything would
multiply the groups (pages x queries x countries x devices ...).

GitBook's events carry a search's query and an AI question in the same `query` field, so both
group by `eventSearchQuery`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analytics_assets.gitbook.settings import (
    SITE_AI_QUESTIONS_DAILY,
    SITE_AUDIENCE_DAILY,
    SITE_INSIGHTS_DAILY,
    SITE_PAGE_FEEDBACK_DAILY,
    SITE_SEARCHES_DAILY,
    ResourceSpec,
)

PAGE = "page"
"""GitBook's page column: `{"page": id, "space": id}`, two warehouse columns."""
PAGE_COLUMNS = ("page_space_id", "page_id")


@dataclass(frozen=True)
class Grouping:
    """One table's query: its event types and its group-by columns."""

    spec: ResourceSpec
    columns: tuple[tuple[str, str], ...]
    """(GitBook's column, the warehouse column); `page` fills :data:`PAGE_COLUMNS`."""
    event_types: tuple[str, ...] = ()
    """The event types counted; empty: every type."""
    marks_not_found: bool = False
    """Whether rows say `is_not_found` (GitBook's 404s: see `site_insights_query.to_row`)."""

    @property
    def name(self) -> str:
        return self.spec.name

    def group_by(self) -> list[dict[str, Any]]:
        """The body's `groupBy`: the UTC day, the event type, then the table's columns."""
        return [
            {"column": "datetime", "interval": "day"},
            {"column": "eventType"},
            *({"column": column} for column, _ in self.columns),
        ]

    def where(self) -> list[dict[str, Any]]:
        if not self.event_types:
            return []
        return [{"column": "eventType", "values": list(self.event_types), "operator": "in"}]


PAGES = Grouping(
    SITE_INSIGHTS_DAILY,
    (
        (PAGE, PAGE),
        ("urlPath", "url_path"),
        # Why a URL was a 404: "conditional" (adaptive content hid a page that exists) or null.
        ("eventPageNotFoundType", "page_not_found_type"),
        # Who: null for a person, else the crawler or AI agent (googlebot, chatgpt, claude, ...).
        ("visitorBot", "visitor_bot"),
        # Where: the site, an embed, GitBook's server (markdown for tools) or its MCP server.
        ("displayContext", "display_context"),
    ),
    marks_not_found=True,
)
SEARCHES = Grouping(
    SITE_SEARCHES_DAILY,
    (("eventSearchQuery", "search_query"), (PAGE, PAGE), ("visitorBot", "visitor_bot")),
    event_types=("search_type_query", "search_open_result"),
)
PAGE_FEEDBACK = Grouping(
    SITE_PAGE_FEEDBACK_DAILY,
    (
        (PAGE, PAGE),
        ("eventPageFeedbackRating", "rating"),
        ("eventPageFeedbackComment", "comment"),
        ("visitorBot", "visitor_bot"),
    ),
    event_types=("page_post_feedback", "page_post_feedback_comment"),
)
AI_QUESTIONS = Grouping(
    SITE_AI_QUESTIONS_DAILY,
    (
        ("eventSearchQuery", "question"),
        ("eventAskResponseRating", "response_rating"),
        ("visitorBot", "visitor_bot"),
    ),
    event_types=("ask_question", "ask_rate_response"),
)
AUDIENCE = Grouping(
    SITE_AUDIENCE_DAILY,
    (
        ("referrerDomain", "referrer_domain"),
        ("visitorGeoCountry", "country"),
        ("visitorDevice", "device"),
        ("visitorBot", "visitor_bot"),
    ),
    event_types=("page_view",),
)
GROUPINGS: tuple[Grouping, ...] = (PAGES, SEARCHES, PAGE_FEEDBACK, AI_QUESTIONS, AUDIENCE)
"""One per site insights table, in `SITE_INSIGHTS_TABLES`' order."""
