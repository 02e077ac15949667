"""The bundled API's sites and site insights: listing, query validation, aggregation, big days.

The sync of site insights will be written against this fake, so the fake must hold GitBook's
line: bodies validated against GitBook's own schema (0.202.0), column-oriented answers that match
GitBook's response schema, silent truncation at ``limit``, and days too big for one query (even
one hour too big: a bot burst, split by millisecond ``range`` windows). It also holds the cases
GitBook's data has: 404s on gated pages (``eventPageNotFoundType``), events in a space but on no
page, unpublished sites (no events, a ``published`` filter). Everything goes over real HTTP
(``requests``), as the client will.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest
import requests

from analytics_assets.devtools.fake_api import Dataset, FakeGitBookAPI, Fault
from analytics_assets.devtools.fake_api.__main__ import build_parser
from analytics_assets.devtools.fake_api.__main__ import main as fake_api_main
from analytics_assets.devtools.fake_api.dataset import (
    ASK_QUESTIONS,
    FEEDBACK_COMMENTS,
    FOLLOW_UP_EVENTS,
    SCANNER,
    SEARCH_QUERIES,
    SITE_EVENT_TYPES,
    SiteInsightKey,
    flatten_pages,
)
from analytics_assets.devtools.fake_api.server import ORG_SITES, SITE_INSIGHTS_AGGREGATE
from analytics_assets.devtools.fake_api.site_insights import ATOM_FIELDS, query_schema
from analytics_assets_tests.harness import TEST_TOKEN
from analytics_assets_tests.openapi_contract import (
    SUBSET_FILE,
    ContractError,
    validate_request,
    validate_response,
)

ANCHOR = date(2024, 6, 30)
GROUP_BY = [
    {"column": "eventType"},
    {"column": "page"},
    {"column": "urlPath"},
    {"column": "eventPageNotFoundType"},
    {"column": "visitorBot"},
    {"column": "displayContext"},
]
"""The columns of :data:`SiteInsightKey`: a day's groups as ``expected_site_insights`` has them."""
COUNTS = [{"column": "eventsCount"}, {"column": "sessionsCount"}, {"column": "visitorsCount"}]


def day_range(day: date) -> dict[str, str]:
    """The range a client sends for one UTC day."""
    return {"from": f"{day.isoformat()}T00:00:00.000Z", "to": f"{day.isoformat()}T23:59:59.999Z"}


def day_query(day: date, **extra: Any) -> dict[str, Any]:
    return {"range": day_range(day), "groupBy": GROUP_BY, "select": COUNTS, **extra}


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {TEST_TOKEN}"
        yield session


def sites_url(api: FakeGitBookAPI, org_id: str) -> str:
    return api.base_url + ORG_SITES.replace("{organizationId}", quote(org_id, safe=""))


def aggregate_url(api: FakeGitBookAPI, org_id: str, site_id: str) -> str:
    path = SITE_INSIGHTS_AGGREGATE.replace("{organizationId}", quote(org_id, safe=""))
    return api.base_url + path.replace("{siteId}", quote(site_id, safe=""))


def post(http: requests.Session, api: FakeGitBookAPI, site_id: str, body: Any) -> requests.Response:
    org_id = api.dataset.site_org(site_id)
    return http.post(aggregate_url(api, org_id, site_id), json=body, timeout=30)


def query(
    http: requests.Session,
    api: FakeGitBookAPI,
    site_id: str,
    body: Any,
    *,
    check_schema: bool = True,
) -> dict[str, Any]:
    """A successful aggregate answer, checked against GitBook's response schema.

    ``check_schema=False`` skips that check: at 1000 rows it takes about a second (every column
    is tried against GitBook's 50-branch ``oneOf``).
    """
    response = post(http, api, site_id, body)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    payload = response.json()
    if check_schema:
        validate_response(SITE_INSIGHTS_AGGREGATE, payload, method="post")
    return payload


def rows_of(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Column-oriented ``{"columns": [...]}`` as one dict per group."""
    columns = payload["columns"]
    lengths = {len(c["values"]) for c in columns}
    assert len(lengths) <= 1, f"columns of different lengths: {lengths}"
    names = [c["column"] for c in columns]
    return [
        dict(zip(names, values, strict=True))
        for values in zip(*(c["values"] for c in columns), strict=True)
    ]


def insight_key(row: dict[str, Any]) -> SiteInsightKey:
    """A row of a :data:`GROUP_BY` query as ``(event_type, page_space_id, page_id, url_path,
    page_not_found_type, visitor_bot, display_context)``."""
    page = row["page"]
    space_id, page_id = (None, None) if page is None else (page["space"], page["page"])
    return (
        row["eventType"],
        space_id,
        page_id,
        row["urlPath"],
        row["eventPageNotFoundType"],
        row["visitorBot"],
        row["displayContext"],
    )


def as_insights(rows: list[dict[str, Any]]) -> dict[SiteInsightKey, tuple[int, int, int]]:
    """Rows of a :data:`GROUP_BY` query keyed like ``expected_site_insights``."""
    out: dict[SiteInsightKey, tuple[int, int, int]] = {}
    for row in rows:
        key = insight_key(row)
        assert key not in out, f"group {key} returned twice"
        out[key] = (row["eventsCount"], row["sessionsCount"], row["visitorsCount"])
    return out


def summed(parts: list[list[dict[str, Any]]]) -> dict[SiteInsightKey, tuple[int, int, int]]:
    """Rows of several :data:`GROUP_BY` queries over disjoint parts of a day, added up."""
    out: dict[SiteInsightKey, tuple[int, int, int]] = {}
    for rows in parts:
        for key, totals in as_insights(rows).items():
            before = out.get(key, (0, 0, 0))
            out[key] = (before[0] + totals[0], before[1] + totals[1], before[2] + totals[2])
    return out


def error_message(response: requests.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == status
    assert isinstance(error["message"], str) and error["message"]
    return str(error["message"])


# --- sites ---------------------------------------------------------------------------------------


def test_sites_are_listed_per_org_with_cursor_pagination(http: requests.Session) -> None:
    dataset = Dataset.demo()
    with FakeGitBookAPI(dataset=dataset, token=TEST_TOKEN, default_page_size=1) as api:
        bodies = []
        params: dict[str, str] = {}
        while True:
            body = http.get(sites_url(api, "org-acme"), params=params, timeout=10).json()
            validate_response(ORG_SITES, body)
            bodies.append(body)
            if "next" not in body:
                break
            params = {"page": body["next"]["page"]}
        globex = http.get(sites_url(api, "org-globex"), timeout=10).json()
        unknown = http.get(sites_url(api, "org-nope"), timeout=10)
        as_post = http.post(sites_url(api, "org-acme"), json={}, timeout=10)

    assert [[s["id"] for s in b["items"]] for b in bodies] == [["site_docs"], ["site_changelog"]]
    assert {b["count"] for b in bodies} == {2}
    # The unpublished site is listed (and loaded) like any other; it only has no events.
    assert [s["id"] for s in globex["items"]] == ["site_globex"] and globex["count"] == 2
    assert error_message(unknown, 404)
    assert error_message(as_post, 405)
    assert [s["id"] for s in dataset.sites] == [
        "site_docs",
        "site_changelog",
        "site_globex",
        "site_runbooks",
    ]
    assert {s["id"]: dataset.site_org(s["id"]) for s in dataset.sites} == {
        "site_docs": "org-acme",
        "site_changelog": "org-acme",
        "site_globex": "org-globex",
        "site_runbooks": "org-globex",
    }
    assert all("organization" not in s and s["object"] == "site" for s in dataset.sites)
    assert dataset.expected_row_counts()["sites"] == 4


def test_an_awkward_site_id_works_when_percent_encoded(http: requests.Session) -> None:
    dataset = Dataset.generate(orgs=2, spaces_per_org=2, members_per_org=1, pages_per_space=3)
    awkward = dataset.awkward_site_id
    assert awkward is not None and all(c in awkward for c in "+ /")
    assert len(dataset.sites) == 4 and dataset.expected_row_counts()["sites"] == 4

    with FakeGitBookAPI(dataset=dataset, token=TEST_TOKEN) as api:
        listed = http.get(sites_url(api, dataset.site_org(awkward)), timeout=10).json()
        validate_response(ORG_SITES, listed)
        payload = query(http, api, awkward, day_query(ANCHOR))
        recorded = api.requests_to(SITE_INSIGHTS_AGGREGATE)[-1]

    assert awkward in [s["id"] for s in listed["items"]]
    assert as_insights(rows_of(payload)) == dataset.expected_site_insights(awkward, ANCHOR)
    assert recorded.params["siteId"] == awkward
    assert quote(awkward, safe="") in recorded.raw_path


# --- answers -------------------------------------------------------------------------------------


def test_a_day_grouped_by_type_page_and_path_matches_expected_site_insights(
    fake_api: FakeGitBookAPI, http: requests.Session, dataset: Dataset
) -> None:
    for site_id in dataset.published_site_ids():
        payload = query(http, fake_api, site_id, day_query(ANCHOR))
        names = [c["column"] for c in payload["columns"]]
        rows = rows_of(payload)
        expected = dataset.expected_site_insights(site_id, ANCHOR)

        assert names == [c["column"] for c in [*GROUP_BY, *COUNTS]]
        assert as_insights(rows) == expected
        people = [key for key in expected if key[5] is None and key[0] not in FOLLOW_UP_EVENTS]
        assert 6 <= len(people) <= 30 and len(expected) > len(people)  # agents visit some
        # Ordered by eventsCount, largest first (the default order).
        events = [row["eventsCount"] for row in rows]
        assert events == sorted(events, reverse=True)
        # A 404 is a page_view whose page is null; pages belong to spaces of the site's org.
        assert any(r["page"] is None and r["eventType"] == "page_view" for r in rows)
        org_spaces = {s["id"] for s in dataset.spaces_of(dataset.site_org(site_id))}
        assert {r["page"]["space"] for r in rows if r["page"]} <= org_spaces


def test_counts_are_consistent_and_every_day_has_data(dataset: Dataset) -> None:
    """Every day of every published site has data, a broken URL among it."""
    today = datetime.now(timezone.utc).date()
    for site_id in dataset.published_site_ids():
        for day in (date(2019, 2, 28), ANCHOR - timedelta(days=400), ANCHOR, today):
            atoms = dataset.site_events(site_id, day)
            assert atoms and all(0 <= a.hour <= 23 and a.second == 0 for a in atoms)
            assert all(1 <= a.visitors <= a.sessions <= a.events for a in atoms)
            assert {a.event_type for a in atoms} <= set(SITE_EVENT_TYPES)
            groups = dataset.expected_site_insights(site_id, day)
            assert any(key[0:3] == ("page_view", None, None) and not key[4] for key in groups)
            assert dataset.groups_on(site_id, day) == len(groups)
    days = [ANCHOR - timedelta(days=i) for i in range(3)]
    assert dataset.expected_site_insight_rows(iter(days)) == sum(
        len(dataset.expected_site_insights(s["id"], d)) for s in dataset.sites for d in days
    )
    # Deterministic: a fresh dataset has the same events; another day has other events.
    again = Dataset.demo()
    assert again.site_events("site_docs", ANCHOR) == dataset.site_events("site_docs", ANCHOR)
    assert dataset.site_events("site_docs", ANCHOR) != dataset.site_events("site_docs", today)


def test_a_site_with_no_events_on_a_day(http: requests.Session) -> None:
    """``Dataset.without(site_days=...)``: that day has no groups; every other day is unchanged."""
    demo = Dataset.demo()
    before = ANCHOR - timedelta(days=1)
    quiet = demo.without(site_days=[("site_docs", ANCHOR)])
    with FakeGitBookAPI(dataset=quiet, token=TEST_TOKEN) as api:
        grouped = query(http, api, "site_docs", day_query(ANCHOR))
        totals = query(http, api, "site_docs", {"range": day_range(ANCHOR), "select": COUNTS})
        by_hour = query(
            http,
            api,
            "site_docs",
            {"range": day_range(ANCHOR), "groupBy": [{"column": "datetime"}]},
        )
        other_day = query(http, api, "site_docs", day_query(before))

    assert quiet.expected_site_insights("site_docs", ANCHOR) == {}
    assert (
        quiet.site_events("site_docs", ANCHOR) == () and quiet.groups_on("site_docs", ANCHOR) == 0
    )
    assert grouped == {
        "columns": [{"column": c["column"], "values": []} for c in [*GROUP_BY, *COUNTS]]
    }
    assert by_hour == {
        "columns": [{"column": "datetime", "values": []}, {"column": "eventsCount", "values": []}]
    }
    assert rows_of(totals) == [dict.fromkeys([c["column"] for c in COUNTS], 0)]  # no groupBy
    assert as_insights(rows_of(other_day)) == demo.expected_site_insights("site_docs", before)
    for site in ("site_changelog", "site_globex"):
        assert quiet.expected_site_insights(site, ANCHOR) == demo.expected_site_insights(
            site, ANCHOR
        )
    assert demo.expected_site_insights("site_docs", ANCHOR)  # the original still has events
    assert quiet.expected_site_insight_rows([ANCHOR]) == demo.expected_site_insight_rows(
        [ANCHOR]
    ) - len(demo.expected_site_insights("site_docs", ANCHOR))


def test_quiet_days_survive_later_removals_and_work_on_generated_data() -> None:
    generated = Dataset.generate(orgs=2, spaces_per_org=2, members_per_org=2, pages_per_space=3)
    site_ids = [s["id"] for s in generated.sites]
    quiet = generated.without(site_days=[(site_ids[0], ANCHOR), (site_ids[-1], ANCHOR)])
    later = quiet.without(spaces=["space-000-001"], sites=[site_ids[-1]])

    assert quiet.expected_site_insights(site_ids[0], ANCHOR) == {}
    assert later.expected_site_insights(site_ids[0], ANCHOR) == {}
    assert later.quiet_site_days == frozenset({(site_ids[0], ANCHOR)})  # the removed site's went
    assert later.expected_site_insights(site_ids[1], ANCHOR)
    with pytest.raises(ValueError, match="site_days"):
        generated.without(site_days=[(site_ids[0], datetime(2024, 6, 30, tzinfo=timezone.utc))])


def test_limit_truncates_silently_after_ordering(
    fake_api: FakeGitBookAPI, http: requests.Session
) -> None:
    full = rows_of(query(http, fake_api, "site_docs", day_query(ANCHOR)))
    top = rows_of(query(http, fake_api, "site_docs", day_query(ANCHOR, limit=5)))
    assert len(full) > 5 and top == full[:5]

    by_path = day_query(ANCHOR, order={"by": {"column": "urlPath"}, "direction": "asc"}, limit=3)
    paths = [row["urlPath"] for row in rows_of(query(http, fake_api, "site_docs", by_path))]
    assert paths == sorted(row["urlPath"] for row in full)[:3]


def test_filters_by_event_type_and_hour_partition_the_groups(
    fake_api: FakeGitBookAPI, http: requests.Session, dataset: Dataset
) -> None:
    expected = dataset.expected_site_insights("site_docs", ANCHOR)
    by_type: dict[SiteInsightKey, tuple[int, int, int]] = {}
    for event_type in SITE_EVENT_TYPES:
        where = [{"column": "eventType", "values": [event_type]}]
        part = as_insights(
            rows_of(query(http, fake_api, "site_docs", day_query(ANCHOR, where=where)))
        )
        assert {key[0] for key in part} <= {event_type}
        assert not set(part) & set(by_type)
        by_type.update(part)
    assert by_type == expected

    summed: Counter[tuple[SiteInsightKey, int]] = Counter()
    for hour in range(24):
        where = [{"column": "hourOfDay", "values": [hour]}]
        part = as_insights(
            rows_of(query(http, fake_api, "site_docs", day_query(ANCHOR, where=where)))
        )
        for key, totals in part.items():
            for i, value in enumerate(totals):
                summed[key, i] += value
    assert {key: tuple(summed[key, i] for i in range(3)) for key, _ in summed} == expected

    # notIn and the comparison operators split the same way.
    morning = [{"column": "hourOfDay", "operator": "lessThan", "values": [12]}]
    rest = [{"column": "hourOfDay", "operator": "greaterThanOrEqual", "values": [12]}]
    no_404 = [{"column": "page", "operator": "notIn", "values": [None]}]
    only_404 = [{"column": "page", "values": [None]}]
    for left, right in ((morning, rest), (no_404, only_404)):
        a = query(http, fake_api, "site_docs", {"range": day_range(ANCHOR), "where": left})
        b = query(http, fake_api, "site_docs", {"range": day_range(ANCHOR), "where": right})
        total = sum(v[0] for v in expected.values())
        assert rows_of(a)[0]["eventsCount"] + rows_of(b)[0]["eventsCount"] == total


def test_range_time_buckets_and_presets(dataset: Dataset, http: requests.Session) -> None:
    now = datetime(2024, 6, 30, 12, 30, tzinfo=timezone.utc)
    with FakeGitBookAPI(dataset=dataset, token=TEST_TOKEN, clock=lambda: now) as api:
        two_days = {"from": "2024-06-29T00:00:00.000Z", "to": "2024-06-30T23:59:59.999Z"}
        daily = rows_of(
            query(
                http,
                api,
                "site_docs",
                {
                    "range": two_days,
                    "groupBy": [{"column": "datetime"}],
                    "order": {"by": {"column": "datetime"}, "direction": "asc"},
                },
            )
        )
        hourly = rows_of(
            query(
                http,
                api,
                "site_docs",
                {
                    "range": day_range(ANCHOR),
                    "groupBy": [{"column": "datetime", "interval": "hour"}],
                },
            )
        )
        # `to` is inclusive: from = to = 10:00 is the 10:00 hour.
        ten = {"from": "2024-06-30T10:00:00.000Z", "to": "2024-06-30T10:00:00.000Z"}
        at_ten = rows_of(query(http, api, "site_docs", {"range": ten}))
        last24 = rows_of(query(http, api, "site_docs", {"range": "last24Hours"}))
        weekly = rows_of(
            query(
                http, api, "site_docs", {"range": "last7Days", "groupBy": [{"column": "dayOfWeek"}]}
            )
        )

    def events(day: date, hours: range = range(24)) -> int:
        return sum(a.events for a in dataset.site_events("site_docs", day) if a.hour in hours)

    assert daily == [
        {"datetime": "2024-06-29T00:00:00.000Z", "eventsCount": events(date(2024, 6, 29))},
        {"datetime": "2024-06-30T00:00:00.000Z", "eventsCount": events(ANCHOR)},
    ]
    assert all(row["datetime"].startswith("2024-06-30T") for row in hourly)
    assert sum(row["eventsCount"] for row in hourly) == events(ANCHOR)
    assert at_ten == [{"eventsCount": events(ANCHOR, range(10, 11))}]
    # last24Hours at 12:30: hour starts from 2024-06-29 13:00 through 2024-06-30 12:00.
    expected_24 = events(date(2024, 6, 29), range(13, 24)) + events(ANCHOR, range(0, 13))
    assert last24 == [{"eventsCount": expected_24}]
    assert len(weekly) == 7 and {row["dayOfWeek"] for row in weekly} == set(range(1, 8))


# --- big days ------------------------------------------------------------------------------------

WIDE_DAY = date(2024, 6, 28)
"""> 1000 groups per site, but < 1000 of every event type."""
HUGE_DAY = date(2024, 6, 29)
"""A single event type (page_view) with > 1000 groups, < 1000 in every hour."""


@pytest.fixture(scope="module")
def big() -> Dataset:
    return Dataset.generate(
        orgs=1,
        spaces_per_org=2,
        members_per_org=1,
        pages_per_space=12,
        traffic_points_per_space=1,
        sites_per_org=1,
        awkward_ids=False,
        big_days={WIDE_DAY: 1500, HUGE_DAY: 3000},
    )


def test_big_days_exceed_the_limit_overall_and_for_one_event_type(big: Dataset) -> None:
    (site,) = big.sites
    wide = big.expected_site_insights(site["id"], WIDE_DAY)
    huge = big.expected_site_insights(site["id"], HUGE_DAY)
    wide_types = Counter(key[0] for key in wide)
    huge_types = Counter(key[0] for key in huge)

    assert len(wide) == 1500 and max(wide_types.values()) < 1000
    assert len(huge) == 3000 and huge_types["page_view"] > 1000
    per_hour = Counter((a.event_type, a.hour) for a in big.site_events(site["id"], HUGE_DAY))
    assert max(per_hour.values()) < 1000
    assert big.expected_site_insight_rows([WIDE_DAY, HUGE_DAY]) == 4500
    normal = big.expected_site_insights(site["id"], ANCHOR)  # other days are normal
    assert 6 <= len([k for k in normal if k[5] is None and k[0] not in FOLLOW_UP_EVENTS]) <= 30
    # Big days have no follow-up events (their groups are the cycle's), ordinary days do.
    assert not {key[0] for key in [*wide, *huge]} & set(FOLLOW_UP_EVENTS)
    assert {key[0] for key in normal} & set(FOLLOW_UP_EVENTS)


def test_a_big_day_needs_splitting_by_type_then_by_hour(
    big: Dataset, http: requests.Session
) -> None:
    (site,) = big.sites
    site_id = site["id"]

    def rows(day: date, *where: dict[str, Any]) -> list[dict[str, Any]]:
        body = day_query(day, where=list(where))
        return rows_of(query(http, api, site_id, body, check_schema=False))

    with FakeGitBookAPI(dataset=big, token=TEST_TOKEN) as api:
        # One query per day is silently cut at 1000 groups (and still a valid GitBook answer).
        assert len(rows_of(query(http, api, site_id, day_query(WIDE_DAY)))) == 1000
        assert len(rows(HUGE_DAY)) == 1000

        # WIDE_DAY: one query per event type is enough.
        wide: dict[SiteInsightKey, tuple[int, int, int]] = {}
        for event_type in SITE_EVENT_TYPES:
            part = rows(WIDE_DAY, {"column": "eventType", "values": [event_type]})
            assert len(part) < 1000
            wide.update(as_insights(part))
        assert wide == big.expected_site_insights(site_id, WIDE_DAY)

        # HUGE_DAY: page_view needs one query per hour, summed over hours.
        page_views = {"column": "eventType", "values": ["page_view"]}
        assert len(rows(HUGE_DAY, page_views)) == 1000
        events: Counter[SiteInsightKey] = Counter()
        for hour in range(24):
            part = rows(HUGE_DAY, page_views, {"column": "hourOfDay", "values": [hour]})
            assert len(part) < 1000
            for key, totals in as_insights(part).items():
                events[key] += totals[0]
    expected = big.expected_site_insights(site_id, HUGE_DAY)
    assert dict(events) == {k: v[0] for k, v in expected.items() if k[0] == "page_view"}


# --- validation ----------------------------------------------------------------------------------

INVALID_BODIES = {
    "missing range": ({"groupBy": GROUP_BY}, "'range' is a required property"),
    "limit 1001": ({"range": "last7Days", "limit": 1001}, "1001 is greater than the maximum"),
    "limit 0": ({"range": "last7Days", "limit": 0}, "0 is less than the minimum of 1"),
    "unknown column": (
        {"range": "last7Days", "groupBy": [{"column": "nope"}]},
        "{'column': 'nope'} is not valid under any of the given schemas",
    ),
    "from without to": (
        {"range": {"from": "2024-06-30T00:00:00.000Z"}},
        "'to' is a required property",
    ),
    "not a timestamp": (
        {"range": {"from": "yesterday", "to": "2024-06-30T00:00:00.000Z"}},
        "'yesterday' is not a 'date-time'",
    ),
    "unknown preset": ({"range": "lastDecade"}, "'lastDecade' is not one of ['lastYear'"),
    "unknown event type": (
        {"range": "last7Days", "where": [{"column": "eventType", "values": ["page_vue"]}]},
        "is not valid under any of the given schemas",
    ),
    "not an object": ([{"range": "last7Days"}], "is not of type 'object'"),
}


@pytest.mark.parametrize(("body", "message"), INVALID_BODIES.values(), ids=INVALID_BODIES.keys())
def test_an_invalid_body_is_400_with_the_validators_message(
    fake_api: FakeGitBookAPI, http: requests.Session, body: Any, message: str
) -> None:
    response = post(http, fake_api, "site_docs", body)
    assert message in error_message(response)
    assert fake_api.requests_to(SITE_INSIGHTS_AGGREGATE)[-1].body == body
    # The shipped schema and GitBook's description (the subset) agree that it is invalid.
    with pytest.raises(ContractError):
        validate_request(SITE_INSIGHTS_AGGREGATE, body)


def test_a_body_that_is_not_json_or_missing_is_400(
    fake_api: FakeGitBookAPI, http: requests.Session
) -> None:
    target = aggregate_url(fake_api, "org-acme", "site_docs")
    not_json = http.post(target, data=b"{range: last7Days}", timeout=10)
    empty = http.post(target, timeout=10)

    assert "not JSON" in error_message(not_json)
    assert "body is required" in error_message(empty)
    assert [r.body for r in fake_api.requests_to(SITE_INSIGHTS_AGGREGATE)] == [None, None]


@pytest.mark.parametrize(
    "body",
    [
        {"range": "last7Days", "groupBy": [{"column": "url"}]},
        {"range": "last7Days", "groupBy": [{"column": "datetime", "interval": "week"}]},
        {"range": "last7Days", "groupBy": [{"column": "eventsCount"}]},
        {"range": "last7Days", "select": [{"column": "page"}]},
        {"range": "last7Days", "where": [{"column": "referrer", "values": ["x"]}]},
        {
            "range": "last7Days",
            "where": [{"column": "urlPath", "operator": "greaterThan", "values": ["/a"]}],
        },
        {"range": {"from": "2020-01-01T00:00:00Z", "to": "2024-01-01T00:00:00Z"}},
    ],
    ids=["url", "week", "group-by-count", "select-page", "referrer", "path-compare", "4-years"],
)
def test_valid_queries_the_fake_cannot_answer_are_400_and_say_so(
    fake_api: FakeGitBookAPI, http: requests.Session, body: dict[str, Any]
) -> None:
    validate_request(SITE_INSIGHTS_AGGREGATE, body)  # GitBook would accept it
    assert "unsupported by the fake" in error_message(post(http, fake_api, "site_docs", body))


def test_routing_auth_methods_and_faults_apply_to_the_new_routes(
    fake_api: FakeGitBookAPI, http: requests.Session
) -> None:
    body = {"range": "last7Days"}
    assert post(http, fake_api, "site_docs", body).status_code == 200
    target = aggregate_url(fake_api, "org-acme", "site_docs")

    assert error_message(
        http.post(aggregate_url(fake_api, "org-nope", "site_docs"), json=body), 404
    )
    assert error_message(http.post(aggregate_url(fake_api, "org-acme", "nope"), json=body), 404)
    # A site of another org is not found under this one.
    assert error_message(
        http.post(aggregate_url(fake_api, "org-globex", "site_docs"), json=body), 404
    )
    got = http.get(target, timeout=10)
    assert error_message(got, 405) and got.headers["Allow"] == "POST"
    assert error_message(requests.post(target, json=body, timeout=10), 401)

    fake_api.add_fault(Fault(route=SITE_INSIGHTS_AGGREGATE, status=429, times=1, retry_after=2))
    fake_api.add_fault(Fault(route=ORG_SITES, status=503, times=1))
    limited = http.post(target, json=body, timeout=10)
    assert error_message(limited, 429) and limited.headers["Retry-After"] == "2"
    assert http.post(target, json=body, timeout=10).status_code == 200
    assert error_message(http.get(sites_url(fake_api, "org-acme"), timeout=10), 503)
    assert http.get(sites_url(fake_api, "org-acme"), timeout=10).status_code == 200

    recorded = fake_api.requests_to(SITE_INSIGHTS_AGGREGATE)
    assert recorded[-1].method == "POST" and recorded[-1].body == body
    assert recorded[-1].route == SITE_INSIGHTS_AGGREGATE
    assert recorded[-1].params == {"organizationId": "org-acme", "siteId": "site_docs"}
    assert [r.status for r in recorded[-3:]] == [401, 429, 200]


# --- the shipped schema --------------------------------------------------------------------------


def test_the_shipped_query_schema_names_its_source() -> None:
    schema = query_schema()
    assert schema["x-source"] == {"0.202.0": "gitbook-api-0.202.0.openapi.json"}
    assert "0.202.0" in schema["$comment"] and "trim_openapi.py" in schema["$comment"]
    assert schema["$ref"] == "#/$defs/SiteInsightsQueryEventsAggregation"
    # The same definitions as in the subset the contract tests use, refs moved to $defs.
    subset = json.loads(SUBSET_FILE.read_text(encoding="utf-8"))["components"]["schemas"]
    for name, definition in schema["$defs"].items():
        in_subset = json.dumps(subset[name]).replace("#/components/schemas/", "#/$defs/")
        assert json.loads(in_subset) == definition, name


def test_from_objects_checks_site_ids() -> None:
    demo = Dataset.demo()
    base: dict[str, Any] = {
        "user": demo.user,
        "organizations": demo.organizations,
        "spaces_by_org": demo.spaces_by_org,
    }
    site = demo.site("site_docs")
    with pytest.raises(ValueError, match="sites_by_org has orgs"):
        Dataset.from_objects(**base, sites_by_org={"org-nope": [site]})
    with pytest.raises(ValueError, match="site ids must be unique"):
        Dataset.from_objects(**base, sites_by_org={"org-acme": [site], "org-globex": [site]})
    with pytest.raises(ValueError, match="spaces_by_site has spaces"):
        Dataset.from_objects(
            **base, sites_by_org={"org-acme": [site]}, spaces_by_site={"site_docs": ["nope"]}
        )
    served = Dataset.from_objects(**base, sites_by_org={"org-globex": [site]})
    assert served.site_org("site_docs") == "org-globex" and served.sites_of("org-acme") == []
    assert served.expected_site_insights("site_docs", ANCHOR)  # the org's pages get events


# --- sub-hour time and bot bursts ---------------------------------------------------------------

BURST_DAY = date(2024, 6, 29)
BURST_HOUR = 13
PAGE_VIEWS = {"column": "eventType", "values": ["page_view"]}


def stamp(day: date, hour: int, second: int = 0, millis: int = 0) -> str:
    """A millisecond timestamp on ``day``; ``second`` counts from the start of ``hour``."""
    minute, sec = divmod(second, 60)
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:{sec:02d}.{millis:03d}Z"


def window(day: date, first: tuple[int, int, int], last: tuple[int, int, int]) -> dict[str, str]:
    """``range`` from ``first`` to ``last`` (each ``(hour, second in hour, millisecond)``)."""
    return {"from": stamp(day, *first), "to": stamp(day, *last)}


@pytest.fixture(scope="module")
def burst() -> Dataset:
    return Dataset.demo().with_bot_burst("site_docs", BURST_DAY)


def test_a_bot_burst_adds_distinct_small_404s_in_one_hour(burst: Dataset) -> None:
    demo = Dataset.demo()
    expected = burst.expected_site_insights("site_docs", BURST_DAY)
    before = demo.expected_site_insights("site_docs", BURST_DAY)
    bots = {k: v for k, v in expected.items() if k not in before}
    atoms = [a for a in burst.site_events("site_docs", BURST_DAY) if a.key in bots]

    assert burst.bot_bursts == {("site_docs", BURST_DAY): (BURST_HOUR, 1100)}
    assert demo.bot_bursts == {}  # with_bot_burst returns a new dataset
    # The burst only adds: 1100 URLs, each a single atom in hour 13 at its own second.
    assert {k: v for k, v in expected.items() if k in before} == before
    assert len(bots) == len(atoms) == 1100
    assert burst.groups_on("site_docs", BURST_DAY) == len(expected) == len(before) + 1100
    assert all(k[0:3] == ("page_view", None, None) and k[4] is None for k in bots)
    assert all(re.fullmatch(r"/docs/(wp-login-\d+\.php|\.env-\d+)", k[3]) for k in bots)
    assert all(a.hour == BURST_HOUR and 0 <= a.second <= 3599 for a in atoms)
    assert all(1 <= a.visitors <= a.sessions <= a.events <= 3 for a in atoms)
    seconds = [a.second for a in atoms]
    assert seconds == sorted(seconds) and len(set(seconds)) > 900  # spread over the hour
    assert 450 < sum(s < 1800 for s in seconds) < 650
    # Other sites and days are untouched; the scanner is a bot, so not among people's broken
    # URLs, which stay as they were.
    assert burst.expected_site_insights("site_docs", ANCHOR) == demo.expected_site_insights(
        "site_docs", ANCHOR
    )
    assert all(k[5] == SCANNER for k in bots)
    broken = burst.expected_broken_url_events(["site_docs"], [BURST_DAY])
    assert broken == demo.expected_broken_url_events(["site_docs"], [BURST_DAY])


def test_a_burst_hour_is_cut_at_1000_but_sub_hour_windows_sum_back_exactly(
    burst: Dataset, http: requests.Session
) -> None:
    day, hour = BURST_DAY, BURST_HOUR

    def rows(body: dict[str, Any]) -> list[dict[str, Any]]:
        return rows_of(query(http, api, "site_docs", body, check_schema=False))

    def page_views(first: tuple[int, int, int], last: tuple[int, int, int]) -> Any:
        body = {"range": window(day, first, last), "groupBy": GROUP_BY, "select": COUNTS}
        return rows({**body, "where": [PAGE_VIEWS]})

    with FakeGitBookAPI(dataset=burst, token=TEST_TOKEN) as api:
        in_hour = [PAGE_VIEWS, {"column": "hourOfDay", "values": [hour]}]
        assert len(rows(day_query(day, where=in_hour))) == 1000  # cut, silently
        halves = [page_views((hour, 1800 * h, 0), (hour, 1800 * h + 1799, 999)) for h in (0, 1)]
        quarters = [page_views((hour, 900 * q, 0), (hour, 900 * q + 899, 999)) for q in range(4)]
        # The rest of the day, around the burst hour, and the other event types.
        before = page_views((0, 0, 0), (hour - 1, 3599, 999))
        after = page_views((hour + 1, 0, 0), (23, 3599, 999))
        others = [
            rows(day_query(day, where=[{"column": "eventType", "values": [event_type]}]))
            for event_type in SITE_EVENT_TYPES
            if event_type != "page_view"
        ]

    expected = burst.expected_site_insights("site_docs", day)
    assert all(len(part) < 1000 for part in [*halves, *quarters, before, after])
    assert summed([*halves, before, after, *others]) == expected
    assert summed([*quarters, before, after, *others]) == expected
    assert summed(halves) == summed(quarters)


def test_millisecond_windows_neither_lose_nor_double_count(
    burst: Dataset, http: requests.Session
) -> None:
    """Windows that end exactly on an event's moment, and the millisecond after it."""
    day, hour = BURST_DAY, BURST_HOUR
    atoms = [a for a in burst.site_events("site_docs", day) if a.hour == hour]
    moments = sorted({a.second for a in atoms})
    shared = next(s for s in moments if sum(a.second == s for a in atoms) > 1)  # 2 URLs, 1 second
    edges = sorted({*moments[5::97], shared})

    def events_in(first: tuple[int, int, int], last: tuple[int, int, int]) -> int:
        body = {"range": window(day, first, last)}
        return int(rows_of(query(http, api, "site_docs", body))[0]["eventsCount"])

    def events_at(second: int) -> int:
        return sum(a.events for a in atoms if a.second == second)

    with FakeGitBookAPI(dataset=burst, token=TEST_TOKEN) as api:
        # Consecutive windows [previous edge + 1 ms, edge]: `to` is inclusive, `from` too.
        parts, start = [], (0, 0, 0)
        for second in edges:
            parts.append(events_in(start, (hour, second, 0)))
            start = (hour, second, 1)
        parts.append(events_in(start, (23, 3599, 999)))
        single = {second: events_in((hour, second, 0), (hour, second, 0)) for second in edges}
        just_after = [events_in((hour, s, 1), (hour, s, 1)) for s in edges]
        just_before = [events_in((hour, s - 1, 999), (hour, s - 1, 999)) for s in edges if s]
        # datetime where-filters compare the exact moment too.
        cut = stamp(day, hour, shared)
        body = {"range": day_range(day)}
        below = {"column": "datetime", "operator": "lessThan", "values": [cut]}
        from_cut = {"column": "datetime", "operator": "greaterThanOrEqual", "values": [cut]}
        at_cut = {"column": "datetime", "values": [cut]}
        split = [
            rows_of(query(http, api, "site_docs", {**body, "where": [where]}))[0]["eventsCount"]
            for where in (below, from_cut, at_cut)
        ]
        hourly = rows_of(
            query(
                http,
                api,
                "site_docs",
                {**body, "groupBy": [{"column": "datetime", "interval": "hour"}]},
            )
        )

    total = sum(v[0] for v in burst.expected_site_insights("site_docs", day).values())
    assert sum(parts) == total
    assert single == {second: events_at(second) for second in edges}
    assert single[shared] == events_at(shared) > max(a.events for a in atoms if a.second == shared)
    assert just_after == [0] * len(edges)
    assert just_before == [events_at(s - 1) for s in edges if s]
    assert split[0] + split[1] == total and split[2] == events_at(shared)
    # Grouping by hour still buckets by the hour: the burst lands in one 13:00 group.
    by_hour = {row["datetime"]: row["eventsCount"] for row in hourly}
    assert by_hour[stamp(day, hour)] == sum(a.events for a in atoms)
    assert all(value.endswith(":00:00.000Z") for value in by_hour)


def test_bot_bursts_on_generated_datasets_and_after_removals() -> None:
    generated = Dataset.generate(
        orgs=1,
        spaces_per_org=2,
        members_per_org=1,
        pages_per_space=4,
        traffic_points_per_space=1,
        awkward_ids=False,
        bot_bursts={("site_000_00", BURST_DAY): (2, 40)},
    )
    events = generated.site_events("site_000_00", BURST_DAY)
    bots = [a for a in events if "wp-login" in a.url_path or ".env-" in a.url_path]
    assert len(bots) == 40 and {a.hour for a in bots} == {2}
    assert [(a.hour, a.second) for a in events] == sorted((a.hour, a.second) for a in events)
    assert generated.groups_on("site_000_00", BURST_DAY) == len(
        generated.expected_site_insights("site_000_00", BURST_DAY)
    )
    assert not any(
        "wp-login" in k[3] for k in generated.expected_site_insights("site_000_01", BURST_DAY)
    )

    quiet = generated.without(site_days=[("site_000_00", BURST_DAY)])
    assert quiet.site_events("site_000_00", BURST_DAY) == ()  # a quiet day has no bots either
    assert generated.without(sites=["site_000_00"]).bot_bursts == {}
    with pytest.raises(ValueError, match="unknown site"):
        generated.with_bot_burst("nope", BURST_DAY)
    with pytest.raises(ValueError, match="hour must be 0-23"):
        generated.with_bot_burst("site_000_00", BURST_DAY, hour=24)
    with pytest.raises(ValueError, match="unpublished"):
        Dataset.demo().with_bot_burst("site_runbooks", BURST_DAY)


# --- pages: space without a page, conditional 404s -----------------------------------------------

GATED_DAY = date(2024, 6, 29)
"""An even day (by ordinal): group 1 of every site with pages is a conditional 404."""


def test_space_but_no_page_is_rendered_and_filtered_apart_from_404s(
    fake_api: FakeGitBookAPI, http: requests.Session, dataset: Dataset
) -> None:
    expected = dataset.expected_site_insights("site_docs", ANCHOR)
    spaced = {k: v for k, v in expected.items() if k[1] is not None and k[2] is None}
    space_id = next(iter(spaced))[1]
    assert space_id is not None
    in_space = {k: v for k, v in spaced.items() if k[1] == space_id}
    no_page = {k: v for k, v in expected.items() if k[1] is None}

    def rows(*where: dict[str, Any]) -> list[dict[str, Any]]:
        return rows_of(query(http, fake_api, "site_docs", day_query(ANCHOR, where=list(where))))

    everything = rows()
    only_space = rows({"column": "page", "values": [{"page": None, "space": space_id}]})
    only_null = rows({"column": "page", "values": [None]})
    not_null = rows({"column": "page", "operator": "notIn", "values": [None]})
    other_space = rows({"column": "page", "values": [{"page": None, "space": "globex-docs"}]})

    assert spaced and {k[0] for k in spaced} <= {"search_open", "ask_question", *FOLLOW_UP_EVENTS}
    rendered = [r["page"] for r in everything if insight_key(r) in spaced]
    assert rendered and all(p == {"page": None, "space": p["space"]} for p in rendered)
    assert all(
        r["page"] is None or r["page"]["page"] for r in everything if insight_key(r) not in spaced
    )
    assert as_insights(only_space) == in_space
    # null matches no page at all (404s here), never a space without a page.
    assert as_insights(only_null) == no_page and {r["eventType"] for r in only_null} == {
        "page_view",
        "search_open_result",
    }
    assert set(spaced) <= set(as_insights(not_null))
    assert as_insights(only_null) | as_insights(not_null) == expected
    assert other_space == []
    # Not broken URLs either.
    broken = dataset.expected_broken_url_events(["site_docs"], [ANCHOR])
    assert not {("site_docs", k[3]) for k in spaced} & set(broken)


def test_conditional_404s_group_and_filter_by_page_not_found_type(
    fake_api: FakeGitBookAPI, http: requests.Session, dataset: Dataset
) -> None:
    expected = dataset.expected_site_insights("site_docs", GATED_DAY)
    gated = {k: v for k, v in expected.items() if k[4] == "conditional"}
    not_gated = {k: v for k, v in expected.items() if k[4] is None}
    column = "eventPageNotFoundType"

    def rows(body: dict[str, Any]) -> list[dict[str, Any]]:
        return rows_of(query(http, fake_api, "site_docs", {"range": day_range(GATED_DAY), **body}))

    def grouped(operator: str, values: list[str | None]) -> list[dict[str, Any]]:
        where = [{"column": column, "operator": operator, "values": values}]
        return rows({"groupBy": GROUP_BY, "select": COUNTS, "where": where})

    ascending = {"by": {"column": column}, "direction": "asc"}
    by_type = rows({"groupBy": [{"column": column}], "order": ascending})
    only_gated = grouped("in", ["conditional"])
    only_null = grouped("in", [None])
    not_gated_rows = grouped("notIn", ["conditional"])
    both = grouped("in", [None, "conditional"])
    with_page = [{"column": "page", "operator": "notIn", "values": [None]}]
    pages = rows({"groupBy": [{"column": column}], "where": with_page})
    compare = [{"column": column, "operator": "greaterThan", "values": ["conditional"]}]
    compared = post(http, fake_api, "site_docs", {"range": day_range(GATED_DAY), "where": compare})

    assert gated and all(k[0:3] == ("page_view", None, None) for k in gated)
    assert by_type == [
        {column: None, "eventsCount": sum(v[0] for v in not_gated.values())},
        {column: "conditional", "eventsCount": sum(v[0] for v in gated.values())},
    ]
    assert as_insights(only_gated) == gated
    assert as_insights(only_null) == as_insights(not_gated_rows) == not_gated
    assert as_insights(both) == expected
    assert pages == [{column: None, "eventsCount": pages[0]["eventsCount"]}]  # non-404s: null
    assert "unsupported by the fake" in error_message(compared)
    # A gated URL is the path of a page that exists (/docs/[~n/]<space slug>/<page path>).
    slugs = {
        re.sub(r"[^a-z0-9]+", "-", space.lower()).strip("-"): space
        for space in dataset.spaces_by_site["site_docs"]
    }
    for key in gated:
        slug, _, path = re.sub(r"^/docs/(~\d+/)?", "", key[3]).partition("/")
        assert path in {p.get("path") for p in flatten_pages(dataset.pages_of(slugs[slug]))}
    # ... so it is not a broken URL.
    broken = dataset.expected_broken_url_events(["site_docs"], [GATED_DAY])
    assert not {("site_docs", k[3]) for k in gated} & set(broken)
    assert set(broken) == {
        ("site_docs", k[3]) for k in not_gated if k[0:3] == ("page_view", None, None)
    }


@pytest.mark.parametrize("anchor", [ANCHOR, date(2025, 1, 1), datetime.now(timezone.utc).date()])
def test_every_week_of_the_demo_has_conditional_404s_and_spaces_without_a_page(
    anchor: date,
) -> None:
    """The demo and the gate load the 7 days ending at the anchor: all cases are in them."""
    demo = Dataset.demo(anchor=anchor)
    days = [anchor - timedelta(days=offset) for offset in range(7)]
    keys = [
        key
        for site_id in demo.published_site_ids()
        for day in days
        for key in demo.expected_site_insights(site_id, day)
    ]
    gated = [k for k in keys if k[4] == "conditional"]
    spaced = [k for k in keys if k[1] is not None and k[2] is None]

    assert len(gated) >= 9 and len(spaced) >= 9
    for site_id in demo.published_site_ids():
        assert all(demo.expected_broken_url_events([site_id], [day]) for day in days)
    by_type = {
        (site_id, day): demo.expected_events_by_type(site_id, day)
        for site_id in demo.published_site_ids()
        for day in days
    }
    for (site_id, day), totals in by_type.items():
        atoms = demo.site_events(site_id, day)
        assert sum(totals.values()) == sum(a.events for a in atoms)
        assert totals["page_view"] == sum(
            v[0]
            for k, v in demo.expected_site_insights(site_id, day).items()
            if k[0] == "page_view"
        )


# --- what events say and who sent them -----------------------------------------------------------

DETAIL_COLUMNS = {
    column: ATOM_FIELDS[column]
    for column in (
        "eventSearchQuery",
        "eventPageFeedbackRating",
        "eventPageFeedbackComment",
        "eventAskResponseRating",
        "referrerDomain",
        "visitorGeoCountry",
        "visitorDevice",
    )
}
"""GitBook's columns of what events say and who sent them, each with its SiteEventAtom field."""
CARRIERS = {
    "eventSearchQuery": {
        "search_type_query",
        "search_open_result",
        "ask_question",
        "ask_rate_response",
    },
    "eventPageFeedbackRating": {"page_post_feedback", "page_post_feedback_comment"},
    "eventPageFeedbackComment": {"page_post_feedback_comment"},
    "eventAskResponseRating": {"ask_rate_response"},
}
"""The event types that carry each event column; every other event groups as null."""
NULLABLE = {"visitorGeoCountry", "visitorDevice"}
"""Columns whose whole answer matches GitBook's response schema (the others' values are typed
non-null there; see the fake's ``site_insights`` module)."""
WEEK = [ANCHOR - timedelta(days=offset) for offset in range(7)]
WEEK_RANGE = {"from": f"{WEEK[-1].isoformat()}T00:00:00.000Z", "to": day_range(ANCHOR)["to"]}


@pytest.fixture(scope="module")
def demo_api() -> Iterator[FakeGitBookAPI]:
    """One demo API for the read-only tests below (a server each would be most of their time)."""
    with FakeGitBookAPI(dataset=Dataset.demo(), token=TEST_TOKEN) as api:
        yield api


def atom_totals(
    dataset: Dataset, site_id: str, *fields: str
) -> dict[tuple[Any, ...], tuple[int, int, int]]:
    """Counts summed straight from the demo week's atoms, by (UTC day, *fields)."""
    out: dict[tuple[Any, ...], tuple[int, int, int]] = {}
    for day in WEEK:
        for atom in dataset.site_events(site_id, day):
            key = (f"{day.isoformat()}T00:00:00.000Z", *(getattr(atom, f) for f in fields))
            events, sessions, visitors = out.get(key, (0, 0, 0))
            out[key] = (events + atom.events, sessions + atom.sessions, visitors + atom.visitors)
    return out


def week_rows(
    http: requests.Session,
    api: FakeGitBookAPI,
    site_id: str,
    columns: list[str],
    *,
    where: list[dict[str, Any]] | None = None,
    check_schema: bool = True,
) -> list[dict[str, Any]]:
    """The demo week's groups by day, then ``columns``, with all three counts."""
    body = {
        "range": WEEK_RANGE,
        "groupBy": [{"column": "datetime"}, *({"column": c} for c in columns)],
        "select": COUNTS,
        **({"where": where} if where else {}),
    }
    return rows_of(query(http, api, site_id, body, check_schema=check_schema))


@pytest.mark.parametrize("column", DETAIL_COLUMNS)
def test_grouping_by_an_event_or_visitor_column_sums_exactly_the_atoms(
    demo_api: FakeGitBookAPI, http: requests.Session, column: str
) -> None:
    dataset = demo_api.dataset
    carriers = CARRIERS.get(column)
    for site_id in dataset.published_site_ids():
        # GitBook's response schema is checked once (it takes most of the time).
        checked = column in NULLABLE and site_id == "site_docs"
        rows = week_rows(http, demo_api, site_id, ["eventType", column], check_schema=checked)
        expected = atom_totals(dataset, site_id, "event_type", DETAIL_COLUMNS[column])

        got = {
            (r["datetime"], r["eventType"], r[column]): tuple(r[c["column"]] for c in COUNTS)
            for r in rows
        }
        assert len(got) == len(rows) and got == expected
        assert len({key[2] for key in expected}) > 1
        if carriers is not None:
            # Only the carrying event types have a value, and always; the rest group as null.
            assert all((key[2] is not None) == (key[1] in carriers) for key in expected)
            # Filtered to them, the answer is one GitBook's response schema accepts.
            only = [{"column": "eventType", "values": sorted(carriers)}]
            assert week_rows(http, demo_api, site_id, ["eventType", column], where=only)


@pytest.mark.parametrize("column", DETAIL_COLUMNS)
def test_where_on_an_event_or_visitor_column_filters_the_atoms(
    demo_api: FakeGitBookAPI, http: requests.Session, column: str
) -> None:
    dataset = demo_api.dataset
    field = DETAIL_COLUMNS[column]
    atoms = [atom for day in WEEK for atom in dataset.site_events("site_docs", day)]
    present = Counter(getattr(a, field) for a in atoms if getattr(a, field) is not None)
    picked = [value for value, _ in present.most_common(2)]
    if column == "visitorGeoCountry":
        picked.append(None)  # the only one of these columns whose values may be null

    def events(operator: str) -> dict[str, int]:
        where = [{"column": column, "operator": operator, "values": picked}]
        body = {"range": WEEK_RANGE, "groupBy": [{"column": "eventType"}], "where": where}
        rows = rows_of(query(http, demo_api, "site_docs", body))
        return {row["eventType"]: row["eventsCount"] for row in rows}

    def expected(keep: bool) -> dict[str, int]:
        out: Counter[str] = Counter()
        for atom in atoms:
            if (getattr(atom, field) in picked) is keep:
                out[atom.event_type] += atom.events
        return dict(out)

    kept, dropped = events("in"), events("notIn")
    assert kept and kept == expected(True)
    assert dropped and dropped == expected(False)
    if column in CARRIERS:
        assert set(kept) <= CARRIERS[column]


def test_the_demo_week_has_searches_without_results_commented_ratings_and_bad_answers(
    demo_api: FakeGitBookAPI, http: requests.Session
) -> None:
    """What the tables of searches, page feedback and AI questions are for, on every site."""
    dataset = demo_api.dataset
    half = len(SEARCH_QUERIES) // 2
    site_days = len(dataset.published_site_ids()) * len(WEEK)
    answered_days = bad_answer_days = 0
    ratings: set[str] = set()

    def rows(site_id: str, types: list[str], *columns: str, check_schema: bool = False) -> Any:
        where = [{"column": "eventType", "values": types}]
        grouped = ["eventType", *columns]
        return week_rows(http, demo_api, site_id, grouped, where=where, check_schema=check_schema)

    for site_id in dataset.published_site_ids():
        # Searches: every day some typed queries never had a result opened (the second half
        # of the vocabulary never does); results are opened for the first half only.
        typed: dict[str, set[str]] = {}
        opened: dict[str, set[str]] = {}
        searches = rows(
            site_id,
            ["search_type_query", "search_open_result"],
            "eventSearchQuery",
            check_schema=True,
        )
        for row in searches:
            found = typed if row["eventType"] == "search_type_query" else opened
            found.setdefault(row["datetime"], set()).add(row["eventSearchQuery"])
        assert len(typed) == len(WEEK)
        assert all(queries - opened.get(day, set()) for day, queries in typed.items())
        assert set().union(*opened.values()) <= set(SEARCH_QUERIES[:half])
        answered_days += sum(bool(queries & opened.get(d, set())) for d, queries in typed.items())

        # Page feedback: ratings on every feedback event, a comment (with its rating) on some.
        feedback = rows(
            site_id,
            ["page_post_feedback", "page_post_feedback_comment"],
            "eventPageFeedbackRating",
            "eventPageFeedbackComment",
        )
        comments = [r for r in feedback if r["eventType"] == "page_post_feedback_comment"]
        rated = {
            (r["datetime"], r["eventPageFeedbackRating"]) for r in feedback if r not in comments
        }
        assert comments and {r["eventPageFeedbackComment"] for r in comments} <= set(
            FEEDBACK_COMMENTS
        )
        assert all(r["eventPageFeedbackComment"] is None for r in feedback if r not in comments)
        assert all((r["datetime"], r["eventPageFeedbackRating"]) in rated for r in comments)
        ratings |= {r["eventPageFeedbackRating"] for r in feedback}

        # AI questions: a rated answer rates a question asked that day, 1 or -1.
        ai = rows(
            site_id,
            ["ask_question", "ask_rate_response"],
            "eventSearchQuery",
            "eventAskResponseRating",
        )
        asked = {
            (r["datetime"], r["eventSearchQuery"]) for r in ai if r["eventType"] == "ask_question"
        }
        answers = [r for r in ai if r["eventType"] == "ask_rate_response"]
        assert {r["eventSearchQuery"] for r in ai} <= set(ASK_QUESTIONS)
        assert answers and all((r["datetime"], r["eventSearchQuery"]) in asked for r in answers)
        assert {r["eventAskResponseRating"] for r in answers} <= {1, -1}
        bad_answer_days += len({r["datetime"] for r in answers if r["eventAskResponseRating"] < 0})

    assert answered_days > 0  # some typed queries had a result opened the same day
    assert ratings == {"bad", "ok", "good"}
    assert bad_answer_days > site_days / 2  # -1 on most days


def test_the_demo_has_varied_audiences_and_machines_have_none(
    demo_api: FakeGitBookAPI, http: requests.Session
) -> None:
    dataset = demo_api.dataset
    audience = ["visitorDevice", "visitorGeoCountry", "referrerDomain", "visitorBot"]
    for site_id in dataset.published_site_ids():
        rows = week_rows(http, demo_api, site_id, audience, check_schema=False)
        people = [r for r in rows if r["visitorBot"] is None]
        machines = [r for r in rows if r["visitorBot"] is not None]
        devices: Counter[str] = Counter()
        for row in people:
            devices[row["visitorDevice"]] += row["eventsCount"]

        assert set(devices) == {"desktop", "mobile", "tablet", "unknown"}
        assert devices.most_common(1)[0][0] == "desktop"
        assert None in {r["visitorGeoCountry"] for r in people}
        assert len({r["visitorGeoCountry"] for r in people}) > 2
        assert None in {r["referrerDomain"] for r in people}
        assert len({r["referrerDomain"] for r in people}) > 2
        assert machines and all(
            (r["visitorDevice"], r["visitorGeoCountry"], r["referrerDomain"])
            == ("unknown", None, None)
            for r in machines
        )
    # The bot burst's scanner has no audience either.
    burst = Dataset.demo().with_bot_burst("site_docs", BURST_DAY, urls=20)
    scanner = [a for a in burst.site_events("site_docs", BURST_DAY) if a.visitor_bot == SCANNER]
    assert len(scanner) == 20
    assert {(a.device, a.country, a.referrer_domain) for a in scanner} == {("unknown", None, None)}


# --- unpublished sites ---------------------------------------------------------------------------


def test_sites_filter_by_published_and_refuse_other_values(
    fake_api: FakeGitBookAPI, http: requests.Session, dataset: Dataset
) -> None:
    def listed(org_id: str, **params: str) -> dict[str, Any]:
        response = http.get(sites_url(fake_api, org_id), params=params, timeout=10)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        validate_response(ORG_SITES, body)
        return body

    def ids(body: dict[str, Any]) -> list[str]:
        return [s["id"] for s in body["items"]]

    every = {org: ids(listed(org, limit="100")) for org in ("org-acme", "org-globex")}
    live = {org: ids(listed(org, published="true", limit="100")) for org in every}
    draft = {org: ids(listed(org, published="false", limit="100")) for org in every}
    first = listed("org-globex", published="true", limit="1")
    bad = [
        http.get(sites_url(fake_api, "org-acme"), params={"published": value}, timeout=10)
        for value in ("yes", "True", "1", "")
    ]

    assert dataset.unpublished_site_id == "site_runbooks"
    assert every == {
        "org-acme": ["site_docs", "site_changelog"],
        "org-globex": ["site_globex", "site_runbooks"],
    }
    assert live == {"org-acme": ["site_docs", "site_changelog"], "org-globex": ["site_globex"]}
    assert draft == {"org-acme": [], "org-globex": ["site_runbooks"]}
    assert first["count"] == 1 and "next" not in first  # count and pages follow the filter
    assert dataset.published_site_ids() == ["site_docs", "site_changelog", "site_globex"]
    runbooks = dataset.site("site_runbooks")
    assert runbooks["published"] is False and "published" not in runbooks["urls"]
    assert all(dataset.site(s)["urls"]["published"] for s in dataset.published_site_ids())
    assert all("published" in error_message(response) for response in bad)


def test_an_unpublished_site_has_no_events_on_any_day(
    fake_api: FakeGitBookAPI, http: requests.Session, dataset: Dataset
) -> None:
    site_id = "site_runbooks"
    today = datetime.now(timezone.utc).date()
    grouped = query(http, fake_api, site_id, day_query(ANCHOR))
    week = query(http, fake_api, site_id, {"range": "last7Days", "select": COUNTS})
    year = query(http, fake_api, site_id, {"range": "lastYear", "groupBy": [{"column": "page"}]})

    assert grouped == {
        "columns": [{"column": c["column"], "values": []} for c in [*GROUP_BY, *COUNTS]]
    }
    assert rows_of(week) == [dict.fromkeys([c["column"] for c in COUNTS], 0)]
    assert rows_of(year) == []
    for day in (date(2019, 2, 28), ANCHOR, today):
        assert dataset.site_events(site_id, day) == ()
        assert dataset.expected_site_insights(site_id, day) == {}
        assert dataset.expected_events_by_type(site_id, day) == {}
        assert dataset.groups_on(site_id, day) == 0
    assert dataset.expected_broken_url_events([site_id], [ANCHOR, today]) == {}
    # The demo names it while it exists.
    assert dataset.without(sites=["site_globex"]).unpublished_site_id == site_id
    assert dataset.without(sites=[site_id]).unpublished_site_id is None


# --- faults on some bodies only ------------------------------------------------------------------


def test_a_fault_can_match_the_request_body(
    fake_api: FakeGitBookAPI, http: requests.Session
) -> None:
    failing = BURST_DAY.isoformat()
    fake_api.add_fault(
        Fault(
            route=SITE_INSIGHTS_AGGREGATE,
            status=500,
            times=None,
            match_body=lambda b: b["range"]["from"].startswith(failing),
        )
    )
    # Only matching requests use up `times`.
    fake_api.add_fault(
        Fault(route="*", status=503, times=1, match_body=lambda b: b.get("limit") == 7)
    )
    target = aggregate_url(fake_api, "org-acme", "site_docs")

    def status(body: Any) -> int:
        return post(http, fake_api, "site_docs", body).status_code

    bad_day = [status(day_query(BURST_DAY)) for _ in range(3)]
    bad_day_window = status({"range": window(BURST_DAY, (13, 0, 0), (13, 1799, 999))})
    other_day = status(day_query(ANCHOR))
    preset = status({"range": "last7Days"})  # the predicate raises on it: no match
    not_json = http.post(target, data=b"{range", timeout=10).status_code
    listing = http.get(sites_url(fake_api, "org-acme"), timeout=10).status_code  # no body
    limited = [status({"range": "last7Days", "limit": 7}) for _ in range(2)]

    assert bad_day == [500, 500, 500] and bad_day_window == 500
    assert other_day == 200 and preset == 200 and listing == 200
    assert not_json == 400  # served normally: the body is not JSON, so no predicate matched
    assert limited == [503, 200]
    recorded = fake_api.requests_to(SITE_INSIGHTS_AGGREGATE)
    assert [r.status for r in recorded][:4] == [500, 500, 500, 500]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Fault().match_body = None  # type: ignore[misc]


def test_the_command_line_takes_bot_bursts() -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["--bot-burst", "site_docs:2024-06-29", "--bot-burst", "site +x/000:2024-06-30:2:50"]
    )
    assert args.bot_burst == [
        ("site_docs", BURST_DAY, 13, 1100),
        ("site +x/000", ANCHOR, 2, 50),
    ]
    for bad in ("site_docs", "site_docs:2024-13-01", "site_docs:2024-06-29:24"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--bot-burst", bad])
    with pytest.raises(SystemExit):
        fake_api_main(["--bot-burst", "nope:2024-06-29", "--port", "0"])  # unknown site
