"""Site insights for one site and one UTC day: the query bodies, the column-to-row pivot, and
the splitting that keeps a day with more groups than GitBook's `limit` complete.

GitBook answers `POST .../insights/events/aggregate` with at most 1,000 groups and truncates
silently. A day is fetched in one query when it has fewer; otherwise per event type (each group
has one event type, so the parts are disjoint and exact); and an event type that still fills the
limit is fetched per hour of the day and summed. Events sum exactly over hours; sessions and
visitors are distinct counts, so their hourly sums are upper bounds, and such rows say so in
`query_split`. Nothing here does HTTP: `post` is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from analytics_assets.gitbook.errors import GitBookError

QUERY_LIMIT = 1000
"""GitBook's maximum `limit` for an aggregation query."""

COUNTS = {
    "eventsCount": "events_count",
    "sessionsCount": "sessions_count",
    "visitorsCount": "visitors_count",
}
SELECT = [{"column": column} for column in COUNTS]
GROUP_BY = [
    {"column": "datetime", "interval": "day"},
    {"column": "eventType"},
    {"column": "page"},
    {"column": "urlPath"},
]
HOURS = range(24)

SPLIT_NONE = "none"
SPLIT_EVENT_TYPE = "event_type"
SPLIT_EVENT_TYPE_AND_HOUR = "event_type_and_hour"

Body = dict[str, Any]
Post = Callable[[Body], Mapping[str, Any]]
"""Sends one aggregation body for a fixed site and returns the parsed JSON response."""


class TooManyGroupsError(GitBookError):
    """One hour of one event type still fills the limit: the day cannot be fetched completely."""


def day_range(day: date) -> dict[str, str]:
    """Exactly the UTC day: from its first to its last millisecond."""
    return {"from": f"{day.isoformat()}T00:00:00.000Z", "to": f"{day.isoformat()}T23:59:59.999Z"}


def aggregate_body(
    day: date, *, where: Sequence[Mapping[str, Any]] = (), group_by: Sequence[Body] = GROUP_BY
) -> Body:
    """A `SiteInsightsQueryEventsAggregation` for one day."""
    body: Body = {
        "select": list(SELECT),
        "groupBy": list(group_by),
        "range": day_range(day),
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


def to_row(group: Mapping[str, Any], *, site_id: str, day: date, split: str) -> dict[str, Any]:
    """One warehouse row. `page` is null for a URL that matched no page (a 404): kept, with its
    `url_path`, because broken URLs are what people look for."""
    page = group.get("page")
    row: dict[str, Any] = {
        "site_id": site_id,
        "day": day,
        "event_type": group["eventType"],
        "page_id": page.get("page") if isinstance(page, Mapping) else None,
        "page_space_id": page.get("space") if isinstance(page, Mapping) else None,
        "url_path": group.get("urlPath"),
        "query_split": split,
    }
    for column, name in COUNTS.items():
        row[name] = _count(group.get(column), column)
    return row


def _bucket_day(group: Mapping[str, Any]) -> date | None:
    stamp = group.get("datetime")
    if not isinstance(stamp, str):
        return None
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).date()


def _key(group: Mapping[str, Any]) -> tuple[Any, ...]:
    page = group.get("page")
    page_key = (page.get("space"), page.get("page")) if isinstance(page, Mapping) else None
    return (group.get("eventType"), page_key, group.get("urlPath"))


def _sum_groups(groups: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Hourly parts of the same (event type, page, URL path) added up."""
    summed: dict[tuple[Any, ...], dict[str, Any]] = {}
    for group in groups:
        key = _key(group)
        if key not in summed:
            summed[key] = dict(group)
            continue
        for column in COUNTS:
            summed[key][column] += group[column]
    return list(summed.values())


def fetch_day(post: Post, day: date, *, site_id: str) -> list[dict[str, Any]]:
    """Every group of `day` for one site as warehouse rows, splitting until nothing is cut off."""
    groups = pivot(post(aggregate_body(day)))
    if len(groups) < QUERY_LIMIT:
        return _rows(groups, site_id, day, SPLIT_NONE)

    types = [
        group["eventType"]
        for group in pivot(post(aggregate_body(day, group_by=[{"column": "eventType"}])))
    ]
    rows: list[dict[str, Any]] = []
    for event_type in types:
        by_type = equals("eventType", event_type)
        groups = pivot(post(aggregate_body(day, where=[by_type])))
        if len(groups) < QUERY_LIMIT:
            rows += _rows(groups, site_id, day, SPLIT_EVENT_TYPE)
            continue
        hourly: list[dict[str, Any]] = []
        for hour in HOURS:
            part = pivot(post(aggregate_body(day, where=[by_type, equals("hourOfDay", hour)])))
            if len(part) >= QUERY_LIMIT:
                raise TooManyGroupsError(
                    f"Site '{site_id}' has {QUERY_LIMIT} or more '{event_type}' groups in hour "
                    f"{hour:02d} of {day} (UTC), GitBook's query limit, so that day cannot be "
                    "loaded completely. Nothing was loaded for it; please report this case."
                )
            hourly += part
        rows += _rows(_sum_groups(hourly), site_id, day, SPLIT_EVENT_TYPE_AND_HOUR)
    return rows


def _rows(
    groups: Iterable[Mapping[str, Any]], site_id: str, day: date, split: str
) -> list[dict[str, Any]]:
    rows = []
    for group in groups:
        bucket = _bucket_day(group)
        if bucket is not None and bucket != day:
            raise ValueError(f"asked for {day} but GitBook returned a group for {bucket}")
        rows.append(to_row(group, site_id=site_id, day=day, split=split))
    return rows
