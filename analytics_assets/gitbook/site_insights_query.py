"""Site insights for one site, one UTC day and one grouping (one table; see
`site_insights_groupings.py`): the query bodies, the column-to-row pivot, and the splitting that
keeps a day with more groups than GitBook's `limit` complete.

GitBook answers `POST .../insights/events/aggregate` with at most 1,000 groups and truncates
silently. A day is fetched in one query when it has fewer; otherwise per event type (each group
has one event type, so the parts are disjoint and exact); and an event type that still fills the
limit is fetched over halves of its time window, halved again wherever a half still fills it,
down to a single millisecond (`range` takes millisecond timestamps and `to` is inclusive). A
bot that requests 1,100 missing URLs in one hour costs a few extra queries, not a failed day.

Events sum exactly over disjoint windows. Sessions and visitors are distinct counts, so a group
seen in more than one window has upper bounds for them, and its row says so in `query_split`.
Nothing here does HTTP: `post` is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from analytics_assets.gitbook.errors import GitBookError
from analytics_assets.gitbook.site_insights_groupings import PAGE, PAGE_COLUMNS, PAGES, Grouping

QUERY_LIMIT = 1000
"""GitBook's maximum `limit` for an aggregation query."""

PAGE_VIEW = "page_view"
NOT_FOUND_EVENTS = frozenset({PAGE_VIEW, "search_open_result"})
"""GitBook's 404s (0.202.0): a page view or an opened search result whose page is null, on the
site itself (display context `site`, GitBook's default)."""
SITE_CONTEXT = "site"
EMPTY_IS_NULL = frozenset(
    {
        "visitorBot",
        "referrerDomain",
        "visitorGeoCountry",
        "eventSearchQuery",
        "eventPageFeedbackComment",
    }
)
"""Columns where GitBook's schema allows an empty string for "none" (a person's `visitorBot`
is null or `""`): stored as null, so `is null` means one thing in every table."""
COUNTS = {
    "eventsCount": "events_count",
    "sessionsCount": "sessions_count",
    "visitorsCount": "visitors_count",
}
SELECT = [{"column": column} for column in COUNTS]
DAY_MS = 24 * 60 * 60 * 1000
FINEST_WINDOW_MS = 1
"""The narrowest window a split can query: one millisecond of one event type."""

SPLIT_NONE = "none"
SPLIT_EVENT_TYPE = "event_type"
SPLIT_EVENT_TYPE_AND_TIME = "event_type_and_time"
"""The row's counts are sums over several time windows: sessions and visitors are upper bounds."""

Body = dict[str, Any]
Post = Callable[[Body], Mapping[str, Any]]
"""Sends one aggregation body for a fixed site and returns the parsed JSON response."""


class TooManyGroupsError(GitBookError):
    """One millisecond of one event type still fills the limit: the day cannot be complete."""


@dataclass(frozen=True)
class Window:
    """Milliseconds `start` through `end` (both included) of one UTC day."""

    day: date
    start: int = 0
    end: int = DAY_MS - 1

    def stamp(self, offset: int) -> str:
        moment = datetime(self.day.year, self.day.month, self.day.day) + timedelta(
            milliseconds=offset
        )
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{offset % 1000:03d}Z"

    def as_range(self) -> dict[str, str]:
        return {"from": self.stamp(self.start), "to": self.stamp(self.end)}

    def halves(self) -> tuple[Window, Window]:
        middle = (self.start + self.end) // 2
        return Window(self.day, self.start, middle), Window(self.day, middle + 1, self.end)

    @property
    def width(self) -> int:
        return self.end - self.start + 1

    def describe(self) -> str:
        start, end = self.stamp(self.start)[11:-1], self.stamp(self.end)[11:-1]
        return f"{start} of {self.day}" if start == end else f"{start} to {end} of {self.day}"


def day_range(day: date) -> dict[str, str]:
    """Exactly the UTC day: from its first to its last millisecond."""
    return Window(day).as_range()


def aggregate_body(
    day: date,
    *,
    where: Sequence[Mapping[str, Any]] = (),
    group_by: Sequence[Body] | None = None,
    window: Window | None = None,
) -> Body:
    """A `SiteInsightsQueryEventsAggregation` for one day, or one window of it."""
    body: Body = {
        "select": list(SELECT),
        "groupBy": PAGES.group_by() if group_by is None else list(group_by),
        "range": (window or Window(day)).as_range(),
        "limit": QUERY_LIMIT,
    }
    if where:
        body["where"] = list(where)
    return body


def equals(column: str, value: Any) -> dict[str, Any]:
    return {"column": column, "values": [value], "operator": "in"}


def pivot(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """GitBook's column-oriented result as one dict per group, keyed by GitBook's column names.

    Raises ValueError when the columns do not line up, rather than loading shifted values.
    """
    columns = result.get("columns")
    if not isinstance(columns, list):
        raise ValueError(f"expected a 'columns' list, got {type(columns).__name__}")
    names = [column["column"] for column in columns]
    if len(set(names)) != len(names):
        raise ValueError(f"a column appears twice: {names}")
    values = [column["values"] for column in columns]
    if len({len(column) for column in values}) > 1:
        lengths = {name: len(column) for name, column in zip(names, values, strict=True)}
        raise ValueError(f"columns have different lengths: {lengths}")
    return [dict(zip(names, group, strict=True)) for group in zip(*values, strict=True)]


def _count(value: Any, column: str) -> int:
    """Counts arrive as JSON numbers; a fractional or negative one is kept for the checks."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{column} is not a number: {value!r}")
    return int(value) if float(value).is_integer() else value


def to_row(
    group: Mapping[str, Any],
    *,
    site_id: str,
    day: date,
    split: str,
    grouping: Grouping = PAGES,
) -> dict[str, Any]:
    """One warehouse row of `grouping`'s table.

    GitBook's `page` is null for an event that resolved to no page, which for a page view or
    an opened search result is a 404 (`is_not_found`): kept, with its `url_path`, because
    broken URLs are what people look for. A page value with a space and a null page is an
    event in a space but on no particular page, not a 404. `page_not_found_type` is GitBook's
    reason for a 404: "conditional" when adaptive content hid a page that exists, which GitBook
    says to leave out of broken links. `visitor_bot` is null for a person. Only events on the
    site itself (`display_context` "site") can be 404s: a tool's request for a page's markdown
    or an MCP read that finds nothing is not a visitor at a broken URL.
    """
    row: dict[str, Any] = {"site_id": site_id, "day": day, "event_type": group["eventType"]}
    for column, name in grouping.columns:
        value = _value(group, column)
        if column == PAGE:
            page = value if isinstance(value, Mapping) else {}
            row.update(zip(PAGE_COLUMNS, (page.get("space"), page.get("page")), strict=True))
        else:
            row[name] = value
    if grouping.marks_not_found:
        context = group.get("displayContext")  # null: GitBook's default, the site
        row["is_not_found"] = (
            group.get(PAGE) is None
            and group["eventType"] in NOT_FOUND_EVENTS
            and context in (None, SITE_CONTEXT)
        )
    row["query_split"] = split
    for column, name in COUNTS.items():
        row[name] = _count(group.get(column), column)
    return row


def _bucket_day(group: Mapping[str, Any]) -> date | None:
    stamp = group.get("datetime")
    if not isinstance(stamp, str):
        return None
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).date()


def _value(group: Mapping[str, Any], column: str) -> Any:
    """A group's value of `column`, with an empty string for "none" read as null."""
    value = group.get(column)
    return None if value == "" and column in EMPTY_IS_NULL else value


def _hashable(value: Any) -> Any:
    """A group value as a dict key: GitBook's page is an object."""
    return tuple(sorted(value.items())) if isinstance(value, Mapping) else value


def _key(group: Mapping[str, Any], grouping: Grouping) -> tuple[Any, ...]:
    return (
        group.get("eventType"),
        *(_hashable(_value(group, column)) for column, _ in grouping.columns),
    )


def _sum_windows(
    parts: Iterable[list[dict[str, Any]]], grouping: Grouping
) -> list[tuple[dict[str, Any], int]]:
    """The same group's counts from disjoint windows added up, with how many windows had it."""
    summed: dict[tuple[Any, ...], tuple[dict[str, Any], list[int]]] = {}
    for groups in parts:
        for group in groups:
            key = _key(group, grouping)
            if key not in summed:
                summed[key] = (dict(group), [1])
                continue
            total, seen = summed[key]
            seen[0] += 1
            for column in COUNTS:
                total[column] += group[column]
    return [(group, seen[0]) for group, seen in summed.values()]


def _windows_of(
    post: Post, day: date, event_type: str, site_id: str, grouping: Grouping
) -> list[list[dict[str, Any]]]:
    """Every group of one event type, as the complete results of disjoint time windows.

    A window whose answer fills the limit may be cut off, so it is halved and asked again.
    """
    by_type = [equals("eventType", event_type)]
    complete: list[list[dict[str, Any]]] = []
    pending = [Window(day)]
    group_by = grouping.group_by()
    while pending:
        window = pending.pop()
        body = aggregate_body(day, where=by_type, group_by=group_by, window=window)
        groups = pivot(post(body))
        if len(groups) < QUERY_LIMIT:
            complete.append(groups)
        elif window.width > FINEST_WINDOW_MS:
            pending.extend(reversed(window.halves()))
        else:
            raise TooManyGroupsError(
                f"Site '{site_id}' has {QUERY_LIMIT} or more '{event_type}' groups of "
                f"'{grouping.name}' within one "
                f"millisecond ({window.describe()} UTC), GitBook's query limit, so that day "
                "cannot be loaded completely. Nothing was loaded for it; please report this case."
            )
    return complete


def fetch_day(
    post: Post, day: date, *, site_id: str, grouping: Grouping = PAGES
) -> list[dict[str, Any]]:
    """Every group of `day` for one site as rows of `grouping`'s table, splitting until nothing
    is cut off."""
    where, group_by = grouping.where(), grouping.group_by()
    groups = pivot(post(aggregate_body(day, where=where, group_by=group_by)))
    if len(groups) < QUERY_LIMIT:
        return _rows(((g, 1) for g in groups), site_id, day, grouping, exact=SPLIT_NONE)

    types = list(grouping.event_types)
    if len(types) != 1:  # which types the day has; a grouping of one type needs no query
        by_type = aggregate_body(day, where=where, group_by=[{"column": "eventType"}])
        types = [group["eventType"] for group in pivot(post(by_type))]
    rows: list[dict[str, Any]] = []
    for event_type in types:
        parts = _windows_of(post, day, event_type, site_id, grouping)
        rows += _rows(_sum_windows(parts, grouping), site_id, day, grouping, exact=SPLIT_EVENT_TYPE)
    return rows


def _rows(
    groups: Iterable[tuple[Mapping[str, Any], int]],
    site_id: str,
    day: date,
    grouping: Grouping,
    *,
    exact: str,
) -> list[dict[str, Any]]:
    """Rows of groups with how many windows each came from: one window is exact (`exact`)."""
    rows = []
    for group, windows in groups:
        bucket = _bucket_day(group)
        if bucket is not None and bucket != day:
            raise ValueError(f"asked for {day} but GitBook returned a group for {bucket}")
        split = exact if windows == 1 else SPLIT_EVENT_TYPE_AND_TIME
        rows.append(to_row(group, site_id=site_id, day=day, split=split, grouping=grouping))
    return rows
