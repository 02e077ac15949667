"""The bundled API's sites and site insights: listing, query validation, aggregation, big days.

The sync of site insights will be written against this fake, so the fake must hold GitBook's
line: bodies validated against GitBook's own schema (0.202.0), column-oriented answers that match
GitBook's response schema, silent truncation at ``limit``, and days too big for one query.
Everything goes over real HTTP (``requests``), as the client will.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest
import requests

from analytics_assets.devtools.fake_api import Dataset, FakeGitBookAPI, Fault
from analytics_assets.devtools.fake_api.dataset import SITE_EVENT_TYPES, SiteInsightKey
from analytics_assets.devtools.fake_api.server import ORG_SITES, SITE_INSIGHTS_AGGREGATE
from analytics_assets.devtools.fake_api.site_insights import query_schema
from analytics_assets_tests.harness import TEST_TOKEN
from analytics_assets_tests.openapi_contract import (
    SUBSET_FILE,
    ContractError,
    validate_request,
    validate_response,
)

ANCHOR = date(2024, 6, 30)
GROUP_BY = [{"column": "eventType"}, {"column": "page"}, {"column": "urlPath"}]
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


def as_insights(rows: list[dict[str, Any]]) -> dict[SiteInsightKey, tuple[int, int, int]]:
    """Rows of an eventType/page/urlPath query keyed like ``expected_site_insights``."""
    out: dict[SiteInsightKey, tuple[int, int, int]] = {}
    for row in rows:
        page_id = None if row["page"] is None else row["page"]["page"]
        key = (row["eventType"], page_id, row["urlPath"])
        assert key not in out, f"group {key} returned twice"
        out[key] = (row["eventsCount"], row["sessionsCount"], row["visitorsCount"])
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
    assert [s["id"] for s in globex["items"]] == ["site_globex"] and "next" not in globex
    assert error_message(unknown, 404)
    assert error_message(as_post, 405)
    assert [s["id"] for s in dataset.sites] == ["site_docs", "site_changelog", "site_globex"]
    assert {s["id"]: dataset.site_org(s["id"]) for s in dataset.sites} == {
        "site_docs": "org-acme",
        "site_changelog": "org-acme",
        "site_globex": "org-globex",
    }
    assert all("organization" not in s and s["object"] == "site" for s in dataset.sites)
    assert dataset.expected_row_counts()["sites"] == 3


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
    for site in dataset.sites:
        payload = query(http, fake_api, site["id"], day_query(ANCHOR))
        names = [c["column"] for c in payload["columns"]]
        rows = rows_of(payload)
        expected = dataset.expected_site_insights(site["id"], ANCHOR)

        assert names == ["eventType", "page", "urlPath", *(c["column"] for c in COUNTS)]
        assert as_insights(rows) == expected
        assert 6 <= len(expected) <= 30
        # Ordered by eventsCount, largest first (the default order).
        events = [row["eventsCount"] for row in rows]
        assert events == sorted(events, reverse=True)
        # A 404 is a page_view whose page is null; pages belong to spaces of the site's org.
        assert any(r["page"] is None and r["eventType"] == "page_view" for r in rows)
        org_spaces = {s["id"] for s in dataset.spaces_of(dataset.site_org(site["id"]))}
        assert {r["page"]["space"] for r in rows if r["page"]} <= org_spaces


def test_counts_are_consistent_and_every_day_has_data(dataset: Dataset) -> None:
    today = datetime.now(timezone.utc).date()
    for site in dataset.sites:
        for day in (date(2019, 2, 28), ANCHOR - timedelta(days=400), ANCHOR, today):
            atoms = dataset.site_events(site["id"], day)
            assert atoms and all(0 <= a.hour <= 23 for a in atoms)
            assert all(1 <= a.visitors <= a.sessions <= a.events for a in atoms)
            assert {a.event_type for a in atoms} <= set(SITE_EVENT_TYPES)
            groups = dataset.expected_site_insights(site["id"], day)
            assert any(page is None for _, page, _ in groups)
            assert dataset.groups_on(site["id"], day) == len(groups)
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
    wide_types = Counter(event_type for event_type, _, _ in wide)
    huge_types = Counter(event_type for event_type, _, _ in huge)

    assert len(wide) == 1500 and max(wide_types.values()) < 1000
    assert len(huge) == 3000 and huge_types["page_view"] > 1000
    per_hour = Counter((a.event_type, a.hour) for a in big.site_events(site["id"], HUGE_DAY))
    assert max(per_hour.values()) < 1000
    assert big.expected_site_insight_rows([WIDE_DAY, HUGE_DAY]) == 4500
    assert 6 <= len(big.expected_site_insights(site["id"], ANCHOR)) <= 30  # other days normal


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
