"""The bundled GitBook-compatible API: shapes, pagination, auth, faults, rate limiting, the two
API profiles, the demo data and changes to it between syncs.

Every other test trusts this server to behave like GitBook, so it is checked against GitBook's own
OpenAPI schemas and over real HTTP (``requests``), the way the client will talk to it.
"""

from __future__ import annotations

import base64
import json
import math
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from analytics_assets.devtools.fake_api import (
    LEGACY_TRAFFIC_API,
    MAX_LIMIT,
    READER_ORG_PERMISSIONS,
    REQUIRED_SCOPES,
    TODAY_API,
    UNENFORCED_RATE_LIMIT,
    Dataset,
    FakeGitBookAPI,
    Fault,
    RateLimit,
)
from analytics_assets.devtools.fake_api.__main__ import build_parser
from analytics_assets.devtools.fake_api.dataset import flatten_pages
from analytics_assets_tests.openapi_contract import (
    SUBSET_FILE,
    ContractError,
    list_limit_bounds,
    validate_error,
    validate_request,
    validate_response,
)

TOKEN = "fake-api-test-token-7c1e"
USER = "/v1/user"
ORGS = "/v1/orgs"
ORG_SPACES = "/v1/orgs/{organizationId}/spaces"
ORG_MEMBERS = "/v1/orgs/{organizationId}/members"
CONTENT = "/v1/spaces/{spaceId}/content"
TRAFFIC = "/v1/spaces/{spaceId}/insights/traffic"
ORG_SITES = "/v1/orgs/{organizationId}/sites"
AGGREGATE = "/v1/orgs/{organizationId}/sites/{siteId}/insights/events/aggregate"
# The list each endpoint paginates.
DATA_KEY = {ORGS: "items", ORG_SPACES: "items", ORG_MEMBERS: "items", CONTENT: "pages"}
DATA_KEY[TRAFFIC] = "views"
DATA_KEY[ORG_SITES] = "items"
ISO_UTC_MIDNIGHT = re.compile(r"^\d{4}-\d{2}-\d{2}T00:00:00(\.000)?Z$")
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
THROTTLED = re.compile(r"^API rate limit exceeded\. Please try again in (\d+) seconds$")


@pytest.fixture
def demo() -> Dataset:
    return Dataset.demo()


@pytest.fixture
def api(demo: Dataset) -> Iterator[FakeGitBookAPI]:
    """Today's API (0.202.0): no space traffic."""
    with FakeGitBookAPI(dataset=demo, token=TOKEN, default_page_size=5) as server:
        yield server


@pytest.fixture
def legacy_api(demo: Dataset) -> Iterator[FakeGitBookAPI]:
    """The 0.91.0 profile, which still serves ``/spaces/{spaceId}/insights/traffic``."""
    with FakeGitBookAPI(
        dataset=demo, token=TOKEN, default_page_size=5, api_version=LEGACY_TRAFFIC_API
    ) as server:
        yield server


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        yield session


def url(api: FakeGitBookAPI, route: str, **ids: str) -> str:
    """``base_url`` + route with each id percent-encoded as one path segment."""
    path = route
    for name, value in ids.items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    return api.base_url + path


def walk(http: requests.Session, target: str, **params: Any) -> Iterator[dict[str, Any]]:
    """Every response body of a paginated endpoint, following ``next.page`` to the end."""
    for _ in range(10_000):
        response = http.get(target, params=params, timeout=10)
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"] == "application/json"
        body = response.json()
        yield body
        if "next" not in body:
            return
        params = {**params, "page": body["next"]["page"]}
    raise AssertionError(f"{target} never reached its last page")


def walk_rows(http: requests.Session, route: str, target: str, **params: Any) -> list[dict]:
    return [row for body in walk(http, target, **params) for row in body[DATA_KEY[route]]]


def all_spaces(api: FakeGitBookAPI, http: requests.Session) -> list[dict[str, Any]]:
    orgs = walk_rows(http, ORGS, url(api, ORGS))
    return [
        space
        for org in orgs
        for space in walk_rows(http, ORG_SPACES, url(api, ORG_SPACES, organizationId=org["id"]))
    ]


def error_of(response: requests.Response) -> dict[str, Any]:
    """The error object of a JSON error answer, checked against GitBook's error schema."""
    assert response.headers["Content-Type"] == "application/json"
    validate_error(response.status_code, response.json())
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    return error


# --- shapes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("api_version", [TODAY_API, LEGACY_TRAFFIC_API])
def test_every_response_validates_against_gitbooks_openapi(
    demo: Dataset, http: requests.Session, api_version: Any
) -> None:
    with FakeGitBookAPI(dataset=demo, token=TOKEN, api_version=api_version) as api:
        _validate_every_response(api, http)


def _validate_every_response(api: FakeGitBookAPI, http: requests.Session) -> None:
    legacy = api.api_version == LEGACY_TRAFFIC_API
    validate_response(USER, http.get(url(api, USER)).json())
    checked = {USER: 1}

    def check(route: str, target: str) -> list[dict[str, Any]]:
        rows = []
        for body in walk(http, target):
            validate_response(route, body)
            checked[route] = checked.get(route, 0) + 1
            rows.extend(body[DATA_KEY[route]])
        return rows

    day = {"from": "2024-06-30T00:00:00.000Z", "to": "2024-06-30T23:59:59.999Z"}
    every_column = [
        {"column": "datetime", "interval": "hour"},
        *({"column": c} for c in ("hourOfDay", "dayOfWeek", "eventType", "page", "urlPath")),
    ]
    counts = [{"column": c} for c in ("eventsCount", "sessionsCount", "visitorsCount")]
    queries: list[dict[str, Any]] = [
        {"range": day, "groupBy": every_column, "select": counts},
        {"range": "last7Days", "groupBy": [{"column": "datetime"}]},
        {"range": day},
    ]
    for org in check(ORGS, url(api, ORGS)):
        check(ORG_MEMBERS, url(api, ORG_MEMBERS, organizationId=org["id"]))
        for space in check(ORG_SPACES, url(api, ORG_SPACES, organizationId=org["id"])):
            check(CONTENT, url(api, CONTENT, spaceId=space["id"]))
            if legacy:
                check(TRAFFIC, url(api, TRAFFIC, spaceId=space["id"]))
            else:
                gone = http.get(url(api, TRAFFIC, spaceId=space["id"]))
                assert gone.status_code == 404
                error_of(gone)
        for site in check(ORG_SITES, url(api, ORG_SITES, organizationId=org["id"])):
            target = url(api, AGGREGATE, organizationId=org["id"], siteId=site["id"])
            for query in queries:
                validate_request(AGGREGATE, query)
                response = http.post(target, json=query)
                assert response.status_code == 200, response.text
                validate_response(AGGREGATE, response.json(), method="post")
                checked[AGGREGATE] = checked.get(AGGREGATE, 0) + 1

    # Every space was visited (content and traffic once each at least), and every site.
    assert checked[CONTENT] >= len(api.dataset.spaces) + 1  # the handbook needs two pages
    assert checked.get(TRAFFIC, 0) >= (len(api.dataset.spaces) if legacy else 0)
    assert checked[AGGREGATE] == len(queries) * len(api.dataset.sites) > 0


def test_schema_check_rejects_a_wrong_shape(api: FakeGitBookAPI, http: requests.Session) -> None:
    user = http.get(url(api, USER)).json()
    del user["displayName"]
    with pytest.raises(ContractError, match="displayName"):
        validate_response(USER, user)

    page = http.get(url(api, ORGS)).json()
    page["items"][0]["type"] = "galaxy"
    with pytest.raises(ContractError, match=r"items\[0\]"):
        validate_response("/orgs", page)


def test_traffic_timestamps_are_iso_utc_midnights(
    legacy_api: FakeGitBookAPI, http: requests.Session, demo: Dataset
) -> None:
    target = url(legacy_api, TRAFFIC, spaceId="acme-handbook")
    bodies = list(walk(http, target))
    views = [view for body in bodies for view in body["views"]]

    assert views and all(ISO_UTC_MIDNIGHT.match(view["timestamp"]) for view in views)
    assert views[-1]["timestamp"].startswith(demo.anchor.isoformat())
    assert {body["count"] for body in bodies} == {sum(view["count"] for view in views)}


# --- pagination ----------------------------------------------------------------------------------


def test_lists_paginate_with_opaque_cursors_and_no_next_on_the_last_page(
    api: FakeGitBookAPI, http: requests.Session, demo: Dataset
) -> None:
    org_id = demo.organizations[0]["id"]
    bodies = list(walk(http, url(api, ORG_MEMBERS, organizationId=org_id)))
    members = demo.members_of(org_id)

    assert [len(b["items"]) for b in bodies] == [5, len(members) - 5]
    assert [m["id"] for b in bodies for m in b["items"]] == [m["id"] for m in members]
    assert all(b["count"] == len(members) for b in bodies)
    assert "next" not in bodies[-1]
    cursor = bodies[0]["next"]["page"]
    assert not cursor.isdigit() and cursor != "5"
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)


def test_limit_sets_the_page_size_and_the_default_applies_without_it(
    api: FakeGitBookAPI, http: requests.Session
) -> None:
    target = url(api, ORG_SPACES, organizationId="org-acme")
    assert len(http.get(target, params={"limit": 2}).json()["items"]) == 2
    assert len(http.get(target, params={"limit": 500}).json()["items"]) == 6  # all of them
    assert [len(b["items"]) for b in walk(http, target, limit=4)] == [4, 2]
    assert [len(b["items"]) for b in walk(http, target)] == [5, 1]  # default_page_size=5


def test_content_paginates_top_level_pages_and_traffic_paginates_views(
    legacy_api: FakeGitBookAPI, http: requests.Session, demo: Dataset
) -> None:
    api = legacy_api
    space_id = demo.paginated_space_id
    assert space_id is not None
    content = list(walk(http, url(api, CONTENT, spaceId=space_id)))
    assert len(content) == 2 and "next" not in content[-1]
    assert [p["id"] for b in content for p in b["pages"]] == [
        p["id"] for p in demo.pages_of(space_id)
    ]
    assert len({b["id"] for b in content}) == 1  # the same revision on every page

    traffic = list(walk(http, url(api, TRAFFIC, spaceId=space_id)))
    assert [len(b["views"]) for b in traffic] == [5, 5, 4]


@pytest.mark.parametrize(
    "cursor",
    ["5", "not base64!", base64.urlsafe_b64encode(b'{"o": -1}').decode(), ""],
)
def test_an_invalid_cursor_is_400(api: FakeGitBookAPI, http: requests.Session, cursor: str) -> None:
    response = http.get(url(api, ORGS), params={"page": cursor})
    assert response.status_code == 400
    assert "cursor" in error_of(response)["message"]


def test_a_cursor_from_another_list_is_400(api: FakeGitBookAPI, http: requests.Session) -> None:
    acme = http.get(url(api, ORG_SPACES, organizationId="org-acme")).json()
    other = url(api, ORG_MEMBERS, organizationId="org-acme")
    assert http.get(other, params={"page": acme["next"]["page"]}).status_code == 400


def test_repeat_cursor_returns_the_same_cursor_forever(
    api: FakeGitBookAPI, http: requests.Session
) -> None:
    target = url(api, ORG_MEMBERS, organizationId="org-globex")
    assert "next" not in http.get(target).json()  # 4 members: a single page normally

    api.repeat_cursor(route=ORG_MEMBERS)
    cursors = []
    params: dict[str, str] = {}
    for _ in range(4):
        body = http.get(target, params=params).json()
        cursors.append(body["next"]["page"])
        params = {"page": body["next"]["page"]}
    assert len(set(cursors)) == 1

    # Other routes keep ending normally.
    assert "next" not in http.get(url(api, ORGS)).json()


# --- auth ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", TOKEN, "Bearer ", f"Bearer {TOKEN}x"],
)
def test_missing_or_wrong_token_is_401(api: FakeGitBookAPI, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    for route in (USER, ORGS, CONTENT.replace("{spaceId}", "acme-handbook")):
        response = requests.get(api.base_url + route, headers=headers, timeout=10)
        assert response.status_code == 401
        error_of(response)
        assert TOKEN not in response.text and "wrong-token" not in response.text
    assert api.requests and not any(r.had_valid_token for r in api.requests)


def test_the_token_is_never_logged_even_when_verbose(
    demo: Dataset, capfd: pytest.CaptureFixture[str]
) -> None:
    for verbose in (False, True):
        with FakeGitBookAPI(dataset=demo, token=TOKEN, verbose=verbose) as server:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            assert requests.get(server.base_url + USER, headers=headers, timeout=10).ok
            bad = {"Authorization": "Bearer guessed-secret"}
            assert requests.get(server.base_url + USER, headers=bad, timeout=10).status_code == 401
            assert TOKEN not in repr(server) and TOKEN not in repr(server.requests)
        captured = capfd.readouterr()
        logged = captured.out + captured.err
        assert TOKEN not in logged and "guessed-secret" not in logged
        assert ("/v1/user" in logged) is verbose  # quiet unless asked


# --- faults and latency --------------------------------------------------------------------------


def test_a_fault_fires_exactly_times_with_retry_after_then_service_resumes(
    api: FakeGitBookAPI, http: requests.Session
) -> None:
    api.add_fault(Fault(route=ORGS, status=503, times=2, retry_after=7))

    first, second, third = (http.get(url(api, ORGS)) for _ in range(3))
    for failed in (first, second):
        assert failed.status_code == 503
        assert failed.headers["Retry-After"] == "7"
        error_of(failed)
    assert third.status_code == 200 and "Retry-After" not in third.headers
    assert [r.status for r in api.requests_to(ORGS)] == [503, 503, 200]
    assert http.get(url(api, USER)).status_code == 200


def test_a_fault_can_target_one_exact_path_and_carry_its_own_body(
    api: FakeGitBookAPI, http: requests.Session, demo: Dataset
) -> None:
    awkward = demo.awkward_space_id
    assert awkward is not None
    api.add_fault(
        Fault(
            route=CONTENT,
            status=502,
            times=1,
            body="<html>Bad gateway</html>",
            match_path=f"/v1/spaces/{awkward}/content",
        )
    )

    assert http.get(url(api, CONTENT, spaceId="acme-handbook")).status_code == 200
    failed = http.get(url(api, CONTENT, spaceId=awkward))
    assert failed.status_code == 502 and failed.text == "<html>Bad gateway</html>"
    assert "Retry-After" not in failed.headers
    assert http.get(url(api, CONTENT, spaceId=awkward)).status_code == 200


def test_latency_delays_every_answer_and_can_change_while_serving(
    api: FakeGitBookAPI, http: requests.Session
) -> None:
    api.latency = 0.05
    started = time.monotonic()
    assert http.get(url(api, USER)).status_code == 200
    assert requests.get(url(api, USER), timeout=10).status_code == 401
    assert time.monotonic() - started >= 0.1

    api.latency = 0.0
    started = time.monotonic()
    for _ in range(20):
        http.get(url(api, USER))
    # 20 keep-alive round trips; a 40 ms delayed-ACK stall per response would blow this budget.
    assert time.monotonic() - started < 0.6


# --- routing -------------------------------------------------------------------------------------


def test_the_awkward_space_id_resolves_when_percent_encoded(
    legacy_api: FakeGitBookAPI, http: requests.Session, demo: Dataset
) -> None:
    api = legacy_api
    awkward = demo.awkward_space_id
    assert awkward is not None and all(c in awkward for c in "+ /")

    content = http.get(url(api, CONTENT, spaceId=awkward))
    traffic = http.get(url(api, TRAFFIC, spaceId=awkward))

    assert content.status_code == 200 and content.json()["pages"]
    assert content.json()["id"] == demo.space(awkward)["revision"]
    assert traffic.status_code == 200 and traffic.json()["views"]
    recorded = api.requests_to(CONTENT)[-1]
    assert recorded.path == f"/v1/spaces/{awkward}/content"
    assert recorded.raw_path == f"/v1/spaces/{quote(awkward, safe='')}/content"
    assert recorded.params == {"spaceId": awkward}
    assert api.requests_to(recorded.path) == [recorded]
    # "+" in a path is a literal plus, not a space; an unencoded "/" is a different path.
    plus_literal = api.base_url + "/v1/spaces/sp+ace%20x%2F1/content"
    assert http.get(plus_literal).status_code == 200
    assert http.get(api.base_url + "/v1/spaces/sp+ace%20x/1/content").status_code == 404


@pytest.mark.parametrize("api_version", [TODAY_API, LEGACY_TRAFFIC_API])
def test_unknown_ids_routes_and_methods_are_errors(
    demo: Dataset, http: requests.Session, api_version: Any
) -> None:
    with FakeGitBookAPI(dataset=demo, token=TOKEN, api_version=api_version) as api:
        _check_unknown_ids_routes_and_methods(api, http)


def _check_unknown_ids_routes_and_methods(api: FakeGitBookAPI, http: requests.Session) -> None:
    for route, ids in (
        (ORG_SPACES, {"organizationId": "org-nope"}),
        (ORG_MEMBERS, {"organizationId": "org-nope"}),
        (CONTENT, {"spaceId": "nope"}),
        (TRAFFIC, {"spaceId": "nope"}),
    ):
        response = http.get(url(api, route, **ids))
        assert response.status_code == 404
        error_of(response)
    assert http.get(url(api, ORG_SITES, organizationId="org-nope")).status_code == 404
    assert http.get(api.base_url + "/v1/nothing-here").status_code == 404
    assert http.get(api.base_url + "/orgs").status_code == 404  # no /v1 prefix
    error_of(http.post(url(api, ORGS), json={}))
    assert http.post(url(api, ORGS), json={}).status_code == 405


def test_user_envelope_wraps_the_user(demo: Dataset, http: requests.Session) -> None:
    with FakeGitBookAPI(dataset=demo, token=TOKEN, user_envelope=True) as server:
        enveloped = http.get(server.base_url + USER).json()
    with FakeGitBookAPI(dataset=demo, token=TOKEN) as server:
        bare = http.get(server.base_url + USER).json()

    assert enveloped == {"data": demo.user}
    assert bare == demo.user
    validate_response(USER, enveloped["data"])


def test_stop_closes_kept_alive_connections(demo: Dataset, http: requests.Session) -> None:
    server = FakeGitBookAPI(dataset=demo, token=TOKEN).start()
    base = server.base_url
    assert http.get(base + USER).status_code == 200  # leaves a keep-alive connection open
    server.stop()

    with pytest.raises(requests.ConnectionError):
        http.get(base + USER, timeout=2)
    with pytest.raises(RuntimeError):
        _ = server.base_url


# --- the dataset ---------------------------------------------------------------------------------


def test_the_demo_dataset_has_every_awkward_case(demo: Dataset) -> None:
    org_ids = [o["id"] for o in demo.organizations]
    member_orgs = [
        o for o in org_ids if demo.shared_member_id in {m["id"] for m in demo.members_of(o)}
    ]
    assert demo.shared_member_id == demo.user["id"] and len(member_orgs) == 2

    spaces = demo.spaces
    stamps = {s["id"]: [v["timestamp"] for v in demo.traffic_of(s["id"])] for s in spaces}
    non_empty = [s for s in stamps.values() if s]
    assert len(non_empty) >= 2 and all(s == non_empty[0] for s in non_empty)
    assert len(non_empty[0]) == 14 and non_empty[0][-1].startswith("2024-06-30")

    with_repeat = [s["id"] for s in spaces if demo.repeated_page_id in _page_ids(demo, s["id"])]
    assert len(with_repeat) >= 2

    assert demo.empty_space_id is not None
    assert list(demo.pages_of(demo.empty_space_id)) == []
    assert list(demo.traffic_of(demo.empty_space_id)) == []

    assert demo.awkward_space_id is not None and all(c in demo.awkward_space_id for c in "+ /")
    assert demo.pages_of(demo.awkward_space_id) and demo.traffic_of(demo.awkward_space_id)

    nested = next(
        p for s in spaces for p in demo.pages_of(s["id"]) if p["id"] == demo.nested_page_id
    )
    assert demo.grandchild_page_id in {g["id"] for c in nested["pages"] for g in c["pages"]}

    assert any(
        m["role"] is None and m["id"] == demo.guest_member_id
        for o in org_ids
        for m in demo.members_of(o)
    )
    assert any(len(demo.spaces_of(o)) > 5 or len(demo.members_of(o)) > 5 for o in org_ids)


def _page_ids(dataset: Dataset, space_id: str) -> set[str]:
    return {p["id"] for p in flatten_pages(dataset.pages_of(space_id))}


def test_the_demo_dataset_is_deterministic_and_anchored(demo: Dataset) -> None:
    def dump(d: Dataset) -> str:
        spaces = [s["id"] for s in d.spaces]
        return json.dumps(
            [
                d.user,
                d.organizations,
                [list(d.members_of(o["id"])) for o in d.organizations],
                [[list(d.pages_of(s)), list(d.traffic_of(s))] for s in spaces],
                d.sites,
                [list(d.expected_site_insights(s["id"], d.anchor).items()) for s in d.sites],
            ],
            default=str,
        )

    assert dump(demo) == dump(Dataset.demo())
    earlier = Dataset.demo(anchor=date(2023, 1, 31))
    last = earlier.traffic_of(earlier.awkward_space_id or "")[-1]["timestamp"]
    assert last == "2023-01-31T00:00:00.000Z"
    assert dump(earlier) != dump(demo)
    assert demo.expected_row_counts() == {
        "users": 1,
        "organizations": 2,
        "spaces": 8,
        "org_members": 11,
        "content": 29,
        "insights_traffic": 98,
        "sites": 4,
    }


_SMALL_GENERATED = Dataset.generate(
    orgs=3,
    spaces_per_org=3,
    members_per_org=7,
    pages_per_space=9,
    traffic_points_per_space=6,
    empty_spaces=1,
)


@pytest.mark.parametrize("api_version", [TODAY_API, LEGACY_TRAFFIC_API])
@pytest.mark.parametrize(
    "dataset",
    [
        Dataset.demo(),
        _SMALL_GENERATED,
        Dataset.generate(
            orgs=1,
            spaces_per_org=2,
            members_per_org=1,
            pages_per_space=2,
            traffic_points_per_space=1,
            shared_user=False,
            awkward_ids=False,
            nested_pages=False,
        ),
        Dataset.demo().without(
            orgs=["org-globex"],
            spaces=["acme-api"],
            members=[("org-acme", "user-alan")],
            pages=[("acme-handbook", "guide"), ("sp+ace x/1", "notes-2024")],
            sites=["site_changelog"],
        ),
        _SMALL_GENERATED.without(
            orgs=["org-002"],
            spaces=["space-001-001"],
            members=[("org-000", "user-000-00003"), ("org-001", "user-bench")],
            pages=[("space-000-001", "guide-setup"), ("sp+ace x/001", "page-00008")],
            sites=["site_000_01"],
        ),
    ],
    ids=["demo", "generated", "generated-plain", "demo-without", "generated-without"],
)
def test_expected_row_counts_match_a_full_walk_of_the_api(
    dataset: Dataset, http: requests.Session, api_version: Any
) -> None:
    legacy = api_version == LEGACY_TRAFFIC_API
    with FakeGitBookAPI(
        dataset=dataset, token=TOKEN, default_page_size=4, api_version=api_version
    ) as api:
        user = http.get(url(api, USER)).json()
        orgs = walk_rows(http, ORGS, url(api, ORGS))
        spaces = all_spaces(api, http)
        members = [
            m
            for o in orgs
            for m in walk_rows(http, ORG_MEMBERS, url(api, ORG_MEMBERS, organizationId=o["id"]))
        ]
        pages = [
            p
            for s in spaces
            for p in flatten_pages(walk_rows(http, CONTENT, url(api, CONTENT, spaceId=s["id"])))
        ]
        views = (
            [
                v
                for s in spaces
                for v in walk_rows(http, TRAFFIC, url(api, TRAFFIC, spaceId=s["id"]))
            ]
            if legacy
            else []
        )
        sites = [
            site
            for o in orgs
            for site in walk_rows(http, ORG_SITES, url(api, ORG_SITES, organizationId=o["id"]))
        ]
        validate_response(USER, user)

    walked = {
        "users": 1 if user.get("id") else 0,
        "organizations": len(orgs),
        "spaces": len(spaces),
        "org_members": len(members),
        "content": len(pages),
        "insights_traffic": len(views),
        "sites": len(sites),
    }
    assert walked == api.expected_row_counts() == dataset.expected_row_counts(traffic=legacy)
    # Member ids and page ids repeat across orgs and spaces: their row keys must be compound.
    if dataset.shared_member_id:
        assert len({m["id"] for m in members}) < len(members)
    if dataset.repeated_page_id:
        assert len({p["id"] for p in pages}) < len(pages)


def test_generated_benchmark_data_is_lazy_and_served_in_slices(http: requests.Session) -> None:
    dataset = Dataset.generate(
        orgs=2, spaces_per_org=10, pages_per_space=2_000, traffic_points_per_space=10_000
    )
    space_id = dataset.spaces_of("org-001")[3]["id"]
    assert not isinstance(dataset.traffic_of(space_id), list)
    assert not isinstance(dataset.pages_of(space_id), list)
    assert dataset.expected_row_counts()["insights_traffic"] == 20 * 10_000
    assert dataset.expected_row_counts()["content"] == 20 * 2_000

    with FakeGitBookAPI(dataset=dataset, token=TOKEN, api_version=LEGACY_TRAFFIC_API) as api:
        target = url(api, TRAFFIC, spaceId=space_id)
        first = http.get(target, params={"limit": 1_000}).json()
        second = http.get(target, params={"limit": 1_000, "page": first["next"]["page"]}).json()
        content = http.get(url(api, CONTENT, spaceId=space_id), params={"limit": 3}).json()

    assert len(first["views"]) == len(second["views"]) == 1_000
    assert second["views"][0] == dataset.traffic_of(space_id)[1_000]
    assert first["views"][-1]["timestamp"] < second["views"][0]["timestamp"]
    assert first["count"] == sum(v["count"] for v in dataset.traffic_of(space_id))
    assert [p["id"] for p in content["pages"]] == ["intro", "guide", "page-00004"]
    validate_response(TRAFFIC, first)
    validate_response(CONTENT, content)


# --- limit and page sizes ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def many_members() -> Dataset:
    """One org with 1,500 members: more than the largest page GitBook serves."""
    return Dataset.generate(
        orgs=1,
        spaces_per_org=1,
        members_per_org=1_500,
        pages_per_space=1,
        traffic_points_per_space=1,
        sites_per_org=0,
    )


def test_limit_is_honoured_up_to_gitbooks_maximum(
    many_members: Dataset, http: requests.Session
) -> None:
    assert (0, MAX_LIMIT) == list_limit_bounds() == (0, 1000)
    with FakeGitBookAPI(dataset=many_members, token=TOKEN) as api:
        target = url(api, ORG_MEMBERS, organizationId="org-000")
        bodies = list(walk(http, target, limit=MAX_LIMIT))
        assert len(http.get(target, params={"limit": 999}).json()["items"]) == 999
        assert len(http.get(target).json()["items"]) == 5  # the default page size
        validate_response(ORG_MEMBERS, bodies[-1])

    assert [len(b["items"]) for b in bodies] == [1000, 500]
    assert [m["id"] for b in bodies for m in b["items"]] == [
        m["id"] for m in many_members.members_of("org-000")
    ]


def test_limit_zero_answers_an_empty_page_with_the_count_and_no_next(
    api: FakeGitBookAPI, http: requests.Session, demo: Dataset
) -> None:
    spaces = http.get(url(api, ORG_SPACES, organizationId="org-acme"), params={"limit": 0})
    content = http.get(url(api, CONTENT, spaceId="acme-handbook"), params={"limit": 0})

    assert spaces.status_code == content.status_code == 200
    assert spaces.json() == {"items": [], "count": len(demo.spaces_of("org-acme"))}
    assert content.json()["pages"] == [] and "next" not in content.json()
    validate_response(ORG_SPACES, spaces.json())
    validate_response(CONTENT, content.json())


@pytest.mark.parametrize(
    "limit", ["1001", "5000", "-1", "2.5", "ten", "", "1e3", "+5", " 5", "5_0", "9" * 30]
)
def test_a_limit_over_the_maximum_negative_or_not_an_integer_is_400(
    api: FakeGitBookAPI, http: requests.Session, limit: str
) -> None:
    for target in (
        url(api, ORG_MEMBERS, organizationId="org-acme"),
        url(api, CONTENT, spaceId="acme-handbook"),
    ):
        response = http.get(target, params={"limit": limit})
        assert response.status_code == 400
        message = error_of(response)["message"]
        assert "limit" in message and str(MAX_LIMIT) in message


def test_default_page_size_is_checked_and_settable_while_serving(
    api: FakeGitBookAPI, http: requests.Session
) -> None:
    for bad in (0, MAX_LIMIT + 1, True, 2.5):
        with pytest.raises(ValueError, match="default_page_size"):
            FakeGitBookAPI(default_page_size=bad)  # type: ignore[arg-type]
    target = url(api, ORG_SPACES, organizationId="org-acme")
    api.default_page_size = 4
    assert [len(b["items"]) for b in walk(http, target)] == [4, 2]
    api.default_page_size = MAX_LIMIT
    assert [len(b["items"]) for b in walk(http, target)] == [6]


# --- rate limiting -------------------------------------------------------------------------------


def rate_headers(response: requests.Response) -> tuple[int, int, int]:
    """``(limit, remaining, reset)``; each header present and a plain non-negative integer."""
    values = [response.headers[name] for name in RATE_HEADERS]
    assert all(re.fullmatch(r"[0-9]+", v) for v in values), values
    limit, remaining, reset = (int(v) for v in values)
    return limit, remaining, reset


def test_every_response_carries_the_rate_limit_headers_of_a_generous_unenforced_limit(
    api: FakeGitBookAPI, http: requests.Session
) -> None:
    assert api.rate_limit is None
    generous = UNENFORCED_RATE_LIMIT
    aggregate = url(api, AGGREGATE, organizationId="org-acme", siteId="site_docs")
    started = time.time()
    first = http.get(url(api, USER))
    first_answered = time.time()
    counted = [
        first,
        requests.get(url(api, ORGS), timeout=10),  # 401
        http.get(api.base_url + "/v1/nothing-here"),  # 404
        http.get(url(api, ORGS), params={"limit": MAX_LIMIT + 1}),  # 400
        http.post(url(api, ORGS), json={}),  # 405
        http.post(aggregate, json={"range": "last7Days"}),
        http.get(url(api, TRAFFIC, spaceId="acme-handbook")),  # 404 under today's API
    ]
    api.add_fault(Fault(route=ORGS, status=503, times=1))
    injected = http.get(url(api, ORGS))

    assert [r.status_code for r in counted] == [200, 401, 404, 400, 405, 200, 404]
    assert injected.status_code == 503
    headers = [rate_headers(r) for r in counted]
    assert {limit for limit, _, _ in headers} == {generous.requests}
    # Counted one by one; the injected fault stands for something in front of GitBook: it
    # answers before the limiter, is not counted, and carries no rate-limit headers.
    remaining = [left for _, left, _ in headers]
    assert remaining == [generous.requests - n for n in range(1, len(counted) + 1)]
    assert "X-RateLimit-Limit" not in injected.headers
    # One window, opened by the first request; Reset is its end rounded up to a whole second.
    resets = {reset for _, _, reset in headers}
    assert len(resets) == 1
    reset = resets.pop()
    window = generous.window_seconds
    assert math.ceil(started + window) <= reset <= math.ceil(first_answered + window)
    assert api.throttled == 0 and "Retry-After" not in injected.headers


def test_an_enforced_limit_answers_429_with_the_headers_until_the_window_resets(
    demo: Dataset, http: requests.Session
) -> None:
    limit = RateLimit(requests=3, window_seconds=2.0)
    with FakeGitBookAPI(dataset=demo, token=TOKEN, rate_limit=limit) as api:
        before = time.time()
        served = [http.get(url(api, ORGS)) for _ in range(3)]
        after = time.time()
        sent = time.time()
        throttled = [http.get(url(api, ORGS)) for _ in range(3)]
        _, _, reset = rate_headers(served[0])
        while time.time() < reset:  # wait exactly until the advertised second, no slack
            time.sleep(0.005)
        again_sent = time.time()
        again = http.get(url(api, ORGS))
        again_answered = time.time()
        statuses = [r.status for r in api.requests]
        count = api.throttled

    assert [r.status_code for r in served] == [200, 200, 200]
    assert [rate_headers(r) for r in served] == [(3, 2, reset), (3, 1, reset), (3, 0, reset)]
    assert math.ceil(before + 2.0) <= reset <= math.ceil(after + 2.0)
    for response in throttled:
        assert response.status_code == 429
        assert rate_headers(response) == (3, 0, reset)  # refused requests do not move the window
        assert "Retry-After" not in response.headers
        error = error_of(response)
        match = THROTTLED.fullmatch(error["message"])
        assert match, error["message"]
        assert 1 <= int(match.group(1)) <= math.ceil(reset - sent)
    # A new window opens with the first request after the old one ended; the 429s used none of it.
    assert again.status_code == 200
    _, left, new_reset = rate_headers(again)
    assert left == 2
    assert math.ceil(again_sent + 2.0) <= new_reset <= math.ceil(again_answered + 2.0)
    assert statuses == [200, 200, 200, 429, 429, 429, 200] and count == 3


def test_errors_count_against_the_limit_and_injected_faults_come_first(
    demo: Dataset, http: requests.Session
) -> None:
    with FakeGitBookAPI(dataset=demo, token=TOKEN, rate_limit=RateLimit(2, 60)) as api:
        unauthorized = requests.get(url(api, ORGS), timeout=10)
        missing = http.get(url(api, CONTENT, spaceId="nope"))
        refused = http.get(url(api, ORGS))
        api.add_fault(Fault(route=ORGS, status=503, times=1, retry_after=1))
        injected = http.get(url(api, ORGS))
        api.add_fault(Fault(route=ORGS, status=None, headers={"X-Extra": "1"}))
        shaped = http.get(url(api, ORGS))  # status=None: served normally, so limited

    assert [r.status_code for r in (unauthorized, missing, refused)] == [401, 404, 429]
    assert [rate_headers(r)[1] for r in (unauthorized, missing, refused)] == [1, 0, 0]
    assert injected.status_code == 503 and injected.headers["Retry-After"] == "1"
    assert "X-RateLimit-Remaining" not in injected.headers
    assert shaped.status_code == 429 and shaped.headers["X-Extra"] == "1"
    error_of(refused)
    assert api.throttled == 2  # the injected 503 is not the limiter's


def test_the_rate_limit_can_change_while_serving(
    api: FakeGitBookAPI, http: requests.Session
) -> None:
    api.rate_limit = RateLimit(1, 60)
    first, second = http.get(url(api, USER)), http.get(url(api, USER))
    api.rate_limit = None
    third = http.get(url(api, USER))

    assert (first.status_code, second.status_code, third.status_code) == (200, 429, 200)
    assert rate_headers(first)[:2] == (1, 0) and rate_headers(second)[:2] == (1, 0)
    generous = UNENFORCED_RATE_LIMIT.requests
    assert rate_headers(third)[:2] == (generous, generous - 1)  # a fresh, unenforced window
    assert [r.status for r in api.requests] == [200, 429, 200] and api.throttled == 1
    api.clear_requests()
    assert api.throttled == 0


def test_the_limiter_counts_exactly_under_concurrent_requests(demo: Dataset) -> None:
    results: list[tuple[int, int]] = []
    lock = threading.Lock()

    def client(target: str) -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {TOKEN}"
            for _ in range(15):
                response = session.get(target, timeout=10)
                with lock:
                    results.append((response.status_code, rate_headers(response)[1]))

    with FakeGitBookAPI(dataset=demo, token=TOKEN, rate_limit=RateLimit(20, 60)) as api:
        threads = [threading.Thread(target=client, args=(url(api, ORGS),)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        throttled = api.throttled

    assert Counter(status for status, _ in results) == {200: 20, 429: 40}
    assert sorted(left for status, left in results if status == 200) == list(range(20))
    assert throttled == 40


def test_rate_limit_values_are_checked_and_parsed() -> None:
    assert RateLimit.parse("60/60") == RateLimit(60, 60.0)
    assert RateLimit.parse("5/1.5") == RateLimit(5, 1.5)
    for bad in ("60", "0/60", "60/0", "60/-1", "x/60", "60/inf", "1.5/60"):
        with pytest.raises(ValueError):
            RateLimit.parse(bad)
    with pytest.raises(AttributeError):
        RateLimit(1, 1).requests = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        FakeGitBookAPI(rate_limit=(60, 60))  # type: ignore[arg-type]


# --- API versions --------------------------------------------------------------------------------


def test_todays_api_answers_404_for_space_traffic_like_any_unknown_route(
    api: FakeGitBookAPI, http: requests.Session, demo: Dataset
) -> None:
    assert api.api_version == TODAY_API
    traffic = http.get(url(api, TRAFFIC, spaceId="acme-handbook"))
    unknown = http.get(api.base_url + "/v1/nothing-here")
    anonymous = requests.get(url(api, TRAFFIC, spaceId="acme-handbook"), timeout=10)

    assert traffic.status_code == unknown.status_code == 404
    assert error_of(traffic) == error_of(unknown)
    assert anonymous.status_code == 401
    assert [r.status for r in api.requests_to(TRAFFIC)] == [404, 401]  # still recognisable
    assert http.get(url(api, CONTENT, spaceId="acme-handbook")).status_code == 200
    assert api.expected_row_counts() == {**demo.expected_row_counts(), "insights_traffic": 0}
    assert demo.expected_row_counts(traffic=False)["insights_traffic"] == 0


def test_the_legacy_api_serves_space_traffic(
    legacy_api: FakeGitBookAPI, http: requests.Session, demo: Dataset
) -> None:
    response = http.get(url(legacy_api, TRAFFIC, spaceId="acme-handbook"))

    assert response.status_code == 200
    validate_response(TRAFFIC, response.json())
    assert legacy_api.expected_row_counts() == demo.expected_row_counts()
    assert legacy_api.expected_row_counts()["insights_traffic"] == 98


def test_the_api_version_is_checked_and_settable_while_serving(
    api: FakeGitBookAPI, http: requests.Session
) -> None:
    with pytest.raises(ValueError, match="api_version"):
        FakeGitBookAPI(api_version="0.100.0")  # type: ignore[arg-type]
    target = url(api, TRAFFIC, spaceId="acme-handbook")
    assert http.get(target).status_code == 404
    api.api_version = LEGACY_TRAFFIC_API
    assert http.get(target).status_code == 200


# --- changes between syncs (Dataset.without) ---------------------------------------------------


def _dump(dataset: Dataset) -> str:
    """Everything the dataset serves, as text (to show a dataset was not changed)."""
    return json.dumps(
        [
            dataset.organizations,
            [list(dataset.members_of(o["id"])) for o in dataset.organizations],
            dataset.spaces,
            [list(dataset.pages_of(s["id"])) for s in dataset.spaces],
            [list(dataset.traffic_of(s["id"])) for s in dataset.spaces],
            dataset.sites,
            dataset.spaces_by_site,
            [len(dataset.expected_site_insights(s["id"], dataset.anchor)) for s in dataset.sites],
        ],
        sort_keys=True,
    )


def test_without_returns_a_new_dataset_and_leaves_the_original_alone(demo: Dataset) -> None:
    before = _dump(demo)
    changed = demo.without(
        orgs=["org-globex"],
        spaces=["acme-api"],
        members=[("org-acme", "user-ken")],
        pages=[("acme-handbook", "guide-setup")],
        sites=["site_changelog"],
        site_days=[("site_docs", demo.anchor)],
    )
    assert _dump(demo) == before == _dump(Dataset.demo())
    assert _dump(changed) != before
    same = demo.without()
    assert same is not demo and _dump(same) == before


@pytest.mark.parametrize(
    "removal",
    [
        {"orgs": ["org-nope"]},
        {"spaces": ["nope"]},
        {"members": [("org-acme", "user-nope")]},
        {"members": [("org-nope", "user-ada")]},
        {"members": [("org-acme", "user-guest")]},  # a member of the other org
        {"pages": [("acme-handbook", "nope")]},
        {"pages": [("nope", "intro")]},
        {"pages": [("acme-empty", "intro")]},
        {"sites": ["site_nope"]},
        {"site_days": [("site_nope", date(2024, 6, 30))]},
        {"site_days": [("site_docs", "2024-06-30")]},
    ],
)
def test_without_refuses_unknown_ids(demo: Dataset, removal: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="unknown"):
        demo.without(**removal)


def test_without_refuses_a_bare_string(demo: Dataset) -> None:
    with pytest.raises(TypeError, match="collection"):
        demo.without(spaces="acme-api")


def test_an_org_goes_with_its_spaces_members_and_sites(
    api: FakeGitBookAPI, http: requests.Session, demo: Dataset
) -> None:
    api.dataset = demo.without(orgs=["org-globex"])
    orgs = http.get(url(api, ORGS)).json()
    gone = [
        http.get(url(api, route, organizationId="org-globex"))
        for route in (ORG_SPACES, ORG_MEMBERS, ORG_SITES)
    ]
    gone.append(http.get(url(api, CONTENT, spaceId="globex-docs")))

    assert [o["id"] for o in orgs["items"]] == ["org-acme"] and orgs["count"] == 1
    assert [error_of(r)["code"] for r in gone] == [404] * 4
    assert api.expected_row_counts() == {
        **demo.expected_row_counts(traffic=False),
        "organizations": 1,
        "spaces": 6,
        "org_members": 7,
        "content": 23,
        "sites": 2,
    }
    assert not api.dataset.has_site("site_globex")
    assert "site_globex" not in api.dataset.spaces_by_site
    assert api.dataset.guest_member_id is None and api.dataset.shared_member_id is None


def test_a_token_that_sees_no_organization(
    api: FakeGitBookAPI, http: requests.Session, demo: Dataset
) -> None:
    api.dataset = demo.without(orgs=[o["id"] for o in demo.organizations])
    orgs = http.get(url(api, ORGS))
    user = http.get(url(api, USER))

    assert orgs.json() == {"items": [], "count": 0}
    validate_response(ORGS, orgs.json())
    assert user.json() == demo.user
    counts = api.dataset.expected_row_counts()
    assert counts == {t: 1 if t == "users" else 0 for t in counts}
    assert api.dataset.spaces == [] and api.dataset.sites == []
    assert all(
        getattr(api.dataset, name) is None
        for name in ("empty_space_id", "awkward_space_id", "nested_page_id", "guest_member_id")
    )


def test_spaces_go_with_their_pages_and_traffic_and_leave_their_sites(
    legacy_api: FakeGitBookAPI, http: requests.Session, demo: Dataset
) -> None:
    api = legacy_api
    changed = demo.without(spaces=["acme-api", "sp+ace x/1"])
    api.dataset = changed
    spaces = walk_rows(http, ORG_SPACES, url(api, ORG_SPACES, organizationId="org-acme"))
    sites = http.get(url(api, ORG_SITES, organizationId="org-acme")).json()

    kept = ["acme-handbook", "acme-empty", "acme-changelog", "acme-design"]
    assert [s["id"] for s in spaces] == kept
    for space_id in ("acme-api", "sp+ace x/1"):
        assert http.get(url(api, CONTENT, spaceId=space_id)).status_code == 404
        assert http.get(url(api, TRAFFIC, spaceId=space_id)).status_code == 404
        assert space_id not in changed.pages_by_space and space_id not in changed.traffic_by_space
    validate_response(ORG_SITES, sites)
    assert changed.spaces_by_site["site_docs"] == ["acme-handbook"]
    assert {s["id"]: s["siteSpaces"] for s in sites["items"]} == {
        "site_docs": 1,
        "site_changelog": 1,
    }
    events = changed.site_events("site_docs", demo.anchor)
    assert {a.page[1] for a in events if a.page} == {"acme-handbook"}
    assert changed.awkward_space_id is None and changed.empty_space_id == "acme-empty"
    counts = changed.expected_row_counts()
    assert counts["spaces"] == 6 and counts["insights_traffic"] == 98 - 2 * 14


def test_an_organization_with_no_spaces(
    api: FakeGitBookAPI, http: requests.Session, demo: Dataset
) -> None:
    globex = [s["id"] for s in demo.spaces_of("org-globex")]
    api.dataset = demo.without(spaces=globex)
    listed = http.get(url(api, ORG_SPACES, organizationId="org-globex"))
    sites = http.get(url(api, ORG_SITES, organizationId="org-globex")).json()

    assert listed.json() == {"items": [], "count": 0}
    validate_response(ORG_SPACES, listed.json())
    assert [o["id"] for o in http.get(url(api, ORGS)).json()["items"]] == ["org-acme", "org-globex"]
    assert [(s["id"], s["siteSpaces"]) for s in sites["items"]] == [
        ("site_globex", 0),
        ("site_runbooks", 0),
    ]
    # A site that publishes nothing still has visitors: every one of them hits a 404.
    insights = api.dataset.expected_site_insights("site_globex", demo.anchor)
    assert insights and {key[:3] for key in insights} == {("page_view", None, None)}


def test_members_go_from_their_org_only(
    api: FakeGitBookAPI, http: requests.Session, demo: Dataset
) -> None:
    api.dataset = demo.without(members=[("org-acme", "user-alan"), ("org-globex", "user-ada")])
    acme = walk_rows(http, ORG_MEMBERS, url(api, ORG_MEMBERS, organizationId="org-acme"))
    globex = walk_rows(http, ORG_MEMBERS, url(api, ORG_MEMBERS, organizationId="org-globex"))

    assert [m["id"] for m in acme] == [
        m["id"] for m in demo.members_of("org-acme") if m["id"] != "user-alan"
    ]
    assert [m["id"] for m in globex] == ["user-margaret", "user-dennis", "user-guest"]
    assert api.dataset.shared_member_id is None  # user-ada is in one org now
    assert api.dataset.guest_member_id == "user-guest"
    assert api.expected_row_counts()["org_members"] == 9


def test_a_page_goes_with_its_subtree_and_the_space_gets_a_new_revision(
    api: FakeGitBookAPI, http: requests.Session, demo: Dataset
) -> None:
    changed = demo.without(pages=[("acme-handbook", "guide")])
    api.dataset = changed
    content = list(walk(http, url(api, CONTENT, spaceId="acme-handbook")))
    listed = walk_rows(http, ORG_SPACES, url(api, ORG_SPACES, organizationId="org-acme"))
    handbook = next(s for s in listed if s["id"] == "acme-handbook")
    pages = [p for body in content for p in flatten_pages(body["pages"])]

    for body in content:
        validate_response(CONTENT, body)
    gone = {"guide", "guide-setup", "guide-setup-advanced", "guide-faq"}
    assert [p["id"] for p in pages] == [
        p["id"] for p in flatten_pages(demo.pages_of("acme-handbook")) if p["id"] not in gone
    ]
    assert changed.page_tree("acme-handbook").total == len(pages) == 11 - 4
    assert changed.expected_row_counts()["content"] == demo.expected_row_counts()["content"] - 4
    # A deletion is an edit: a new active revision, served by content, and a later updatedAt.
    old = demo.space("acme-handbook")
    assert handbook["revision"] == content[0]["id"] != old["revision"]
    assert handbook["updatedAt"] > old["updatedAt"]
    assert changed.space("acme-api") is demo.space("acme-api")  # other spaces are untouched
    assert changed.nested_page_id is changed.grandchild_page_id is None
    assert changed.paginated_space_id is None  # 5 top-level pages left: one page of content


def test_removing_a_grandchild_or_a_repeated_page_updates_the_awkward_cases(
    demo: Dataset,
) -> None:
    leaf = demo.without(pages=[("acme-handbook", "guide-setup-advanced")])
    assert leaf.nested_page_id is None and leaf.grandchild_page_id is None
    assert leaf.paginated_space_id == "acme-handbook"
    setup = next(
        p for p in flatten_pages(leaf.pages_of("acme-handbook")) if p["id"] == "guide-setup"
    )
    assert setup["pages"] == [] and leaf.page_tree("acme-handbook").total == 10

    with_intro = [s["id"] for s in demo.spaces if demo.page_tree(s["id"]).total]
    once = demo.without(pages=[(s, "intro") for s in with_intro[1:]])
    assert demo.repeated_page_id == "intro" and once.repeated_page_id is None
    assert once.expected_row_counts()["content"] == 29 - (len(with_intro) - 1)


def test_an_account_with_no_sites(
    api: FakeGitBookAPI, http: requests.Session, demo: Dataset
) -> None:
    api.dataset = demo.without(sites=[s["id"] for s in demo.sites])
    for org in demo.organizations:
        listed = http.get(url(api, ORG_SITES, organizationId=org["id"])).json()
        assert listed == {"items": [], "count": 0}
        validate_response(ORG_SITES, listed)
    target = url(api, AGGREGATE, organizationId="org-acme", siteId="site_docs")
    assert error_of(http.post(target, json={"range": "last7Days"}))["code"] == 404
    assert api.dataset.spaces_by_site == {} and api.expected_row_counts()["sites"] == 0
    assert api.expected_row_counts()["spaces"] == 8  # spaces stay, unpublished


def test_without_works_on_generated_datasets(http: requests.Session) -> None:
    generated = Dataset.generate(orgs=2, spaces_per_org=3, members_per_org=6, pages_per_space=8)
    assert generated.awkward_space_id == "sp+ace x/000"
    assert generated.awkward_site_id == "site +x/000"
    changed = generated.without(
        spaces=["sp+ace x/000"],
        members=[("org-001", "user-001-00004")],
        pages=[("space-000-001", "guide"), ("space-001-002", "page-00007")],
        sites=["site +x/000"],
    )

    # Gone, so None: an attribute never moves on to another entity of the same kind.
    assert changed.awkward_space_id is None and changed.awkward_site_id is None
    assert changed.has_space("sp+ace x/001") and changed.has_site("site +x/001")
    assert changed.nested_page_id == "guide"  # still nested in the other spaces
    assert changed.shared_member_id == "user-bench"
    counts, before = changed.expected_row_counts(), generated.expected_row_counts()
    assert counts["spaces"] == before["spaces"] - 1
    assert counts["org_members"] == before["org_members"] - 1
    assert counts["content"] == before["content"] - 8 - 3 - 1  # guide > setup > advanced
    assert counts["sites"] == before["sites"] - 1
    with FakeGitBookAPI(dataset=changed, token=TOKEN) as api:
        members = walk_rows(http, ORG_MEMBERS, url(api, ORG_MEMBERS, organizationId="org-001"))
        content = http.get(url(api, CONTENT, spaceId="space-001-002"), params={"limit": 100})
    assert "user-001-00004" not in {m["id"] for m in members} and len(members) == 5
    assert "page-00007" not in {p["id"] for p in flatten_pages(content.json()["pages"])}
    validate_response(CONTENT, content.json())
    kept = generated.without(spaces=["space-001-001"], sites=["site_001_01"])
    assert (kept.awkward_space_id, kept.awkward_site_id) == ("sp+ace x/000", "site +x/000")


def test_the_dataset_can_be_replaced_while_serving(api: FakeGitBookAPI, demo: Dataset) -> None:
    smaller = demo.without(orgs=["org-globex"])
    stop = threading.Event()
    seen: list[tuple[int, int, int]] = []

    def client() -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {TOKEN}"
            while not stop.is_set():
                body = session.get(url(api, ORGS), params={"limit": 10}, timeout=10).json()
                members = session.get(url(api, ORG_MEMBERS, organizationId="org-globex"))
                seen.append((len(body["items"]), body["count"], members.status_code))

    reader = threading.Thread(target=client)
    reader.start()
    try:
        for i in range(40):
            api.dataset = smaller if i % 2 == 0 else demo
            time.sleep(0.005)
    finally:
        stop.set()
        reader.join()

    assert seen and all(items == count for items, count, _ in seen)
    assert {count for _, count, _ in seen} <= {1, 2}
    assert {status for _, _, status in seen} <= {200, 404}
    with pytest.raises(TypeError):
        api.dataset = None  # type: ignore[assignment]


# --- the command line ----------------------------------------------------------------------------


def test_the_command_line_takes_page_size_rate_limit_and_api_version() -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["--default-page-size", "50", "--rate-limit", "60/60", "--api-version", "0.91.0"]
    )
    assert (args.default_page_size, args.rate_limit, args.api_version) == (
        50,
        RateLimit(60, 60.0),
        LEGACY_TRAFFIC_API,
    )
    defaults = parser.parse_args([])
    assert (defaults.default_page_size, defaults.rate_limit, defaults.api_version) == (
        5,
        None,
        TODAY_API,
    )
    for bad in (
        ["--max-page-size", "5"],
        ["--default-page-size", "0"],
        ["--default-page-size", "1001"],
        ["--rate-limit", "60"],
        ["--api-version", "0.100.0"],
    ):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)


def test_the_command_line_serves_with_those_options(http: requests.Session) -> None:
    command = [sys.executable, "-m", "analytics_assets.devtools.fake_api", "--port", "0"]
    command += ["--token", TOKEN, "--default-page-size", "3", "--rate-limit", "3/60"]
    command += ["--api-version", LEGACY_TRAFFIC_API]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            base = process.stdout.readline().strip()
            banner = process.stdout.readline()
            assert base.startswith("http://127.0.0.1:")
            traffic = http.get(base + TRAFFIC.replace("{spaceId}", "acme-handbook"), timeout=10)
            members = http.get(base + ORG_MEMBERS.replace("{organizationId}", "org-acme"))
            http.get(base + USER)
            refused = http.get(base + USER)
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=10)

    assert traffic.status_code == 200 and len(traffic.json()["views"]) == 3
    assert rate_headers(traffic)[:2] == (3, 2)
    assert len(members.json()["items"]) == 3
    assert refused.status_code == 429 and "Retry-After" not in refused.headers
    assert "0.91.0" in banner and "3/60s" in banner
    assert TOKEN not in banner + output and "stopped" in output


# --- limited tokens: reader organizations and missing OAuth scopes -------------------------------

FULL_OPENAPI = Path("/work/shared/gitbook-openapi/gitbook-api-0.202.0.openapi.json")
SPACE = "/v1/spaces/{spaceId}"
SERVED_ROUTES = (USER, ORGS, ORG_SPACES, ORG_MEMBERS, SPACE, CONTENT, TRAFFIC, ORG_SITES, AGGREGATE)
DAY = {"from": "2024-06-30T00:00:00.000Z", "to": "2024-06-30T23:59:59.999Z"}
MISSING_SCOPE = re.compile(r"^The token is missing the scope (\S+)$")


def _call(api: FakeGitBookAPI, http: requests.Session, route: str) -> requests.Response:
    """One request to ``route`` in the demo's first org (acme), with real ids."""
    ids = {"organizationId": "org-acme", "spaceId": "acme-handbook", "siteId": "site_docs"}
    target = url(api, route, **{k: v for k, v in ids.items() if "{" + k + "}" in route})
    if route == AGGREGATE:
        return http.post(target, json={"range": DAY}, timeout=10)
    return http.get(target, timeout=10)


def _oauth_scope(operation: dict[str, Any]) -> str | None:
    scopes = [s for entry in operation.get("security", []) for s in entry.get("oauth", [])]
    assert len(scopes) <= 1, scopes
    return scopes[0] if scopes else None


def test_required_scopes_are_the_ones_gitbook_describes() -> None:
    # Traffic is 0.91.0 only and names no OAuth scope: it needs none.
    assert set(REQUIRED_SCOPES) == set(SERVED_ROUTES) - {TRAFFIC}
    subset = json.loads(SUBSET_FILE.read_text(encoding="utf-8"))["paths"]
    described = dict(subset)
    if FULL_OPENAPI.exists():  # the subset lacks GET /spaces/{spaceId}
        described |= json.loads(FULL_OPENAPI.read_text(encoding="utf-8"))["paths"]
    for route, scope in REQUIRED_SCOPES.items():
        path = route.removeprefix("/v1")
        if path not in described:
            assert route == SPACE and scope == REQUIRED_SCOPES[CONTENT]
            continue
        method = "post" if route == AGGREGATE else "get"
        assert _oauth_scope(described[path][method]) == scope, route
    assert _oauth_scope(subset[TRAFFIC.removeprefix("/v1")]["get"]) is None


def test_a_reader_org_shows_reader_permissions_and_refuses_its_members(
    demo: Dataset, http: requests.Session
) -> None:
    before = _dump(demo)
    with FakeGitBookAPI(dataset=demo, token=TOKEN, reader_orgs=frozenset({"org-acme"})) as api:
        orgs = {org["id"]: org for org in walk_rows(http, ORGS, url(api, ORGS))}
        acme_members = http.get(url(api, ORG_MEMBERS, organizationId="org-acme"))
        globex_members = http.get(url(api, ORG_MEMBERS, organizationId="org-globex"))
        rest = [_call(api, http, route).status_code for route in (ORG_SPACES, CONTENT, ORG_SITES)]
        insights = _call(api, http, AGGREGATE)
        for body in walk(http, url(api, ORGS)):
            validate_response(ORGS, body)

    acme = orgs["org-acme"]["permissions"]
    assert acme == READER_ORG_PERMISSIONS and acme["listMembers"] is False
    assert acme["view"] and acme["access"] and not (acme["admin"] or acme["viewBilling"])
    assert all(orgs["org-globex"]["permissions"].values())  # a member elsewhere
    assert acme_members.status_code == 403
    assert error_of(acme_members)["message"] == (
        "You do not have permission to list the members of this organization"
    )
    assert globex_members.status_code == 200 and globex_members.json()["items"]
    assert rest == [200, 200, 200] and insights.status_code == 200, insights.text
    assert _dump(demo) == before  # the served copy is built, the dataset untouched
    assert all(demo.organizations[0]["permissions"].values())


def test_an_unknown_org_is_still_404_for_a_reader(demo: Dataset, http: requests.Session) -> None:
    with FakeGitBookAPI(dataset=demo, token=TOKEN, reader_orgs=frozenset({"org-nope"})) as api:
        response = http.get(url(api, ORG_MEMBERS, organizationId="org-nope"))
        orgs = walk_rows(http, ORGS, url(api, ORGS))
    assert response.status_code == 404
    error_of(response)
    assert all(all(org["permissions"].values()) for org in orgs)


@pytest.mark.parametrize("scope", sorted(set(REQUIRED_SCOPES.values())))
def test_a_missing_scope_is_403_on_exactly_its_operations(
    demo: Dataset, http: requests.Session, scope: str
) -> None:
    with FakeGitBookAPI(
        dataset=demo,
        token=TOKEN,
        missing_scopes=frozenset({scope}),
        api_version=LEGACY_TRAFFIC_API,  # serves traffic too, which needs no scope
    ) as api:
        answers = {route: _call(api, http, route) for route in SERVED_ROUTES}

    refused = {route for route, response in answers.items() if response.status_code == 403}
    assert refused == {route for route, needs in REQUIRED_SCOPES.items() if needs == scope}
    assert refused  # every scope guards at least one served operation
    for route, response in answers.items():
        if route in refused:
            match = MISSING_SCOPE.match(error_of(response)["message"])
            assert match and match[1] == scope
            assert "X-RateLimit-Remaining" in response.headers
        else:
            assert response.status_code == 200, (route, response.text)


def test_a_bad_token_is_401_before_any_403(demo: Dataset) -> None:
    every_scope = frozenset(REQUIRED_SCOPES.values())
    with (
        FakeGitBookAPI(
            dataset=demo,
            token=TOKEN,
            missing_scopes=every_scope,
            reader_orgs=frozenset({"org-acme"}),
        ) as api,
        requests.Session() as wrong,
    ):
        wrong.headers["Authorization"] = "Bearer wrong-token"
        statuses = {route: _call(api, wrong, route).status_code for route in REQUIRED_SCOPES}
        anonymous = requests.get(url(api, ORG_MEMBERS, organizationId="org-acme"), timeout=10)
    assert set(statuses.values()) == {401} and anonymous.status_code == 401
    error_of(anonymous)


def test_a_missing_scope_counts_against_the_limit_and_faults_come_first(
    demo: Dataset, http: requests.Session
) -> None:
    with FakeGitBookAPI(
        dataset=demo,
        token=TOKEN,
        rate_limit=RateLimit(2, 60),
        missing_scopes=frozenset({"user:read"}),
    ) as api:
        api.add_fault(Fault(route=USER, status=503, times=1))
        injected = http.get(url(api, USER))
        refused = http.get(url(api, USER))
        http.get(url(api, ORGS))
        throttled = http.get(url(api, USER))
    assert [r.status_code for r in (injected, refused, throttled)] == [503, 403, 429]
    assert rate_headers(refused)[:2] == (2, 1)
    assert [r.status for r in api.requests] == [503, 403, 200, 429]


def test_limits_are_settable_while_serving(api: FakeGitBookAPI, http: requests.Session) -> None:
    members = url(api, ORG_MEMBERS, organizationId="org-acme")
    assert (api.reader_orgs, api.missing_scopes) == (frozenset(), frozenset())
    before = http.get(members).status_code
    api.reader_orgs = frozenset({"org-acme"})
    as_reader = http.get(members)
    listed = http.get(url(api, ORGS)).json()["items"][0]["permissions"]["listMembers"]
    api.reader_orgs = frozenset()
    api.missing_scopes = frozenset({"organization:members:read"})
    unscoped = http.get(members)
    user = http.get(url(api, USER)).status_code
    api.missing_scopes = frozenset()
    after = http.get(members).status_code

    assert (before, as_reader.status_code, listed) == (200, 403, False)
    assert "permission" in error_of(as_reader)["message"]
    assert (
        unscoped.status_code == 403 and "organization:members:read" in error_of(unscoped)["message"]
    )
    assert (user, after) == (200, 200)
    for bad in ("org-acme", b"org-acme", [1], [""]):
        with pytest.raises(TypeError):
            api.reader_orgs = bad  # type: ignore[assignment]
        with pytest.raises(TypeError):
            api.missing_scopes = bad  # type: ignore[assignment]
    api.missing_scopes = ["space:read"]  # type: ignore[assignment]  # any iterable is frozen
    assert api.missing_scopes == frozenset({"space:read"})


def test_the_command_line_limits_the_token(http: requests.Session) -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["--reader-org", "org-acme", "--reader-org", "org-globex", "--missing-scope", "site:read"]
    )
    assert (args.reader_org, args.missing_scope) == (["org-acme", "org-globex"], ["site:read"])
    assert (parser.parse_args([]).reader_org, parser.parse_args([]).missing_scope) == ([], [])
    with pytest.raises(SystemExit):
        parser.parse_args(["--missing-scope", "site:raed"])

    command = [sys.executable, "-m", "analytics_assets.devtools.fake_api", "--port", "0"]
    command += ["--token", TOKEN, "--reader-org", "org-globex", "--missing-scope", "site:read"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            base = process.stdout.readline().strip()
            process.stdout.readline()  # the banner
            limited = process.stdout.readline()
            globex = http.get(base + ORG_MEMBERS.replace("{organizationId}", "org-globex"))
            acme = http.get(base + ORG_MEMBERS.replace("{organizationId}", "org-acme"))
            sites = http.get(base + ORG_SITES.replace("{organizationId}", "org-acme"))
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=10)

    assert (globex.status_code, acme.status_code, sites.status_code) == (403, 200, 403)
    assert "org-globex" in limited and "site:read" in limited
