"""Deterministic, GitBook-shaped data served by the fake API.

Every object follows the schemas in GitBook's OpenAPI description (required fields and enums
included), so a client that works here works against the real API. The data is fixed (no clock,
no unseeded randomness): tests can assert exact row counts, and benchmark runs are comparable.

Big benchmark workloads (thousands of traffic points or pages per space) are built lazily: rows
are computed from their index when a page of results is requested, never all at once.

Site insights (GitBook's event analytics per published site) are built the same way: each
(site, UTC day) has a deterministic set of aggregated "atoms" derived from a hash of the site id
and the day, computed on first request. Every day of a published site has data, so any date
range works, today's too; an unpublished site has none (it has no visitors). The atoms hold the
awkward cases a client of GitBook meets: broken URLs, 404s on gated pages (``conditional``),
events in a space but on no particular page, and (opt-in) a bot burst of thousands of 404 URLs
in one hour, which only sub-hour ranges can split. They also carry what the events say (search
queries, some without results; page feedback ratings and comments; AI questions and rated
answers) and who sent them (referrer, country, device).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import itertools
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, overload
from urllib.parse import quote

Row = dict[str, Any]

DEMO_ANCHOR = date(2024, 6, 30)
"""Last day of traffic in the demo data; fixed so the data never depends on today's date."""

API_ROOT = "https://api.gitbook.com/v1"
APP_ROOT = "https://app.gitbook.com"
TRAFFIC_DAYS = 14


def iso(moment: datetime) -> str:
    """UTC timestamp the way GitBook's API prints it (JavaScript ``toISOString``)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=timezone.utc)


def _seg(value: str) -> str:
    """Percent-encode one URL path segment (ids may contain ``/``, ``+`` or spaces)."""
    return quote(value, safe="")


class LazyRows(Sequence[Row]):
    """A read-only sequence whose rows are computed from their index on access.

    Lets the server slice a 10,000-row list without ever holding it in memory.
    """

    def __init__(self, length: int, make_row: Callable[[int], Row]) -> None:
        self._length = length
        self._make_row = make_row

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...

    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        if isinstance(index, slice):
            return [self._make_row(i) for i in range(*index.indices(self._length))]
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError(index)
        return self._make_row(index)

    def __iter__(self) -> Iterator[Row]:
        return (self._make_row(i) for i in range(self._length))


def count_pages(pages: Sequence[Row]) -> int:
    """Count every page in a tree, nested ones included (the client flattens the tree)."""
    return sum(1 + count_pages(page.get("pages", [])) for page in pages)


def flatten_pages(pages: Sequence[Row]) -> Iterator[Row]:
    """Yield every page of a tree depth-first, parents before their children."""
    for page in pages:
        yield page
        yield from flatten_pages(page.get("pages", []))


@dataclass(frozen=True)
class PageTree:
    """A space's top-level pages (children nested inside) and how many pages the tree holds."""

    top: Sequence[Row]
    total: int

    @classmethod
    def of(cls, top: Sequence[Row]) -> PageTree:
        return cls(top=top, total=count_pages(top))


@dataclass(frozen=True, eq=False)
class TrafficSeries:
    """Daily page views of one space; ``total`` is the API's ``count`` field."""

    views: Sequence[Row]

    @functools.cached_property
    def total(self) -> int:
        return sum(point["count"] for point in self.views)


# --- object builders -------------------------------------------------------------------------


def make_user(user_id: str, name: str, email: str) -> Row:
    return {
        "object": "user",
        "id": user_id,
        "displayName": name,
        "email": email,
        "photoURL": f"https://avatars.example.com/{_seg(user_id)}.png",
        "urls": {"location": f"{API_ROOT}/users/{_seg(user_id)}"},
    }


def make_organization(org_id: str, title: str, created: datetime) -> Row:
    permissions = [
        *("view", "access", "admin", "ownTeam", "createContent", "createOpenAPISpec"),
        *("viewBilling", "listMembers", "listTeams", "listIntegrations", "listInstallations"),
        "installIntegration",
    ]
    return {
        "object": "organization",
        "id": org_id,
        "title": title,
        "createdAt": iso(created),
        "emailDomains": [],
        "hostname": org_id[:32].ljust(3, "x"),
        "type": "business",
        "useCase": "productDocs",
        "defaultRole": "read",
        "sso": False,
        "ai": False,
        "inviteLinks": True,
        "auditLogs": False,
        "plan": "free_2024",
        "mergeRules": {"type": "none"},
        "urls": {
            "location": f"{API_ROOT}/orgs/{_seg(org_id)}",
            "app": f"{APP_ROOT}/o/{_seg(org_id)}/",
        },
        "trial": {"status": "none", "count": 0},
        "permissions": dict.fromkeys(permissions, True),
    }


def make_space(
    space_id: str, org_id: str, title: str, created: datetime, *, visibility: str = "private"
) -> Row:
    permissions = [
        *("view", "access", "admin", "viewInviteLinks", "edit", "triggerGitSync", "comment"),
        *("merge", "review", "installIntegration"),
    ]
    urls = {
        "location": f"{API_ROOT}/spaces/{_seg(space_id)}",
        "app": f"{APP_ROOT}/o/{_seg(org_id)}/s/{_seg(space_id)}/",
    }
    if visibility != "private":
        urls["published"] = f"https://{_seg(org_id)}.gitbook.io/{_seg(space_id)}/"
    if visibility == "public":
        urls["public"] = urls["published"]
    return {
        "object": "space",
        "id": space_id,
        "title": title[:50],
        "emoji": "1f4d8",
        "visibility": visibility,
        "createdAt": iso(created),
        "updatedAt": iso(created + timedelta(days=30)),
        "editMode": "live",
        "mergeRules": {"type": "inherit"},
        "urls": urls,
        "organization": org_id,
        "revision": revision_id(space_id),
        "defaultLevel": "inherit",
        "comments": 0,
        "changeRequests": 2,
        "changeRequestsOpen": 1,
        "changeRequestsDraft": 0,
        "permissions": dict.fromkeys(permissions, True),
    }


def make_member(
    user: Row, role: str | None, joined: datetime, *, disabled: bool = False, spaces: int = 0
) -> Row:
    """A membership; ``id`` is the user's id, so one person has the same id in every org."""
    return {
        "object": "member",
        "id": user["id"],
        "role": role,
        "user": user,
        "disabled": disabled,
        "joinedAt": iso(joined),
        "lastSeenAt": iso(joined + timedelta(days=90)),
        "sso": False,
        "spaces": spaces,
        "teams": 0,
        "sites": 0,
    }


def revision_id(space_id: str) -> str:
    return "rev-" + "".join(c if c.isalnum() else "-" for c in space_id)


def make_revision(space: Row) -> Row:
    """The Revision envelope of a space; the server fills in ``pages``."""
    return {
        "object": "revision",
        "id": space["revision"],
        "type": "edits",
        "parents": [],
        "pages": [],
        "files": [],
        "reusableContents": [],
        "tags": [],
        "createdAt": space["updatedAt"],
        "urls": {"app": space["urls"]["app"]},
    }


_LAYOUT = {
    "width": "default",
    "cover": False,
    "coverSize": "hero",
    "coverMask": "none",
    "title": True,
    "description": True,
    "tableOfContents": True,
    "outline": True,
    "pagination": True,
    "metadata": True,
    "tags": True,
    "actions": True,
    "anchors": True,
}


@dataclass(frozen=True)
class PageMaker:
    """Builds RevisionPage objects for one space (URLs and timestamps depend on the space)."""

    space: Row
    edited: datetime

    def _url(self, path: str) -> str:
        return self.space["urls"]["app"] + quote(path, safe="/")

    def document(
        self, page_id: str, title: str, path: str, children: Sequence[Row] = (), **extra: Any
    ) -> Row:
        return {
            "id": page_id,
            "title": title,
            "kind": "sheet",
            "type": "document",
            "createdAt": iso(self.edited - timedelta(days=60)),
            "updatedAt": iso(self.edited),
            "urls": {"app": self._url(path)},
            "slug": path.rsplit("/", 1)[-1],
            "path": path,
            "description": f"{title}.",
            "markdown": f"# {title}\n\nGenerated page `{page_id}`.\n",
            "documentId": f"doc-{page_id}",
            "pages": list(children),
            "layout": dict(_LAYOUT),
            "tags": [],
            **extra,
        }

    def group(self, page_id: str, title: str, path: str, children: Sequence[Row]) -> Row:
        return {
            "id": page_id,
            "title": title,
            "kind": "group",
            "type": "group",
            "slug": path,
            "path": path,
            "pages": list(children),
        }

    def link(self, page_id: str, title: str, url: str) -> Row:
        """A link page: note it has no ``pages`` key at all, unlike documents and groups."""
        return {
            "id": page_id,
            "title": title,
            "kind": "link",
            "type": "link",
            "target": {"kind": "url", "url": url},
            "href": url,
        }


def traffic_series(anchor: date, points: int, salt: int) -> TrafficSeries:
    """``points`` daily UTC-midnight views ending at ``anchor``; timestamps equal across spaces."""
    first = midnight(anchor) - timedelta(days=points - 1)

    def point(i: int) -> Row:
        return {"timestamp": iso(first + timedelta(days=i)), "count": (salt * 37 + i * 11) % 53}

    return TrafficSeries(LazyRows(points, point))


EMPTY_TRAFFIC = TrafficSeries(())
EMPTY_TREE = PageTree(top=(), total=0)


# --- sites and their insights events -------------------------------------------------------


def make_site(
    site_id: str,
    org_id: str,
    title: str,
    created: datetime,
    *,
    basename: str,
    site_spaces: int,
    visibility: str = "public",
    published: bool = True,
) -> Row:
    """A Site as ``GET /orgs/{organizationId}/sites`` lists it (0.202.0 ``Site`` schema).

    Real Site objects do not name their organization; :meth:`Dataset.site_org` does.
    """
    host = f"https://{_seg(org_id)}.gitbook.io/{_seg(basename)}"
    permissions = [
        *("view", "access", "edit", "create", "admin", "installIntegration"),
        *("viewAdaptiveSchema", "editAdaptiveSchema"),
    ]
    urls = {
        "location": f"{API_ROOT}/orgs/{_seg(org_id)}/sites/{_seg(site_id)}",
        "app": f"{APP_ROOT}/o/{_seg(org_id)}/sites/{_seg(site_id)}",
        "preview": f"{host}/~preview",
    }
    if published:
        urls["published"] = f"{host}/"
    return {
        "object": "site",
        "id": site_id,
        "type": "ultimate",
        "appliedType": "ultimate",
        "title": title,
        "basename": basename,
        "visibility": visibility,
        "defaultLevel": "inherit",
        "permissions": dict.fromkeys(permissions, True),
        "published": published,
        "siteSpaces": site_spaces,
        "createdAt": iso(created),
        "features": [
            {"id": "sites-page-traffic-insights", "plan": "premium", "frozen": False},
            {"id": "sites-advanced-insights", "plan": "ultimate", "frozen": False},
        ],
        "urls": urls,
    }


PAGE_VIEW = "page_view"
SITE_EVENT_CYCLE = (
    PAGE_VIEW,
    PAGE_VIEW,
    "search_open",
    PAGE_VIEW,
    "link_click",
    PAGE_VIEW,
    PAGE_VIEW,
    "page_post_feedback",
    PAGE_VIEW,
    "ask_question",
)
"""Event types dealt to a day's groups in this order: 60% page_view, 10% each of four others.

A day with N groups therefore has ``ceil``-ish 0.6 N page_view groups (N=1500: 900, under
GitBook's 1000-row limit per type; N=3000: 1800, over it) and about 0.1 N of each other type.
"""
SEARCH_OPEN_RESULT = "search_open_result"
SEARCH_TYPE_QUERY = "search_type_query"
PAGE_POST_FEEDBACK_COMMENT = "page_post_feedback_comment"
ASK_RATE_RESPONSE = "ask_rate_response"
FOLLOW_UP_EVENTS = (SEARCH_TYPE_QUERY, PAGE_POST_FEEDBACK_COMMENT, ASK_RATE_RESPONSE)
"""Event types of ordinary days only: one event some groups emit after their own (typed query,
feedback comment, rated answer; see ``_site_day_atoms``)."""
SITE_EVENT_TYPES = (*dict.fromkeys(SITE_EVENT_CYCLE), SEARCH_OPEN_RESULT, *FOLLOW_UP_EVENTS)
"""Every event type of the demo: the cycle's, search_open_result, which some search_open
groups become, and the follow-up events (see ``_site_day_atoms``)."""
MIN_GROUPS_PER_DAY = 6
MAX_GROUPS_PER_DAY = 30
PAGES_PER_SITE_SPACE = 25
"""Pages of each published space that get events (the first ones, depth-first)."""

CONDITIONAL = "conditional"
"""``eventPageNotFoundType`` of a 404 on a page that exists but is gated by adaptive content."""
BOT_BURST_HOUR = 13
BOT_BURST_URLS = 1100
"""Default bot burst: more 404 URLs in one hour than GitBook's 1000-group limit."""

SiteInsightKey = tuple[str, str | None, str | None, str, str | None, str | None, str]
"""``(event_type, page_space_id, page_id, url_path, page_not_found_type, visitor_bot,
display_context)``: one group of a day.

- a page: both ids set; ``page_not_found_type`` None.
- an event in a space that resolved to no particular page (``{"page": null, "space": id}``):
  ``page_space_id`` set, ``page_id`` None. Not a 404.
- no page at all (``page`` null): both None. For page_view and search_open_result that is a
  404: a broken URL when ``page_not_found_type`` is None, a gated page when it is
  :data:`CONDITIONAL`.
- ``visitor_bot``: GitBook's ``visitorBot``, None for a person, else the crawler or AI agent.
- ``display_context``: GitBook's ``displayContext``: :data:`SITE` unless an AI agent read
  through GitBook's MCP server (:data:`MCP`), where a missing page is no 404.
"""
SITE = "site"
MCP = "mcp"
NOT_FOUND_EVENTS = frozenset({PAGE_VIEW, SEARCH_OPEN_RESULT})
"""GitBook's 404s: these event types with a null page, on the site (0.202.0's aggregate)."""
AGENTS = ("googlebot", "chatgpt", "claude", "perplexity")
"""``visitorBot`` values the demo's machine visitors carry (from 0.202.0's enum)."""
SCANNER = "unknown"
"""``visitorBot`` of the bot bursts' scanner: a bot GitBook cannot name."""

SEARCH_QUERIES = (
    "api token",
    "sso",
    "webhooks",
    "export pdf",
    "custom domain",
    "dark mode",
    "rate limits",
    "delete account",
)
"""``eventSearchQuery`` of searches: only the first half ever has a result opened."""
ASK_QUESTIONS = (
    "How do I rotate my API token?",
    "Can I export a space to PDF?",
    "How do I set up SSO?",
    "What are the API rate limits?",
    "How do I add a custom domain?",
    "Why did my webhook not fire?",
)
"""Questions asked of GitBook's AI (``eventSearchQuery`` of ask_question, ask_rate_response)."""
ASK_RATINGS = (-1, -1, -1, 1)
"""``eventAskResponseRating`` of a rated answer, drawn from these: three in four unhelpful."""
FEEDBACK_RATINGS = ("bad", "ok", "good", "good")
"""``eventPageFeedbackRating``, drawn from these: a quarter bad, a quarter ok, half good."""
FEEDBACK_COMMENTS = (
    "The example is out of date",
    "Missing a step",
    "Very clear, thanks!",
    "A link on this page is broken",
    "Please add a screenshot",
)
"""``eventPageFeedbackComment`` of page_post_feedback_comment events."""
DEVICES = (*("desktop",) * 12, *("mobile",) * 6, "tablet", "unknown")
"""``visitorDevice`` of people, drawn from these: 60% desktop, 30% mobile, 5% tablet, 5% unknown."""
COUNTRIES = ("US", "GB", "DE", "FR", "IN", "BR", "JP", None)
"""``visitorGeoCountry`` of people (ISO 3166 alpha-2), drawn from these; None: unknown."""
REFERRER_DOMAINS = (
    None,
    "google.com",
    "github.com",
    "stackoverflow.com",
    "chatgpt.com",
    "news.ycombinator.com",
)
"""``referrerDomain`` of people, drawn from these; None: no referrer (a direct visit)."""
SiteInsightTotals = tuple[int, int, int]
"""``(events, sessions, visitors)`` of one group."""


@dataclass(frozen=True, slots=True)
class SiteEventAtom:
    """Aggregated events of one (site, UTC day, moment, event type, page, URL path).

    The fake's finest grain: queries sum atoms, so a group's sessions and visitors are summed
    over atoms too (GitBook counts distinct ones; the difference does not matter to a client).
    An atom happens at one moment, ``hour`` plus ``second`` after midnight: ordinary atoms sit
    on the hour (``second`` 0), bot bursts spread over the hour so a client can split it.

    Besides the :data:`SiteInsightKey` columns, an atom carries what its events say (a search
    query, a rating, a comment) and who sent them (referrer, country, device): columns a query
    can group or filter by, without adding groups to that key.
    """

    hour: int
    event_type: str
    page: tuple[str | None, str] | None
    """``(page_id, space_id)``; ``(None, space_id)``: in that space but no particular page;
    None: no page at all, which for page_view is a 404."""
    url_path: str
    events: int
    sessions: int
    visitors: int
    second: int = 0
    """Seconds into the hour (0-3599): where in the hour the atom's events happened."""
    page_not_found_type: str | None = None
    """``eventPageNotFoundType``: :data:`CONDITIONAL` for a 404 on a gated page, else None."""
    visitor_bot: str | None = None
    """``visitorBot``: None for people, else the crawler or AI agent (:data:`AGENTS`)."""
    display_context: str = SITE
    """``displayContext``: :data:`SITE`, or :data:`MCP` for an agent reading through MCP."""
    search_query: str | None = None
    """``eventSearchQuery``: the events' ``query``, the search's (search_type_query,
    search_open_result) or the question asked (ask_question, ask_rate_response); else None."""
    feedback_rating: str | None = None
    """``eventPageFeedbackRating`` ("bad", "ok" or "good") of page_post_feedback and
    page_post_feedback_comment; else None."""
    feedback_comment: str | None = None
    """``eventPageFeedbackComment`` of page_post_feedback_comment; else None."""
    ask_rating: int | None = None
    """``eventAskResponseRating`` (1 or -1) of ask_rate_response; else None."""
    referrer_domain: str | None = None
    """``referrerDomain``: where the visitor came from; None: no referrer (direct)."""
    country: str | None = None
    """``visitorGeoCountry``: ISO 3166 alpha-2 (``"US"``); None: unknown."""
    device: str = "unknown"
    """``visitorDevice``: desktop, tablet, mobile or unknown."""

    def page_ref(self) -> dict[str, str | None] | None:
        """The ``page`` column's value, as GitBook returns it."""
        return None if self.page is None else {"page": self.page[0], "space": self.page[1]}

    @property
    def offset(self) -> timedelta:
        """When the atom happened, from its UTC midnight."""
        return timedelta(hours=self.hour, seconds=self.second)

    @property
    def is_not_found(self) -> bool:
        """GitBook's 404: a page_view or search_open_result on the site that resolved to no
        page."""
        return (
            self.event_type in NOT_FOUND_EVENTS
            and self.page is None
            and self.display_context == SITE
        )

    @property
    def is_broken_url(self) -> bool:
        """A broken URL as a docs team counts it: a 404 that adaptive content does not explain,
        hit by a person (crawlers and scanners probe URLs that never existed)."""
        return self.is_not_found and self.page_not_found_type is None and self.visitor_bot is None

    @property
    def key(self) -> SiteInsightKey:
        space_id, page_id = (None, None) if self.page is None else (self.page[1], self.page[0])
        return (
            self.event_type,
            space_id,
            page_id,
            self.url_path,
            self.page_not_found_type,
            self.visitor_bot,
            self.display_context,
        )


@dataclass(frozen=True)
class _SitePage:
    """A page that gets events, and its URL path below the site's basename."""

    page_id: str
    space_id: str
    rest: str
    """``handbook/guide/setup``: the space's slug in the site, then the page's path."""

    @property
    def space_slug(self) -> str:
        """``handbook``: the space's part of the URL path (slugs hold no ``/``)."""
        return self.rest.partition("/")[0]


def _digest(*parts: str) -> int:
    """A stable 256-bit integer from ``parts`` (Python's ``hash`` is salted per process)."""
    raw = "\x1f".join(parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(raw, digest_size=32).digest(), "big")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


SPACE_ONLY_EVENTS = frozenset({"search_open", "ask_question"})
"""Event types that may happen in a space without a particular page (a space's search)."""


def _unique(key: Callable[[int], SiteInsightKey], used: set[SiteInsightKey], first: int = 0) -> int:
    """The first number from ``first`` whose key is not used yet."""
    n = first
    while key(n) in used:
        n += 1
    return n


def _agent_visit(site_id: str, day_tag: str, index: int) -> int | None:
    """The bits of the crawler's or AI agent's visit to a day's group ``index``, or None for a
    group only people visit (two thirds of them)."""
    agent = _digest(site_id, day_tag, str(index), "agent")
    return agent if agent % 3 == 0 else None


def _audience(bits: int) -> dict[str, Any]:
    """A person's referrer, country and device, from 11 bits."""
    return {
        "device": DEVICES[bits % len(DEVICES)],
        "country": COUNTRIES[(bits >> 5) % len(COUNTRIES)],
        "referrer_domain": REFERRER_DOMAINS[(bits >> 8) % len(REFERRER_DOMAINS)],
    }


def _event_details(
    event_type: str, index: int, bits: int
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """What group ``index``'s events carry (a query, a rating), and the follow-up event the group
    emits on an ordinary day, or None (see ``_site_day_atoms``)."""
    half = len(SEARCH_QUERIES) // 2
    if event_type == "search_open":
        # Group 2 (on every site with pages) types a query no result is ever opened for.
        pick = half + bits % half if index == 2 else bits % len(SEARCH_QUERIES)
        return {}, {"event_type": SEARCH_TYPE_QUERY, "search_query": SEARCH_QUERIES[pick]}
    if event_type == SEARCH_OPEN_RESULT:
        query = SEARCH_QUERIES[bits % half]
        return {"search_query": query}, {"event_type": SEARCH_TYPE_QUERY, "search_query": query}
    if event_type == "page_post_feedback":
        rating = FEEDBACK_RATINGS[bits % len(FEEDBACK_RATINGS)]
        comment = {
            "event_type": PAGE_POST_FEEDBACK_COMMENT,
            "feedback_rating": rating,
            "feedback_comment": FEEDBACK_COMMENTS[(bits >> 4) % len(FEEDBACK_COMMENTS)],
        }
        return {"feedback_rating": rating}, comment if (bits >> 2) % 3 == 0 else None
    if event_type == "ask_question":
        question = ASK_QUESTIONS[bits % len(ASK_QUESTIONS)]
        rated = {
            "event_type": ASK_RATE_RESPONSE,
            "search_query": question,
            "ask_rating": ASK_RATINGS[(bits >> 3) % len(ASK_RATINGS)],
        }
        first_or_third = index // len(SITE_EVENT_CYCLE) % 2 == 0
        return {"search_query": question}, rated if first_or_third else None
    return {}, None


def _site_day_atoms(
    site_id: str, basename: str, pages: Sequence[_SitePage], day: date, groups: int
) -> tuple[SiteEventAtom, ...]:
    """The atoms of one (site, day): ``groups`` distinct (event type, page, URL path) groups.

    Group 0 is always a broken URL (a 404 page_view on a missing page); a quarter of the other
    page_views are 404s too, a fifth of those on a page that exists but is gated
    (``conditional``, URL path of the gated page). Some search_open and ask_question groups
    happen in a space with no particular page. On even days (by ordinal) group 1 is always a
    conditional 404, on odd days group 2 (search_open) is always space-only, so any week has
    both. A third of the other search_open groups are search_open_result instead (a result
    opened), half of those on a missing page: a 404 reached from search. Each group lies in 1-3
    distinct hours, on the hour. These groups are people's; on an ordinary day (at most
    :data:`MAX_GROUPS_PER_DAY` groups) a third of them are also visited by a crawler or AI
    agent (:data:`AGENTS`), once, in their first hour: the same group but for ``visitor_bot``,
    and half of those through GitBook's MCP server (``display_context`` :data:`MCP`).

    What the events carry: search_open_result a query from the first half of
    :data:`SEARCH_QUERIES`, page_post_feedback a rating (:data:`FEEDBACK_RATINGS`), ask_question
    a question (:data:`ASK_QUESTIONS`), the same for every atom of the group. Who sent them: each
    atom of people has its own device, country and referrer (:data:`DEVICES`,
    :data:`COUNTRIES`, :data:`REFERRER_DOMAINS`); agents' atoms have none (device "unknown").

    On an ordinary day some groups on a page or in a space (never a 404) also emit one
    follow-up event of people (:data:`FOLLOW_UP_EVENTS`) in their first hour, at their page and
    URL, with small counts: a search_type_query after every search_open (a query from all of
    :data:`SEARCH_QUERIES`; group 2's from the second half, which no result is opened for, so
    every ordinary day has searches without results) and after every search_open_result (its
    query); a page_post_feedback_comment (same rating, a comment from
    :data:`FEEDBACK_COMMENTS`) after a third of the page_post_feedback groups; an
    ask_rate_response (same question, 1 or -1 from :data:`ASK_RATINGS`) after the day's first
    and third ask_question groups. Follow-ups add groups (their own event types); big days have
    none, so their groups are exactly the cycle's.
    Everything follows from ``(site_id, day, group index)``.
    """
    day_tag = day.isoformat()
    even_day = day.toordinal() % 2 == 0
    used: set[SiteInsightKey] = set()
    next_variant: dict[tuple[str, int], int] = {}
    atoms: list[SiteEventAtom] = []
    for i in range(groups):
        h = _digest(site_id, day_tag, str(i))
        event_type = SITE_EVENT_CYCLE[i % len(SITE_EVENT_CYCLE)]
        if not pages:
            event_type = PAGE_VIEW  # nothing to click or search on: only 404s
        elif event_type == "search_open" and i != 2 and (h >> 6) % 3 == 0:
            event_type = SEARCH_OPEN_RESULT
        index = (h >> 16) % len(pages) if pages else 0
        page: _SitePage | None = None
        if pages and (event_type != PAGE_VIEW or (i > 0 and (h >> 8) % 4)):
            page = pages[index]
        if event_type == SEARCH_OPEN_RESULT and (h >> 10) % 2 == 0:
            page = None  # the result led to a page that no longer exists
        gated = bool(pages) and i > 0 and event_type == PAGE_VIEW
        gated = gated and ((i == 1 and even_day) or (page is None and h % 5 == 0))
        space_only = page is not None and event_type in SPACE_ONLY_EVENTS
        space_only = space_only and ((i == 2 and not even_day) or (h >> 4) % 4 == 0)
        not_found: str | None = None
        ref: tuple[str | None, str] | None = None
        key: SiteInsightKey
        if gated:
            event_type, not_found, target = PAGE_VIEW, CONDITIONAL, pages[index]

            def gated_key(n: int, rest: str = target.rest) -> SiteInsightKey:
                tilde = f"~{n}/" if n else ""
                url = f"/{basename}/{tilde}{rest}"
                return (PAGE_VIEW, None, None, url, CONDITIONAL, None, SITE)

            key = gated_key(_unique(gated_key, used))
        elif page is None:
            event_type = event_type if event_type in NOT_FOUND_EVENTS else PAGE_VIEW

            def missing_key(n: int, kind: str = event_type) -> SiteInsightKey:
                return (kind, None, None, f"/{basename}/missing-{n}", None, None, SITE)

            key = missing_key(_unique(missing_key, used, (h >> 24) % 10_000))
        elif space_only:
            ref = (None, page.space_id)

            def space_key(n: int, kind: str = event_type, at: _SitePage = page) -> SiteInsightKey:
                tilde = f"~{n}/" if n else ""
                slug = f"/{basename}/{tilde}{at.space_slug}"
                return (kind, at.space_id, None, slug, None, None, SITE)

            key = space_key(_unique(space_key, used))
        else:
            # The same page reached through several URLs (site variants): /docs/~2/handbook/...
            ref = (page.page_id, page.space_id)
            slot = (event_type, index)

            def page_key(n: int, kind: str = event_type, at: _SitePage = page) -> SiteInsightKey:
                tilde = f"~{n}/" if n else ""
                url = f"/{basename}/{tilde}{at.rest}"
                return (kind, at.space_id, at.page_id, url, None, None, SITE)

            variant = _unique(page_key, used, next_variant.get(slot, 0))
            next_variant[slot] = variant + 1
            key = page_key(variant)
        used.add(key)
        start, span = (h >> 40) % 24, 1 + (h >> 48) % 3
        bits = _digest(site_id, day_tag, str(i), "details")
        details, follow_up = _event_details(event_type, i, bits)
        group: dict[str, Any] = {
            "event_type": event_type,
            "page": ref,
            "url_path": key[3],
            "page_not_found_type": not_found,
            **details,
        }
        ordinary = groups <= MAX_GROUPS_PER_DAY
        agent = _agent_visit(site_id, day_tag, i) if ordinary else None
        if agent is not None:
            sessions = 1 + (agent >> 8) % 2
            visit = SiteEventAtom(
                **group,
                hour=start,
                events=sessions + (agent >> 12) % 4,
                sessions=sessions,
                visitors=1,
                visitor_bot=AGENTS[(agent >> 2) % len(AGENTS)],
                display_context=MCP if (agent >> 16) % 2 else SITE,
            )
            atoms.append(visit)
        for j, hour in enumerate(sorted({(start + 7 * n) % 24 for n in range(span)})):
            counts = h >> (64 + (16 * hour) % 176)  # 16 fresh bits per hour
            visitors = 1 + counts % 4
            sessions = visitors + (counts >> 4) % 3
            events = sessions + (counts >> 8) % 6
            audience = _audience(bits >> (32 + 48 * j))
            atoms.append(
                SiteEventAtom(
                    **group,
                    hour=hour,
                    events=events,
                    sessions=sessions,
                    visitors=visitors,
                    **audience,
                )
            )
        if ordinary and follow_up is not None and ref is not None:
            more = bits >> 200  # counts, then the audience
            visitors = 1 + more % 3
            sessions = visitors + (more >> 2) % 2
            events = sessions + (more >> 3) % 3
            fields = group | follow_up | _audience(more >> 5)
            atoms.append(
                SiteEventAtom(
                    **fields, hour=start, events=events, sessions=sessions, visitors=visitors
                )
            )
    atoms.sort(key=lambda a: a.hour)
    return tuple(atoms)


def _bot_burst_atoms(
    site_id: str, basename: str, day: date, hour: int, urls: int
) -> tuple[SiteEventAtom, ...]:
    """A scanner probing ``urls`` distinct missing URLs within one hour: one 404 atom each,
    tagged as a bot GitBook cannot name (:data:`SCANNER`).

    URL ``k`` lands in the ``k``-th of ``urls`` equal slices of the hour (a hashed second within
    it), so any sub-hour window holds about its share of them. Counts are small, as a bot's are.
    """
    day_tag = day.isoformat()
    atoms: list[SiteEventAtom] = []
    for k in range(urls):
        h = _digest(site_id, day_tag, "bot", str(k))
        path = f"wp-login-{k}.php" if k % 2 == 0 else f".env-{k}"
        events = 1 + (h >> 12) % 3
        sessions = 1 + (h >> 16) % events
        visitors = 1 + (h >> 20) % sessions
        atoms.append(
            SiteEventAtom(
                hour=hour,
                event_type=PAGE_VIEW,
                page=None,
                url_path=f"/{basename}/{path}",
                events=events,
                sessions=sessions,
                visitors=visitors,
                second=(k * 3600 + h % 3600) // urls,
                visitor_bot=SCANNER,
            )
        )
    return tuple(atoms)


# --- the dataset -----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, kw_only=True)
class Dataset:
    """Everything the fake API serves, plus the names of the awkward cases tests look for.

    Build one with :meth:`demo` (small, hand-shaped, used by tests and the demo) or
    :meth:`generate` (parameterised, lazy, used by benchmarks).
    """

    user: Row
    organizations: list[Row]
    spaces_by_org: dict[str, list[Row]]
    members_by_org: dict[str, Sequence[Row]]
    pages_by_space: dict[str, PageTree]
    traffic_by_space: dict[str, TrafficSeries]
    anchor: date
    shared_member_id: str | None = None
    """A user id that is a member of two or more orgs (it is the authenticated user's id)."""
    empty_space_id: str | None = None
    """A space with no pages and no traffic."""
    awkward_space_id: str | None = None
    """A space id containing ``+``, a space and ``/`` (must be percent-encoded in paths)."""
    repeated_page_id: str | None = None
    """A page id present in several spaces."""
    nested_page_id: str | None = None
    """A page that has a child which itself has a child."""
    grandchild_page_id: str | None = None
    guest_member_id: str | None = None
    """A member whose ``role`` is ``null`` (a guest)."""
    paginated_space_id: str | None = None
    """A space with more than 5 top-level pages (needs 2+ content pages at the default size)."""
    sites_by_org: dict[str, list[Row]] = field(default_factory=dict)
    """Each org's Site objects; orgs missing here have no sites."""
    spaces_by_site: dict[str, list[str]] = field(default_factory=dict)
    """The spaces each site publishes (their pages get events); default: all of its org's."""
    big_days: Mapping[date, int] = field(default_factory=dict)
    """Days with this many insight groups for every site (instead of 6-30), to test splitting."""
    site_groups_per_day: int | None = None
    """Insight groups per site on every other day; None: 6-30, varying by site and day."""
    awkward_site_id: str | None = None
    """A site id containing ``+``, a space and ``/`` (must be percent-encoded in paths)."""
    quiet_site_days: frozenset[tuple[str, date]] = frozenset()
    """``(site_id, day)`` pairs with no insight groups at all (see :meth:`without`)."""
    bot_bursts: Mapping[tuple[str, date], tuple[int, int]] = field(default_factory=dict)
    """``(site_id, day) -> (hour, urls)``: that hour also holds ``urls`` distinct 404 URLs, more
    than one hour-filtered query can return when ``urls`` >= 1000 (see :meth:`with_bot_burst`)."""
    unpublished_site_id: str | None = None
    """A site with ``published: false``: listed, but with no events on any day."""
    _spaces: dict[str, Row] = field(init=False, repr=False)
    _sites: dict[str, Row] = field(init=False, repr=False)
    _site_orgs: dict[str, str] = field(init=False, repr=False)
    _site_pages: dict[str, tuple[_SitePage, ...]] = field(init=False, repr=False)
    _atoms: dict[tuple[str, date], tuple[SiteEventAtom, ...]] = field(init=False, repr=False)
    _atoms_lock: threading.Lock = field(init=False, repr=False)

    def __post_init__(self) -> None:
        index = {s["id"]: s for spaces in self.spaces_by_org.values() for s in spaces}
        object.__setattr__(self, "_spaces", index)
        sites = {s["id"]: s for sites in self.sites_by_org.values() for s in sites}
        object.__setattr__(self, "_sites", sites)
        orgs = {s["id"]: org for org, sites in self.sites_by_org.items() for s in sites}
        object.__setattr__(self, "_site_orgs", orgs)
        object.__setattr__(self, "_site_pages", {})
        object.__setattr__(self, "_atoms", {})
        object.__setattr__(self, "_atoms_lock", threading.Lock())
        if any(n < 0 for n in self.big_days.values()) or (self.site_groups_per_day or 0) < 0:
            raise ValueError("insight groups per day must not be negative")
        for (site_id, day), (hour, urls) in self.bot_bursts.items():
            if site_id not in sites:
                raise ValueError(f"bot_bursts: unknown site {site_id!r}")
            if not self.is_published(site_id):
                raise ValueError(f"bot_bursts: site {site_id!r} is unpublished, it has no visitors")
            if not (isinstance(day, date) and not isinstance(day, datetime)):
                raise ValueError(f"bot_bursts: {day!r} is not a date")
            if not (0 <= hour <= 23 and urls >= 0):
                raise ValueError(f"bot_bursts: hour must be 0-23 and urls >= 0, not {hour}, {urls}")

    # -- accessors used by the server and by tests

    def has_org(self, org_id: str) -> bool:
        return org_id in self.spaces_by_org

    def has_space(self, space_id: str) -> bool:
        return space_id in self._spaces

    def spaces_of(self, org_id: str) -> list[Row]:
        return self.spaces_by_org[org_id]

    def members_of(self, org_id: str) -> Sequence[Row]:
        return self.members_by_org[org_id]

    @property
    def spaces(self) -> list[Row]:
        """All spaces of all orgs, in org order."""
        return list(self._spaces.values())

    def space(self, space_id: str) -> Row:
        return self._spaces[space_id]

    def _known(self, space_id: str) -> str:
        if space_id not in self._spaces:
            raise KeyError(space_id)
        return space_id

    def page_tree(self, space_id: str) -> PageTree:
        return self.pages_by_space.get(self._known(space_id), EMPTY_TREE)

    def pages_of(self, space_id: str) -> Sequence[Row]:
        """Top-level pages of the space's content; children are nested in each page's ``pages``."""
        return self.page_tree(space_id).top

    def traffic(self, space_id: str) -> TrafficSeries:
        return self.traffic_by_space.get(self._known(space_id), EMPTY_TRAFFIC)

    def traffic_of(self, space_id: str) -> Sequence[Row]:
        return self.traffic(space_id).views

    def revision_of(self, space_id: str) -> Row:
        return make_revision(self._spaces[space_id])

    # -- awkward-case checks (used when :meth:`without` decides which cases survive)

    def _is_shared_member(self, member_id: str) -> bool:
        orgs = (
            o for o, rows in self.members_by_org.items() if any(m["id"] == member_id for m in rows)
        )
        return next(orgs, None) is not None and next(orgs, None) is not None

    def _is_guest(self, member_id: str) -> bool:
        rows = itertools.chain.from_iterable(self.members_by_org.values())
        return any(m["id"] == member_id and m.get("role") is None for m in rows)

    def _is_repeated_page(self, page_id: str) -> bool:
        spaces = (s for s in self._spaces if page_id in _page_ids(self.pages_of(s)))
        return next(spaces, None) is not None and next(spaces, None) is not None

    def _grandchildren(self, page_id: str) -> set[str]:
        """Ids of the grandchildren of every page ``page_id`` (in any space)."""
        return {
            grandchild["id"]
            for space_id in self._spaces
            for page in flatten_pages(self.pages_of(space_id))
            if page["id"] == page_id
            for child in page.get("pages", ())
            for grandchild in child.get("pages", ())
        }

    def _has_grandchildren(self, page_id: str) -> bool:
        return bool(self._grandchildren(page_id))

    # -- sites and site insights

    def has_site(self, site_id: str) -> bool:
        return site_id in self._sites

    def sites_of(self, org_id: str) -> list[Row]:
        """The org's sites as ``GET /orgs/{organizationId}/sites`` lists them."""
        if not self.has_org(org_id):
            raise KeyError(org_id)
        return self.sites_by_org.get(org_id, [])

    @property
    def sites(self) -> list[Row]:
        """All sites of all orgs, in org order (:meth:`site_org` tells whose each is)."""
        return list(self._sites.values())

    def site(self, site_id: str) -> Row:
        return self._sites[site_id]

    def site_org(self, site_id: str) -> str:
        """The org a site belongs to; Site objects themselves do not say."""
        return self._site_orgs[site_id]

    def is_published(self, site_id: str) -> bool:
        """Whether the site is live (``published``); an unpublished site has no visitors."""
        return self._sites[site_id].get("published", True) is not False

    def published_site_ids(self) -> list[str]:
        """Ids of the published sites, in org order: the only ones with insight events."""
        return [site_id for site_id in self._sites if self.is_published(site_id)]

    def _pages_of_site(self, site_id: str) -> tuple[_SitePage, ...]:
        """Pages with events: the first documents of each published space, URL paths unique."""
        cached = self._site_pages.get(site_id)
        if cached is not None:
            return cached
        org_id = self.site_org(site_id)
        space_ids = self.spaces_by_site.get(site_id)
        if space_ids is None:
            space_ids = [space["id"] for space in self.spaces_of(org_id)]
        pages: list[_SitePage] = []
        slugs: set[str] = set()
        for space_id in space_ids:
            slug = _slug(space_id)
            while slug in slugs:
                slug += "-2"
            slugs.add(slug)
            visitable = (
                p
                for p in flatten_pages(self.pages_of(space_id))
                if p.get("type") not in ("link", "group")
            )
            for page in itertools.islice(visitable, PAGES_PER_SITE_SPACE):
                path = page.get("path") if isinstance(page.get("path"), str) else page["id"]
                pages.append(_SitePage(page["id"], space_id, f"{slug}/{path}"))
        result = tuple(pages)
        self._site_pages[site_id] = result
        return result

    def groups_on(self, site_id: str, day: date) -> int:
        """How many distinct :data:`SiteInsightKey` groups the site has on ``day``: people's,
        on an ordinary day also the agents' visits to some of them and the follow-up events
        (counted from the day's atoms), and the bot burst's."""
        if not self._has_events(site_id, day):
            return 0
        people = self._ordinary_groups_on(site_id, day)
        if people <= MAX_GROUPS_PER_DAY:
            return len({atom.key for atom in self.site_events(site_id, day)})
        burst = self.bot_bursts.get((site_id, day))
        return people + (burst[1] if burst else 0)  # a big day: one key per group, no more

    def _has_events(self, site_id: str, day: date) -> bool:
        return self.is_published(site_id) and (site_id, day) not in self.quiet_site_days

    def _ordinary_groups_on(self, site_id: str, day: date) -> int:
        """Groups of the day without its bot burst (which :func:`_bot_burst_atoms` adds)."""
        if day in self.big_days:
            return self.big_days[day]
        if self.site_groups_per_day is not None:
            return self.site_groups_per_day
        spread = MAX_GROUPS_PER_DAY - MIN_GROUPS_PER_DAY + 1
        return MIN_GROUPS_PER_DAY + _digest(site_id, day.isoformat(), "groups") % spread

    def site_events(self, site_id: str, day: date) -> tuple[SiteEventAtom, ...]:
        """The site's aggregated events on one UTC day, ordered by moment (computed once, cached).

        Empty for an unpublished site or a quiet day; a bot burst's atoms are included.
        """
        key = (site_id, day)
        with self._atoms_lock:
            cached = self._atoms.get(key)
        if cached is not None:
            return cached
        atoms: tuple[SiteEventAtom, ...] = ()
        if self._has_events(site_id, day):
            basename = self.site(site_id).get("basename")
            if not (isinstance(basename, str) and basename):
                basename = _slug(site_id)
            atoms = _site_day_atoms(
                site_id,
                basename,
                self._pages_of_site(site_id),
                day,
                self._ordinary_groups_on(site_id, day),
            )
            burst = self.bot_bursts.get(key)
            if burst is not None:
                hour, urls = burst
                atoms += _bot_burst_atoms(site_id, basename, day, hour, urls)
                atoms = tuple(sorted(atoms, key=lambda a: (a.hour, a.second)))
        with self._atoms_lock:
            if len(self._atoms) >= 4096:  # a long benchmark range: start over, stay bounded
                self._atoms.clear()
            self._atoms[key] = atoms
        return atoms

    def expected_site_insights(
        self, site_id: str, day: date
    ) -> dict[SiteInsightKey, SiteInsightTotals]:
        """The day's groups, keyed :data:`SiteInsightKey` ``(event_type, page_space_id, page_id,
        url_path, page_not_found_type, visitor_bot)``, with ``(events, sessions, visitors)``
        summed over the day.

        This is what a client grouping one UTC day by eventType, page, urlPath,
        eventPageNotFoundType and visitorBot must land. Sessions and visitors are summed like
        events (the fake has no distinct visitors).
        """
        totals: dict[SiteInsightKey, SiteInsightTotals] = {}
        for atom in self.site_events(site_id, day):
            events, sessions, visitors = totals.get(atom.key, (0, 0, 0))
            totals[atom.key] = (
                events + atom.events,
                sessions + atom.sessions,
                visitors + atom.visitors,
            )
        return totals

    def expected_events_by_type(self, site_id: str, day: date) -> dict[str, int]:
        """Events per event type on the day, summed straight from the atoms.

        Independent of the grouping: a check that a warehouse's per-type totals are complete.
        Types with no events are absent.
        """
        totals: dict[str, int] = {}
        for atom in self.site_events(site_id, day):
            totals[atom.event_type] = totals.get(atom.event_type, 0) + atom.events
        return totals

    def expected_broken_url_events(
        self, site_ids: Iterable[str], days: Iterable[date]
    ) -> dict[tuple[str, str], int]:
        """Events of broken URLs (:attr:`SiteEventAtom.is_broken_url`), keyed ``(site_id,
        url_path)``, summed over ``days``.

        People's real 404s only: page_view and search_open_result events with no page and no
        ``eventPageNotFoundType`` (a ``conditional`` 404 is a gated page that exists, not a
        broken URL), by no bot. Keyed by site too, because two sites may share a basename and
        so URL paths.
        """
        days = list(days)
        totals: dict[tuple[str, str], int] = {}
        for site_id in site_ids:
            for day in days:
                for atom in self.site_events(site_id, day):
                    if atom.is_broken_url:
                        key = (site_id, atom.url_path)
                        totals[key] = totals.get(key, 0) + atom.events
        return totals

    def expected_site_insight_rows(self, days: Iterable[date]) -> int:
        """Groups over all sites for the given days: the rows a per-day sync of them lands."""
        days = list(days)
        return sum(len(self.expected_site_insights(s, d)) for s in self._sites for d in days)

    def expected_row_counts(self, *, traffic: bool = True) -> dict[str, int]:
        """Rows a correct full sync lands per table (nested pages flattened to one row each).

        ``traffic=False``: the API does not serve space traffic (today's API, 0.202.0), so
        ``insights_traffic`` is 0. :meth:`FakeGitBookAPI.expected_row_counts` picks it for you.
        """
        views = sum(len(self.traffic_of(s)) for s in self._spaces) if traffic else 0
        return {
            "users": 1,
            "organizations": len(self.organizations),
            "spaces": len(self._spaces),
            "org_members": sum(len(m) for m in self.members_by_org.values()),
            "content": sum(self.page_tree(s).total for s in self._spaces),
            "insights_traffic": views,
            "sites": len(self._sites),
        }

    def without(
        self,
        *,
        orgs: Iterable[str] = (),
        spaces: Iterable[str] = (),
        members: Iterable[tuple[str, str]] = (),
        pages: Iterable[tuple[str, str]] = (),
        sites: Iterable[str] = (),
        site_days: Iterable[tuple[str, date]] = (),
    ) -> Dataset:
        """A new dataset serving what GitBook would after these deletions (this one is unchanged).

        - ``orgs``: org ids; their spaces, members and sites go too.
        - ``spaces``: space ids; their pages and traffic go, and sites stop publishing them
          (``siteSpaces`` is updated).
        - ``members``: ``(org_id, member_id)`` pairs.
        - ``pages``: ``(space_id, page_id)`` pairs; the page goes with its whole subtree, and the
          space gets a new ``revision`` (and ``updatedAt`` one second later), as an edit would.
        - ``sites``: site ids.
        - ``site_days``: ``(site_id, day)`` pairs: the site had no events that day, so
          :meth:`expected_site_insights` is ``{}`` and aggregations answer empty columns (a bot
          burst on that day goes too).

        Ids unknown to this dataset raise ValueError. The awkward-case attributes keep naming
        their entity while it (and the case) still exists, else become None. Lists with
        removals are materialised, so lazily generated members and pages are built in full.
        """
        return _Removal.plan(
            self,
            orgs=orgs,
            spaces=spaces,
            members=members,
            pages=pages,
            sites=sites,
            site_days=site_days,
        ).apply()

    def with_bot_burst(
        self, site_id: str, day: date, *, hour: int = BOT_BURST_HOUR, urls: int = BOT_BURST_URLS
    ) -> Dataset:
        """A new dataset where a bot probes ``urls`` distinct missing URLs in one hour of ``day``.

        Each URL (``/<basename>/wp-login-<k>.php`` or ``/<basename>/.env-<k>``) is one 404
        page_view group with a few events, at its own second of the hour. With the default 1100
        the page_views of that hour alone exceed GitBook's 1000-group limit, so even a query
        filtered to page_view and that ``hourOfDay`` is cut; a half-hour ``range`` is not.
        Replaces an earlier burst on the same site and day; this dataset is unchanged.
        """
        if not self.has_site(site_id):
            raise ValueError(f"unknown site {site_id!r}")
        bursts = {**self.bot_bursts, (site_id, day): (hour, urls)}
        return dataclasses.replace(self, bot_bursts=bursts)

    # -- builders

    @classmethod
    def from_objects(
        cls,
        user: Row,
        organizations: Sequence[Row],
        spaces_by_org: Mapping[str, Sequence[Row]],
        members_by_org: Mapping[str, Sequence[Row]] | None = None,
        pages_by_space: Mapping[str, Sequence[Row] | PageTree] | None = None,
        traffic_by_space: Mapping[str, Sequence[Row] | TrafficSeries] | None = None,
        anchor: date = DEMO_ANCHOR,
        sites_by_org: Mapping[str, Sequence[Row]] | None = None,
        spaces_by_site: Mapping[str, Sequence[str]] | None = None,
        big_days: Mapping[date, int] | None = None,
    ) -> Dataset:
        """A dataset serving exactly these objects (e.g. generated ones), paginated as usual.

        ``pages_by_space`` holds each space's top-level pages with children nested in their
        ``pages``; ``traffic_by_space`` holds each space's ``views``. Orgs or spaces missing from
        the mappings have no spaces, members, pages or traffic. Objects are served as given (not
        copied, not checked against a schema), except that the ids must make sense as an index:
        org ids unique, space ids unique across all orgs (``/spaces/{id}`` addresses one space),
        site ids unique across all orgs, and every key of a mapping an org, space or site this
        dataset holds. Revisions are built from each space's ``revision``, ``updatedAt`` and
        ``urls.app`` (see :func:`make_revision`). Site insights are generated as usual, from the
        pages of the spaces in ``spaces_by_site`` (default: every space of the site's org).
        """
        org_ids = [org["id"] for org in organizations]
        if len(set(org_ids)) != len(org_ids):
            raise ValueError("organization ids must be unique")
        known_orgs = set(org_ids)
        members_by_org = members_by_org or {}
        for name, mapping in (("spaces_by_org", spaces_by_org), ("members_by_org", members_by_org)):
            unknown = set(mapping) - known_orgs
            if unknown:
                raise ValueError(f"{name} has orgs not in organizations: {sorted(unknown)!r}")
        space_ids = [space["id"] for spaces in spaces_by_org.values() for space in spaces]
        if len(set(space_ids)) != len(space_ids):
            raise ValueError("space ids must be unique across all organizations")
        pages_by_space = pages_by_space or {}
        traffic_by_space = traffic_by_space or {}
        for name, mapping in (
            ("pages_by_space", pages_by_space),
            ("traffic_by_space", traffic_by_space),
        ):
            unknown = set(mapping) - set(space_ids)
            if unknown:
                raise ValueError(f"{name} has spaces not in spaces_by_org: {sorted(unknown)!r}")
        sites_by_org = sites_by_org or {}
        unknown = set(sites_by_org) - known_orgs
        if unknown:
            raise ValueError(f"sites_by_org has orgs not in organizations: {sorted(unknown)!r}")
        site_ids = [site["id"] for sites in sites_by_org.values() for site in sites]
        if len(set(site_ids)) != len(site_ids):
            raise ValueError("site ids must be unique across all organizations")
        spaces_by_site = spaces_by_site or {}
        unknown = set(spaces_by_site) - set(site_ids)
        if unknown:
            raise ValueError(f"spaces_by_site has sites not in sites_by_org: {sorted(unknown)!r}")
        unknown = {s for spaces in spaces_by_site.values() for s in spaces} - set(space_ids)
        if unknown:
            raise ValueError(f"spaces_by_site has spaces not in spaces_by_org: {sorted(unknown)!r}")
        return cls(
            user=user,
            organizations=list(organizations),
            spaces_by_org={o: list(spaces_by_org.get(o, ())) for o in org_ids},
            members_by_org={o: members_by_org.get(o, ()) for o in org_ids},
            pages_by_space={
                s: tree if isinstance(tree, PageTree) else PageTree.of(tree)
                for s, tree in pages_by_space.items()
            },
            traffic_by_space={
                s: views if isinstance(views, TrafficSeries) else TrafficSeries(views)
                for s, views in traffic_by_space.items()
            },
            anchor=anchor,
            sites_by_org={o: list(sites_by_org[o]) for o in org_ids if o in sites_by_org},
            spaces_by_site={site: list(spaces) for site, spaces in spaces_by_site.items()},
            big_days=dict(big_days or {}),
        )

    @classmethod
    def demo(cls, anchor: date = DEMO_ANCHOR) -> Dataset:
        """The small hand-shaped dataset with every awkward case (see the class attributes)."""
        return _build_demo(anchor)

    @classmethod
    def generate(
        cls,
        *,
        orgs: int = 4,
        spaces_per_org: int = 8,
        members_per_org: int = 60,
        pages_per_space: int = 30,
        traffic_points_per_space: int = 30,
        shared_user: bool = True,
        awkward_ids: bool = True,
        nested_pages: bool = True,
        empty_spaces: int = 0,
        anchor: date = DEMO_ANCHOR,
        sites_per_org: int = 2,
        big_days: Mapping[date, int] | None = None,
        site_groups_per_day: int | None = None,
        bot_bursts: Mapping[tuple[str, date], tuple[int, int]] | None = None,
    ) -> Dataset:
        """A parameterised dataset for benchmarks; members, pages, traffic and insights are lazy.

        ``pages_per_space`` counts every page of a space's tree (the ``content`` rows). With
        ``nested_pages`` the tree starts with ``intro`` then ``guide`` > ``guide-setup`` >
        ``guide-setup-advanced``; the rest are flat top-level pages. ``shared_user`` makes the
        authenticated user a member of every org; ``awkward_ids`` gives each org's first space
        and first site an id with ``+``, a space and ``/``. The last ``empty_spaces`` spaces have
        no content. Site ``s`` of an org publishes the org's spaces ``s``, ``s + sites_per_org``,
        ... Every site has ``big_days[day]`` insight groups on those days, and
        ``site_groups_per_day`` (default: 6-30, varying) on every other day. ``bot_bursts`` maps
        ``(site_id, day)`` to ``(hour, urls)``: see :meth:`with_bot_burst`.
        """
        return _build_generated(
            orgs=orgs,
            spaces_per_org=spaces_per_org,
            members_per_org=members_per_org,
            pages_per_space=pages_per_space,
            traffic_points=traffic_points_per_space,
            shared_user=shared_user,
            awkward_ids=awkward_ids,
            nested_pages=nested_pages,
            empty_spaces=empty_spaces,
            anchor=anchor,
            sites_per_org=sites_per_org,
            big_days=big_days or {},
            site_groups_per_day=site_groups_per_day,
            bot_bursts=bot_bursts or {},
        )


# --- deletions (Dataset.without) --------------------------------------------------------------


def _ids(kind: str, values: Iterable[Any]) -> frozenset[Any]:
    """``values`` as a set; a bare string is refused (it would be read as its characters)."""
    if isinstance(values, str):
        raise TypeError(f"{kind}: pass a collection of ids, not the string {values!r}")
    return frozenset(values)


def _refuse_unknown(kind: str, unknown: Iterable[Any]) -> None:
    unknown = sorted(unknown, key=repr)
    if unknown:
        raise ValueError(f"unknown {kind}: {unknown!r}")


def _page_ids(pages: Sequence[Row]) -> set[str]:
    return {page["id"] for page in flatten_pages(pages)}


def _prune(pages: Sequence[Row], removed: frozenset[str]) -> list[Row]:
    """``pages`` without the removed ids and their subtrees; pages with children are copied."""
    kept: list[Row] = []
    for page in pages:
        if page["id"] in removed:
            continue
        if isinstance(page.get("pages"), Sequence):
            page = {**page, "pages": _prune(page["pages"], removed)}
        kept.append(page)
    return kept


def _edited(space: Row, removed_pages: frozenset[str]) -> Row:
    """The space after its content changed: a new revision id, ``updatedAt`` a second later."""
    tag = f"{_digest(*sorted(removed_pages)) % 16**8:08x}"
    edited = {**space, "revision": f"{space.get('revision')}-{tag}"}
    with contextlib.suppress(TypeError, ValueError):  # an unparseable stamp stays as it is
        updated = datetime.fromisoformat(space["updatedAt"])
        edited["updatedAt"] = iso(updated + timedelta(seconds=1))
    return edited


def _is_site_day(dataset: Dataset, pair: Any) -> bool:
    """Whether ``pair`` is ``(site id of this dataset, date)`` (a datetime is not a day)."""
    if not (isinstance(pair, tuple) and len(pair) == 2):
        return False
    site_id, day = pair
    return dataset.has_site(site_id) and isinstance(day, date) and not isinstance(day, datetime)


@dataclass(frozen=True)
class _Removal:
    """What :meth:`Dataset.without` removes, checked against the dataset and fully expanded."""

    dataset: Dataset
    orgs: frozenset[str]
    spaces: frozenset[str]
    """The spaces named, and every space of a removed org."""
    sites: frozenset[str]
    """The sites named, and every site of a removed org."""
    members: dict[str, frozenset[str]]
    pages: dict[str, frozenset[str]]
    site_days: frozenset[tuple[str, date]]

    @classmethod
    def plan(
        cls,
        dataset: Dataset,
        *,
        orgs: Iterable[str],
        spaces: Iterable[str],
        members: Iterable[tuple[str, str]],
        pages: Iterable[tuple[str, str]],
        sites: Iterable[str],
        site_days: Iterable[tuple[str, date]],
    ) -> _Removal:
        org_ids, space_ids, site_ids = (
            _ids("orgs", orgs),
            _ids("spaces", spaces),
            _ids("sites", sites),
        )
        _refuse_unknown("organizations", (o for o in org_ids if not dataset.has_org(o)))
        _refuse_unknown("spaces", (s for s in space_ids if not dataset.has_space(s)))
        _refuse_unknown("sites", (s for s in site_ids if not dataset.has_site(s)))
        member_pairs = cls._group(
            "members", members, dataset.has_org, lambda o: {m["id"] for m in dataset.members_of(o)}
        )
        page_pairs = cls._group(
            "pages", pages, dataset.has_space, lambda s: _page_ids(dataset.pages_of(s))
        )
        days = _ids("site_days", site_days)
        _refuse_unknown("site_days", (pair for pair in days if not _is_site_day(dataset, pair)))
        return cls(
            dataset=dataset,
            orgs=org_ids,
            spaces=space_ids | {s["id"] for o in org_ids for s in dataset.spaces_of(o)},
            sites=site_ids | {s["id"] for o in org_ids for s in dataset.sites_of(o)},
            members=member_pairs,
            pages=page_pairs,
            site_days=days,
        )

    @staticmethod
    def _group(
        kind: str,
        pairs: Iterable[tuple[str, str]],
        has_owner: Callable[[str], bool],
        ids_of: Callable[[str], set[str]],
    ) -> dict[str, frozenset[str]]:
        """``(owner, id)`` pairs as ``{owner: ids}``; ValueError names any pair that is unknown."""
        grouped: dict[str, set[str]] = {}
        for pair in _ids(kind, pairs):
            if not (isinstance(pair, tuple) and len(pair) == 2 and has_owner(pair[0])):
                _refuse_unknown(kind, [pair])
            grouped.setdefault(pair[0], set()).add(pair[1])
        for owner, ids in grouped.items():
            _refuse_unknown(kind, ((owner, i) for i in ids - ids_of(owner)))
        return {owner: frozenset(ids) for owner, ids in grouped.items()}

    def apply(self) -> Dataset:
        old = self.dataset
        spaces_by_site = {
            site: [s for s in published if s not in self.spaces]
            for site, published in old.spaces_by_site.items()
            if site not in self.sites
        }
        draft = dataclasses.replace(
            old,
            organizations=[o for o in old.organizations if o["id"] not in self.orgs],
            spaces_by_org={
                org: [self._space(s) for s in rows if s["id"] not in self.spaces]
                for org, rows in old.spaces_by_org.items()
                if org not in self.orgs
            },
            members_by_org={
                org: self._members(org, rows)
                for org, rows in old.members_by_org.items()
                if org not in self.orgs
            },
            pages_by_space={
                space: self._tree(space, tree)
                for space, tree in old.pages_by_space.items()
                if space not in self.spaces
            },
            traffic_by_space={
                space: series
                for space, series in old.traffic_by_space.items()
                if space not in self.spaces
            },
            sites_by_org={
                org: [self._site(s, spaces_by_site) for s in rows if s["id"] not in self.sites]
                for org, rows in old.sites_by_org.items()
                if org not in self.orgs
            },
            spaces_by_site=spaces_by_site,
            quiet_site_days=frozenset(
                pair for pair in old.quiet_site_days | self.site_days if pair[0] not in self.sites
            ),
            bot_bursts={
                pair: burst for pair, burst in old.bot_bursts.items() if pair[0] not in self.sites
            },
        )
        return dataclasses.replace(draft, **self._awkward_cases(draft))

    def _space(self, space: Row) -> Row:
        removed = self.pages.get(space["id"])
        return _edited(space, removed) if removed else space

    def _members(self, org_id: str, rows: Sequence[Row]) -> Sequence[Row]:
        removed = self.members.get(org_id)
        return [m for m in rows if m["id"] not in removed] if removed else rows

    def _tree(self, space_id: str, tree: PageTree) -> PageTree:
        removed = self.pages.get(space_id)
        return PageTree.of(_prune(tree.top, removed)) if removed else tree

    def _site(self, site: Row, spaces_by_site: Mapping[str, list[str]]) -> Row:
        published = spaces_by_site.get(site["id"])
        before = self.dataset.spaces_by_site.get(site["id"])
        if published is None or before is None or len(published) == len(before):
            return site
        return {**site, "siteSpaces": len(published)}

    def _awkward_cases(self, new: Dataset) -> dict[str, str | None]:
        """Each awkward-case attribute, kept while its entity (and its case) still exists."""
        old = self.dataset
        people_gone = bool(self.orgs or self.members)
        pages_gone = bool(self.spaces or self.pages)
        cases: dict[str, str | None] = {
            "empty_space_id": _keep(old.empty_space_id, new.has_space),
            "awkward_space_id": _keep(old.awkward_space_id, new.has_space),
            "awkward_site_id": _keep(old.awkward_site_id, new.has_site),
            "unpublished_site_id": _keep(old.unpublished_site_id, new.has_site),
        }
        if people_gone:
            cases["shared_member_id"] = _keep(old.shared_member_id, new._is_shared_member)
            cases["guest_member_id"] = _keep(old.guest_member_id, new._is_guest)
        if pages_gone:
            cases["repeated_page_id"] = _keep(old.repeated_page_id, new._is_repeated_page)
            nested = _keep(old.nested_page_id, new._has_grandchildren)
            cases["nested_page_id"] = nested
            cases["grandchild_page_id"] = _keep(
                old.grandchild_page_id if nested else None,
                lambda g: nested is not None and g in new._grandchildren(nested),
            )
            cases["paginated_space_id"] = _keep(
                old.paginated_space_id, lambda s: new.has_space(s) and len(new.pages_of(s)) > 5
            )
        return cases


def _keep(value: str | None, still: Callable[[str], bool]) -> str | None:
    return value if value is not None and still(value) else None


# --- demo ------------------------------------------------------------------------------------

_DEMO_ORGS = (("org-acme", "Acme Docs"), ("org-globex", "Globex Corporation"))
_DEMO_SPACES = {
    "org-acme": (
        ("acme-handbook", "Handbook", "public"),
        ("acme-api", "API Reference", "public"),
        ("acme-empty", "Empty Drafts", "private"),
        ("sp+ace x/1", "Awkward Space", "unlisted"),
        ("acme-changelog", "Changelog", "public"),
        ("acme-design", "Design System", "private"),
    ),
    "org-globex": (
        ("globex-docs", "Globex Docs", "public"),
        ("globex-runbooks", "Runbooks", "private"),
    ),
}
# (site id, title, basename, site spaces, published); ids that need no URL encoding.
_DEMO_SITES = {
    "org-acme": (
        (
            "site_docs",
            "Acme Documentation",
            "docs",
            ("acme-handbook", "acme-api", "sp+ace x/1"),
            True,
        ),
        ("site_changelog", "Acme Changelog", "changelog", ("acme-changelog",), True),
    ),
    "org-globex": (
        ("site_globex", "Globex Help Center", "help", ("globex-docs",), True),
        ("site_runbooks", "Globex Runbooks (draft)", "runbooks", ("globex-runbooks",), False),
    ),
}
_DEMO_UNPUBLISHED_SITE = "site_runbooks"
_DEMO_PEOPLE = {
    "org-acme": (
        ("user-grace", "Grace Hopper", "create"),
        ("user-alan", "Alan Turing", "edit"),
        ("user-edsger", "Edsger Dijkstra", "review"),
        ("user-barbara", "Barbara Liskov", "comment"),
        ("user-ken", "Ken Thompson", "read"),
        ("user-linus", "Linus Torvalds", "read"),
    ),
    "org-globex": (
        ("user-margaret", "Margaret Hamilton", "admin"),
        ("user-dennis", "Dennis Ritchie", "edit"),
        ("user-guest", "Guest Reviewer", None),
    ),
}


def _demo_pages(pm: PageMaker, space_id: str) -> list[Row]:
    intro = pm.document("intro", "Introduction", "intro")
    if space_id == "acme-handbook":
        advanced = pm.document("guide-setup-advanced", "Advanced setup", "guide/setup/advanced")
        setup = pm.document("guide-setup", "Setup", "guide/setup", [advanced], icon="gear")
        faq = pm.document("guide-faq", "FAQ", "guide/faq")
        reference = pm.group(
            "reference",
            "Reference",
            "reference",
            [
                pm.document("reference-api", "API", "reference/api"),
                pm.document("reference-cli", "CLI", "reference/cli"),
            ],
        )
        return [
            intro,
            pm.document("guide", "Guide", "guide", [setup, faq], cover={"yPos": 0}),
            reference,
            pm.link("changelog-link", "Changelog", "https://example.com/changelog"),
            pm.document("glossary", "Glossary", "glossary"),
            pm.document("contributing", "Contributing", "contributing"),
        ]
    if space_id == "sp+ace x/1":
        notes = pm.document("notes-2024", "Notes 2024", "notes/2024")
        return [intro, pm.document("notes", "Notes", "notes", [notes])]
    return [
        intro,
        pm.document("overview", "Overview", "overview"),
        pm.document("faq", "FAQ", "faq"),
    ]


def _build_demo(anchor: date) -> Dataset:
    base = midnight(anchor)
    user = make_user("user-ada", "Ada Lovelace", "ada@example.com")
    organizations = [
        make_organization(org_id, title, base - timedelta(days=900 - 100 * i))
        for i, (org_id, title) in enumerate(_DEMO_ORGS)
    ]
    spaces_by_org: dict[str, list[Row]] = {}
    pages: dict[str, PageTree] = {}
    traffic: dict[str, TrafficSeries] = {}
    salt = 0
    for org_id, specs in _DEMO_SPACES.items():
        spaces_by_org[org_id] = []
        for space_id, title, visibility in specs:
            salt += 1
            created = base - timedelta(days=400 - salt)
            space = make_space(space_id, org_id, title, created, visibility=visibility)
            spaces_by_org[org_id].append(space)
            if space_id == "acme-empty":
                continue
            pm = PageMaker(space, edited=base - timedelta(days=salt))
            pages[space_id] = PageTree.of(_demo_pages(pm, space_id))
            traffic[space_id] = traffic_series(anchor, TRAFFIC_DAYS, salt)

    sites_by_org: dict[str, list[Row]] = {}
    spaces_by_site: dict[str, list[str]] = {}
    for n, (org_id, site_specs) in enumerate(_DEMO_SITES.items()):
        sites_by_org[org_id] = []
        for k, (site_id, title, basename, site_spaces, published) in enumerate(site_specs):
            created = base - timedelta(days=200 - 10 * n - k)
            sites_by_org[org_id].append(
                make_site(
                    site_id,
                    org_id,
                    title,
                    created,
                    basename=basename,
                    site_spaces=len(site_spaces),
                    published=published,
                )
            )
            spaces_by_site[site_id] = list(site_spaces)

    own_roles = {"org-acme": "admin", "org-globex": "read"}
    members: dict[str, Sequence[Row]] = {}
    for n, (org_id, people) in enumerate(_DEMO_PEOPLE.items()):
        joined = base - timedelta(days=300 - 10 * n)
        rows = [make_member(user, own_roles[org_id], joined, spaces=3)]
        for i, (person_id, name, role) in enumerate(people, start=1):
            person = make_user(person_id, name, f"{person_id.removeprefix('user-')}@example.com")
            rows.append(
                make_member(
                    person,
                    role,
                    joined + timedelta(days=i),
                    disabled=person_id == "user-linus",
                )
            )
        members[org_id] = rows

    return Dataset(
        user=user,
        organizations=organizations,
        spaces_by_org=spaces_by_org,
        members_by_org=members,
        pages_by_space=pages,
        traffic_by_space=traffic,
        anchor=anchor,
        shared_member_id=user["id"],
        empty_space_id="acme-empty",
        awkward_space_id="sp+ace x/1",
        repeated_page_id="intro",
        nested_page_id="guide",
        grandchild_page_id="guide-setup-advanced",
        guest_member_id="user-guest",
        paginated_space_id="acme-handbook",
        sites_by_org=sites_by_org,
        spaces_by_site=spaces_by_site,
        unpublished_site_id=_DEMO_UNPUBLISHED_SITE,
    )


# --- generated -------------------------------------------------------------------------------

_ROLES = ("admin", "create", "edit", "review", "comment", "read")


def _generated_tree(pm: PageMaker, total: int, nested: bool) -> PageTree:
    """``total`` pages: an optional fixed nested head, then lazily built flat pages."""
    head: list[Row] = []
    if total >= 1:
        head.append(pm.document("intro", "Introduction", "intro"))
    if nested and total >= 4:
        advanced = pm.document("guide-setup-advanced", "Advanced setup", "guide/setup/advanced")
        setup = pm.document("guide-setup", "Setup", "guide/setup", [advanced])
        head.append(pm.document("guide", "Guide", "guide", [setup]))
    head_total = count_pages(head)
    flat = max(total - head_total, 0)

    def top_level(i: int) -> Row:
        if i < len(head):
            return head[i]
        k = i - len(head) + head_total
        return pm.document(f"page-{k:05d}", f"Page {k}", f"page-{k:05d}")

    return PageTree(top=LazyRows(len(head) + flat, top_level), total=head_total + flat)


def _build_generated(
    *,
    orgs: int,
    spaces_per_org: int,
    members_per_org: int,
    pages_per_space: int,
    traffic_points: int,
    shared_user: bool,
    awkward_ids: bool,
    nested_pages: bool,
    empty_spaces: int,
    anchor: date,
    sites_per_org: int,
    big_days: Mapping[date, int],
    site_groups_per_day: int | None,
    bot_bursts: Mapping[tuple[str, date], tuple[int, int]],
) -> Dataset:
    sizes = (orgs, spaces_per_org, members_per_org, pages_per_space, traffic_points, sites_per_org)
    if min(sizes) < 0:
        raise ValueError("dataset sizes must not be negative")
    base = midnight(anchor)
    user = make_user("user-bench", "Benchmark User", "bench@example.com")
    organizations: list[Row] = []
    spaces_by_org: dict[str, list[Row]] = {}
    members: dict[str, Sequence[Row]] = {}
    pages: dict[str, PageTree] = {}
    traffic: dict[str, TrafficSeries] = {}
    all_space_ids: list[str] = []
    sites_by_org: dict[str, list[Row]] = {}
    spaces_by_site: dict[str, list[str]] = {}

    for o in range(orgs):
        org_id = f"org-{o:03d}"
        organizations.append(make_organization(org_id, f"Organization {o:03d}", base))
        spaces_by_org[org_id] = []
        for s in range(spaces_per_org):
            space_id = f"sp+ace x/{o:03d}" if awkward_ids and s == 0 else f"space-{o:03d}-{s:03d}"
            created = base - timedelta(days=365)
            space = make_space(space_id, org_id, f"Space {o:03d}/{s:03d}", created)
            spaces_by_org[org_id].append(space)
            all_space_ids.append(space_id)
            pm = PageMaker(space, edited=base - timedelta(days=1))
            pages[space_id] = _generated_tree(pm, pages_per_space, nested_pages)
            traffic[space_id] = traffic_series(anchor, traffic_points, len(all_space_ids))
        members[org_id] = _generated_members(user, o, members_per_org, shared_user, base)
        sites_by_org[org_id] = []
        for k in range(sites_per_org):
            site_id = f"site +x/{o:03d}" if awkward_ids and k == 0 else f"site_{o:03d}_{k:02d}"
            published = [s["id"] for s in spaces_by_org[org_id][k::sites_per_org]]
            spaces_by_site[site_id] = published
            sites_by_org[org_id].append(
                make_site(
                    site_id,
                    org_id,
                    f"Site {o:03d}/{k:02d}",
                    base - timedelta(days=180),
                    basename=f"site-{k:02d}",
                    site_spaces=len(published),
                )
            )

    empties = all_space_ids[len(all_space_ids) - empty_spaces :] if empty_spaces else []
    for space_id in empties:
        pages.pop(space_id)
        traffic.pop(space_id)
    has_nested = nested_pages and pages_per_space >= 4
    return Dataset(
        user=user,
        organizations=organizations,
        spaces_by_org=spaces_by_org,
        members_by_org=members,
        pages_by_space=pages,
        traffic_by_space=traffic,
        anchor=anchor,
        shared_member_id=user["id"] if shared_user and orgs >= 2 and members_per_org else None,
        empty_space_id=empties[0] if empties else None,
        awkward_space_id=next((s for s in all_space_ids if "/" in s), None),
        repeated_page_id="intro" if pages_per_space and len(all_space_ids) > 1 else None,
        nested_page_id="guide" if has_nested else None,
        grandchild_page_id="guide-setup-advanced" if has_nested else None,
        sites_by_org=sites_by_org,
        spaces_by_site=spaces_by_site,
        big_days=dict(big_days),
        site_groups_per_day=site_groups_per_day,
        awkward_site_id=next((s for s in spaces_by_site if "/" in s), None),
        bot_bursts=dict(bot_bursts),
    )


def _generated_members(
    user: Row, org_index: int, count: int, shared_user: bool, base: datetime
) -> Sequence[Row]:
    """Members of one org; member 0 is the authenticated user when shared (or in the first org)."""
    user_first = count > 0 and (shared_user or org_index == 0)

    def member(i: int) -> Row:
        joined = base - timedelta(days=200 - i % 200)
        if i == 0 and user_first:
            return make_member(user, "admin", joined)
        person_id = f"user-{org_index:03d}-{i:05d}"
        person = make_user(person_id, f"Person {org_index}-{i}", f"{person_id}@example.com")
        return make_member(person, _ROLES[i % len(_ROLES)], joined)

    return LazyRows(count, member)
