"""The column-to-row pivot and the split decisions of a site insights day, without HTTP.

`post` here is a small in-memory aggregation over a list of events: enough to see which
queries the splitting sends and that the rows add up. The HTTP path, with GitBook's schema
validating every body, is in test_site_insights.py.
"""

from collections import Counter
from datetime import date
from typing import Any

import pytest

from analytics_assets.gitbook.site_insights_query import (
    QUERY_LIMIT,
    SPLIT_EVENT_TYPE,
    SPLIT_EVENT_TYPE_AND_HOUR,
    SPLIT_NONE,
    TooManyGroupsError,
    aggregate_body,
    fetch_day,
    pivot,
    to_row,
)

DAY = date(2024, 6, 30)


def test_pivot_turns_columns_into_one_dict_per_group() -> None:
    result = {
        "columns": [
            {"column": "eventType", "values": ["page_view", "search_open"]},
            {"column": "page", "values": [{"page": "p1", "space": "s1"}, None]},
            {"column": "eventsCount", "values": [10, 2]},
        ]
    }

    assert pivot(result) == [
        {"eventType": "page_view", "page": {"page": "p1", "space": "s1"}, "eventsCount": 10},
        {"eventType": "search_open", "page": None, "eventsCount": 2},
    ]
    assert pivot({"columns": []}) == []


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ({"columns": [{"column": "a", "values": [1]}, {"column": "b", "values": []}]}, "lengths"),
        ({"columns": [{"column": "a", "values": [1]}, {"column": "a", "values": [2]}]}, "twice"),
        ({"rows": []}, "'columns' list"),
    ],
)
def test_pivot_refuses_columns_that_do_not_line_up(result: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pivot(result)


def test_a_404_row_keeps_its_url_and_has_no_page() -> None:
    group = {
        "datetime": "2024-06-30T00:00:00.000Z",
        "eventType": "page_view",
        "page": None,
        "urlPath": "/docs/missing",
        "eventsCount": 3,
        "sessionsCount": 2,
        "visitorsCount": 2.0,
    }

    row = to_row(group, site_id="site_1", day=DAY, split=SPLIT_NONE)

    assert row == {
        "site_id": "site_1",
        "day": DAY,
        "event_type": "page_view",
        "page_id": None,
        "page_space_id": None,
        "url_path": "/docs/missing",
        "query_split": SPLIT_NONE,
        "events_count": 3,
        "sessions_count": 2,
        "visitors_count": 2,
    }
    assert isinstance(row["visitors_count"], int)


def test_the_body_asks_for_exactly_the_utc_day_at_the_limit() -> None:
    body = aggregate_body(DAY)

    assert body["range"] == {"from": "2024-06-30T00:00:00.000Z", "to": "2024-06-30T23:59:59.999Z"}
    assert body["limit"] == QUERY_LIMIT
    assert body["groupBy"][0] == {"column": "datetime", "interval": "day"}
    assert "where" not in body


class Aggregator:
    """Events (event type, hour, URL path, count) aggregated the way the queries ask."""

    def __init__(self, events: list[tuple[str, int, str, int]]) -> None:
        self.events = events
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, body: dict[str, Any]) -> dict[str, Any]:
        self.bodies.append(body)
        wanted = {w["column"]: set(w["values"]) for w in body.get("where", [])}
        group_by = [g["column"] for g in body["groupBy"]]
        totals: Counter[tuple[Any, ...]] = Counter()
        for event_type, hour, path, count in self.events:
            if event_type not in wanted.get("eventType", {event_type}):
                continue
            if hour not in wanted.get("hourOfDay", {hour}):
                continue
            fields = {
                "datetime": "2024-06-30T00:00:00.000Z",
                "eventType": event_type,
                "page": None,
                "urlPath": path,
            }
            totals[tuple(fields[c] for c in group_by)] += count
        groups = sorted(totals.items(), key=lambda item: (-item[1], item[0]))[: body["limit"]]
        columns = [
            {"column": column, "values": [key[i] for key, _ in groups]}
            for i, column in enumerate(group_by)
        ]
        for name in ("eventsCount", "sessionsCount", "visitorsCount"):
            columns.append({"column": name, "values": [total for _, total in groups]})
        return {"columns": columns}


def paths(event_type: str, n: int, hours: int = 1) -> list[tuple[str, int, str, int]]:
    return [(event_type, i % hours, f"/{event_type}/{i}", 1) for i in range(n)]


def test_a_small_day_is_one_query() -> None:
    post = Aggregator(paths("page_view", 10) + paths("search_open", 5))

    rows = fetch_day(post, DAY, site_id="s")

    assert len(rows) == 15 and {r["query_split"] for r in rows} == {SPLIT_NONE}
    assert len(post.bodies) == 1


def test_a_full_day_is_split_by_event_type_exactly() -> None:
    post = Aggregator(paths("page_view", 900) + paths("search_open", 600))

    rows = fetch_day(post, DAY, site_id="s")

    assert len(rows) == 1500
    assert {r["query_split"] for r in rows} == {SPLIT_EVENT_TYPE}
    # The full query, the event-type listing, then one query per event type.
    assert len(post.bodies) == 4
    assert [b.get("where") for b in post.bodies[2:]] == [
        [{"column": "eventType", "values": ["page_view"], "operator": "in"}],
        [{"column": "eventType", "values": ["search_open"], "operator": "in"}],
    ]


def test_an_event_type_over_the_limit_is_split_by_hour_and_summed() -> None:
    # Each path is seen in two hours, so the hourly parts must be added back together.
    events = [("page_view", h, f"/p/{i}", 1) for i in range(1200) for h in (i % 24, (i + 1) % 24)]
    post = Aggregator(events)

    rows = fetch_day(post, DAY, site_id="s")

    assert len(rows) == 1200
    assert {r["events_count"] for r in rows} == {2}
    assert {r["query_split"] for r in rows} == {SPLIT_EVENT_TYPE_AND_HOUR}
    assert len(post.bodies) == 2 + 1 + 24


def test_an_hour_over_the_limit_fails_rather_than_losing_rows() -> None:
    post = Aggregator(paths("page_view", 1000 * 24 + 24, hours=24))

    with pytest.raises(TooManyGroupsError, match=r"'page_view' groups in hour 00 of 2024-06-30"):
        fetch_day(post, DAY, site_id="s")
