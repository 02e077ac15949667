"""The column-to-row pivot and the split decisions of a site insights day, without HTTP.

`post` here is a small in-memory aggregation over a list of events: enough to see which
queries the splitting sends and that the rows add up. The HTTP path, with GitBook's schema
validating every body, is in test_site_insights.py.
"""

from collections import Counter
from datetime import date, datetime, timezone
from typing import Any

import pytest

from analytics_assets.gitbook.site_insights_groupings import AUDIENCE, GROUPINGS, Grouping
from analytics_assets.gitbook.site_insights_query import (
    QUERY_LIMIT,
    SPLIT_EVENT_TYPE,
    SPLIT_EVENT_TYPE_AND_TIME,
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
        "is_not_found": True,
        "page_not_found_type": None,
        "visitor_bot": None,
        "display_context": None,
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


HOUR_MS = 3_600_000


def _ms(stamp: str) -> int:
    """Milliseconds since DAY's midnight of a body's `range` timestamp."""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return round((moment - datetime(2024, 6, 30, tzinfo=timezone.utc)).total_seconds() * 1000)


class Aggregator:
    """Events (event type, millisecond of the day, URL path, count), aggregated the way the
    queries ask: `range` (both ends included), `eventType` filters, the groupBy columns."""

    def __init__(self, events: list[tuple[str, int, str, int]], distinct: str = "urlPath") -> None:
        self.events = events
        self.distinct = distinct
        """The group-by column that carries each event's path (what tells groups apart)."""
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, body: dict[str, Any]) -> dict[str, Any]:
        self.bodies.append(body)
        wanted = {w["column"]: set(w["values"]) for w in body.get("where", [])}
        assert set(wanted) <= {"eventType"}, wanted
        start, end = _ms(body["range"]["from"]), _ms(body["range"]["to"])
        group_by = [g["column"] for g in body["groupBy"]]
        totals: Counter[tuple[Any, ...]] = Counter()
        for event_type, moment, path, count in self.events:
            if event_type not in wanted.get("eventType", {event_type}):
                continue
            if not start <= moment <= end:
                continue
            fields = {
                "datetime": "2024-06-30T00:00:00.000Z",
                "eventType": event_type,
                "displayContext": "site",
                self.distinct: path,
            }
            totals[tuple(fields.get(c) for c in group_by)] += count
        groups = sorted(totals.items(), key=lambda item: (-item[1], item[0]))[: body["limit"]]
        columns = [
            {"column": column, "values": [key[i] for key, _ in groups]}
            for i, column in enumerate(group_by)
        ]
        for name in ("eventsCount", "sessionsCount", "visitorsCount"):
            columns.append({"column": name, "values": [total for _, total in groups]})
        return {"columns": columns}


def paths(event_type: str, n: int, hours: int = 1) -> list[tuple[str, int, str, int]]:
    return [(event_type, (i % hours) * HOUR_MS, f"/{event_type}/{i}", 1) for i in range(n)]


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


def test_a_bot_burst_in_one_hour_is_split_into_windows_and_summed_exactly() -> None:
    # 1,100 distinct 404 URLs within hour 13, one per ~3 s, each requested twice (once at
    # second s, once 30 minutes later): no hour filter could hold them in 1,000 groups.
    burst = [
        ("page_view", 13 * HOUR_MS + offset, f"/docs/wp-{i}.php", 1)
        for i in range(1100)
        for offset in (i * 1636, i * 1636 + 1_800_000)
        if offset < HOUR_MS
    ]
    quiet = paths("page_view", 300, hours=24) + paths("search_open", 40, hours=24)
    post = Aggregator(burst + quiet)

    rows = fetch_day(post, DAY, site_id="s")

    expected: Counter[tuple[str, str]] = Counter()
    for event_type, _, path, count in burst + quiet:
        expected[(event_type, path)] += count
    assert {(r["event_type"], r["url_path"]): r["events_count"] for r in rows} == expected
    assert len(rows) == len(expected)  # nothing counted twice
    # A URL seen in two windows has summed sessions (upper bounds) and says so; one seen in a
    # single window is exact.
    by_split = Counter(r["query_split"] for r in rows)
    assert by_split[SPLIT_EVENT_TYPE_AND_TIME] > 0 and by_split[SPLIT_EVENT_TYPE] > 0
    for row in rows:
        if row["query_split"] == SPLIT_EVENT_TYPE_AND_TIME:
            assert row["events_count"] == 2
    # Every window query was either complete or split further; none ran past the day.
    windows = [b["range"] for b in post.bodies if b.get("where")]
    assert all(_ms(w["from"]) >= 0 and _ms(w["to"]) < 24 * HOUR_MS for w in windows)
    assert len(post.bodies) < 2 + 2 + 2 * 24  # far fewer than an hourly split of the day


def test_windows_meet_without_a_gap_or_an_overlap() -> None:
    # Events on both sides of every millisecond boundary of the first halvings.
    edges = [HOUR_MS * 12 - 1, HOUR_MS * 12, HOUR_MS * 6 - 1, HOUR_MS * 6, 0, 24 * HOUR_MS - 1]
    events = [("page_view", edge, f"/edge/{edge}/{i}", 1) for edge in edges for i in range(200)]
    post = Aggregator(events)

    rows = fetch_day(post, DAY, site_id="s")

    assert sum(r["events_count"] for r in rows) == len(events)
    assert len(rows) == len(events)


def test_a_millisecond_over_the_limit_fails_rather_than_losing_rows() -> None:
    moment = 13 * HOUR_MS + 7
    post = Aggregator([("page_view", moment, f"/p/{i}", 1) for i in range(QUERY_LIMIT)])

    with pytest.raises(
        TooManyGroupsError, match=r"within one millisecond \(13:00:00.007 of 2024-06-30 UTC\)"
    ):
        fetch_day(post, DAY, site_id="s")
    # Halving a day down to one millisecond takes 27 levels: the finest split is reachable.
    assert len(post.bodies) < 2 + 2 * 28


def test_404s_are_told_from_pages_without_a_page_and_conditional_404s() -> None:
    """GitBook's 404: a page_view or search_open_result with a null page on the site, whoever
    the visitor."""

    def group(
        page: Any,
        event_type: str = "page_view",
        reason: Any = None,
        bot: str | None = None,
        context: str | None = None,
    ) -> dict[str, Any]:
        return {
            "eventType": event_type,
            "page": page,
            "urlPath": "/docs/x",
            "eventPageNotFoundType": reason,
            "visitorBot": bot,
            "displayContext": context,
            "eventsCount": 1,
            "sessionsCount": 1,
            "visitorsCount": 1,
        }

    def row(g: dict[str, Any]) -> dict[str, Any]:
        return to_row(g, site_id="s", day=DAY, split=SPLIT_NONE)

    real = row(group(None))
    conditional = row(group(None, reason="conditional"))
    spaceless = row(group({"page": None, "space": "space-1"}))
    search = row(group(None, event_type="search_open"))
    from_search = row(group(None, event_type="search_open_result"))
    crawled = row(group(None, bot="googlebot", context="site"))
    through_mcp = row(group(None, bot="claude", context="mcp"))

    assert (real["is_not_found"], real["page_not_found_type"]) == (True, None)
    assert (conditional["is_not_found"], conditional["page_not_found_type"]) == (
        True,
        "conditional",
    )
    assert (spaceless["is_not_found"], spaceless["page_space_id"]) == (False, "space-1")
    assert search["is_not_found"] is False
    assert (from_search["is_not_found"], from_search["visitor_bot"]) == (True, None)
    assert (crawled["is_not_found"], crawled["visitor_bot"]) == (True, "googlebot")
    assert (crawled["display_context"], through_mcp["display_context"]) == ("site", "mcp")
    assert through_mcp["is_not_found"] is False


@pytest.mark.parametrize("grouping", GROUPINGS[1:], ids=lambda g: g.name)
def test_every_table_splits_a_day_over_the_limit_exactly(grouping: Grouping) -> None:
    """2,500 distinct groups of one event type in four hours: each table's query splits them
    into windows under the limit, within its own event types, and loses none."""
    event_type = grouping.event_types[0]
    distinct = next(column for column, _ in grouping.columns if column != "page")
    post = Aggregator(paths(event_type, 2500, hours=4), distinct=distinct)

    rows = fetch_day(post, DAY, site_id="s", grouping=grouping)

    assert len(rows) == 2500 and sum(r["events_count"] for r in rows) == 2500
    name = dict(grouping.columns)[distinct]
    assert len({r[name] for r in rows}) == 2500
    assert {r["query_split"] for r in rows} == {SPLIT_EVENT_TYPE}
    # Every body stays within the table's event types and asks for its columns.
    assert all(set(b["where"][0]["values"]) <= set(grouping.event_types) for b in post.bodies)
    by_type = [b for b in post.bodies if b["groupBy"] == [{"column": "eventType"}]]
    assert len(by_type) == (0 if len(grouping.event_types) == 1 else 1)
    windows = [b for b in post.bodies if b not in by_type]
    assert all(b["groupBy"] == grouping.group_by() for b in windows)


def test_an_empty_string_for_none_is_stored_as_null() -> None:
    """GitBook's schema allows "" for a person's visitorBot and a missing referrer."""
    group = {
        "eventType": "page_view",
        "referrerDomain": "",
        "visitorGeoCountry": "",
        "visitorDevice": "desktop",
        "visitorBot": "",
        "eventsCount": 3,
        "sessionsCount": 2,
        "visitorsCount": 1,
    }

    row = to_row(group, site_id="s", day=DAY, split=SPLIT_NONE, grouping=AUDIENCE)

    assert (row["referrer_domain"], row["country"], row["visitor_bot"]) == (None, None, None)
    assert row["device"] == "desktop"
