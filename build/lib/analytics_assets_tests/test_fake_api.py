"""The bundled GitBook-compatible API: shapes, pagination, auth, faults and the demo data.

Every other test trusts this server to behave like GitBook, so it is checked against GitBook's own
OpenAPI schemas and over real HTTP (``requests``), the way the client will talk to it.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import quote

import pytest
import requests

from analytics_assets.devtools.fake_api import Dataset, FakeGitBookAPI, Fault
from analytics_assets.devtools.fake_api.dataset import flatten_pages
from analytics_assets_tests.openapi_contract import (
    ContractError,
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


@pytest.fixture
def demo() -> Dataset:
    return Dataset.demo()


@pytest.fixture
def api(demo: Dataset) -> Iterator[FakeGitBookAPI]:
    with FakeGitBookAPI(dataset=demo, token=TOKEN, max_page_size=5) as server:
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
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == response.status_code
    assert isinstance(error["message"], str) and error["message"]
    return error


# --- shapes --------------------------------------------------------------------------------------


def test_every_response_validates_against_gitbooks_openapi(
    api: FakeGitBookAPI, http: requests.Session
) -> None:
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
            check(TRAFFIC, url(api, TRAFFIC, spaceId=space["id"]))
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
    assert checked[TRAFFIC] >= len(api.dataset.spaces)
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
    api: FakeGitBookAPI, http: requests.Session, demo: Dataset
) -> None:
    target = url(api, TRAFFIC, spaceId="acme-handbook")
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


def test_limit_sets_the_page_size_up_to_max_page_size(
    api: FakeGitBookAPI, http: requests.Session
) -> None:
    target = url(api, ORG_SPACES, organizationId="org-acme")
    assert len(http.get(target, params={"limit": 2}).json()["items"]) == 2
    assert len(http.get(target, params={"limit": 500}).json()["items"]) == 5
    assert [len(b["items"]) for b in walk(http, target, limit=4)] == [4, 2]


def test_content_paginates_top_level_pages_and_traffic_paginates_views(
    api: FakeGitBookAPI, http: requests.Session, demo: Dataset
) -> None:
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
    api: FakeGitBookAPI, http: requests.Session, demo: Dataset
) -> None:
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


def test_unknown_ids_routes_and_methods_are_errors(
    api: FakeGitBookAPI, http: requests.Session
) -> None:
    assert http.get(url(api, ORG_SPACES, organizationId="org-nope")).status_code == 404
    assert http.get(url(api, ORG_MEMBERS, organizationId="org-nope")).status_code == 404
    assert http.get(url(api, CONTENT, spaceId="nope")).status_code == 404
    assert http.get(url(api, TRAFFIC, spaceId="nope")).status_code == 404
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
        "sites": 3,
    }


@pytest.mark.parametrize(
    "dataset",
    [
        Dataset.demo(),
        Dataset.generate(
            orgs=3,
            spaces_per_org=3,
            members_per_org=7,
            pages_per_space=9,
            traffic_points_per_space=6,
            empty_spaces=1,
        ),
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
    ],
    ids=["demo", "generated", "generated-plain"],
)
def test_expected_row_counts_match_a_full_walk_of_the_api(
    dataset: Dataset, http: requests.Session
) -> None:
    with FakeGitBookAPI(dataset=dataset, token=TOKEN, max_page_size=4) as api:
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
        views = [
            v for s in spaces for v in walk_rows(http, TRAFFIC, url(api, TRAFFIC, spaceId=s["id"]))
        ]
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
    assert walked == dataset.expected_row_counts()
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

    with FakeGitBookAPI(dataset=dataset, token=TOKEN, max_page_size=1_000) as api:
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
