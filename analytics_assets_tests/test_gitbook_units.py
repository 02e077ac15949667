"""Small pure parts of the dlt layer, without a server."""

import pytest
import requests
from dlt.sources.rest_api import rest_api_source

from analytics_assets.gitbook.errors import PaginationError
from analytics_assets.gitbook.paginator import GitBookCursorPaginator
from analytics_assets.gitbook.path_segment import PathSegment
from analytics_assets.gitbook.rows import flatten_page_tree, unwrap_data_envelope
from analytics_assets.gitbook.source import build_rest_api_config


def json_response(body: str, url: str = "https://api.gitbook.com/v1/orgs") -> requests.Response:
    response = requests.Response()
    response._content = body.encode()
    response.status_code = 200
    response.url = url
    return response


def test_config_has_no_stop_condition_and_passes_dlt_validation() -> None:
    config = build_rest_api_config(access_token="x")

    assert "stop_condition" not in repr(config)
    source = rest_api_source(config)  # validates the configuration
    assert set(source.resources) == {
        "users",
        "organizations",
        "spaces",
        "org_members",
        "sites",
        "insights_traffic",
    }  # content is fetched by revision outside the rest_api configuration (content.py)


def test_the_design_documents_stop_condition_is_rejected_by_dlt() -> None:
    config = build_rest_api_config(access_token="x")
    config["resources"][1]["endpoint"]["paginator"] = {  # type: ignore[index]
        "type": "cursor",
        "cursor_param": "page",
        "cursor_path": "next.page",
        "stop_condition": "response.get('next') is None",
    }
    with pytest.raises(Exception, match="stop_condition"):
        rest_api_source(config)


def test_paginator_follows_next_page_and_stops_without_next() -> None:
    paginator = GitBookCursorPaginator("organizations")
    request = requests.Request("GET", "https://api.gitbook.com/v1/orgs")
    paginator.init_request(request)

    paginator.update_state(json_response('{"items": [], "next": {"page": "c1"}}'))
    paginator.update_request(request)
    assert paginator.has_next_page and request.params["page"] == "c1"

    paginator.update_state(json_response('{"items": []}'))
    assert not paginator.has_next_page


def test_paginator_rejects_a_repeated_cursor() -> None:
    paginator = GitBookCursorPaginator("org_members")
    paginator.init_request(requests.Request("GET", "https://x/v1/orgs/o/members"))
    url = "https://x/v1/orgs/o/members"
    paginator.update_state(json_response('{"next": {"page": "same"}}', url))

    with pytest.raises(PaginationError, match=r"'org_members' at GET /v1/orgs/o/members"):
        paginator.update_state(json_response('{"next": {"page": "same"}}', url))


def test_paginator_enforces_its_page_cap() -> None:
    paginator = GitBookCursorPaginator("content", max_pages=3)
    paginator.init_request(requests.Request("GET", "https://x/v1/spaces/s/content"))
    for cursor in ("a", "b"):
        paginator.update_state(json_response(f'{{"next": {{"page": "{cursor}"}}}}'))

    with pytest.raises(PaginationError, match="cap is 3"):
        paginator.update_state(json_response('{"next": {"page": "c"}}'))


def test_a_new_request_chain_forgets_earlier_cursors() -> None:
    paginator = GitBookCursorPaginator("organizations")
    for _ in range(2):
        paginator.init_request(requests.Request("GET", "https://x/v1/orgs"))
        paginator.update_state(json_response('{"next": {"page": "first"}}'))


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("plain", "plain"),
        ("a/b", "a%2Fb"),
        ("a+b c", "a%2Bb%20c"),
        ("x?y#z%", "x%3Fy%23z%25"),
        (".", "%2E"),
        ("..", "%2E%2E"),
        ("v1.2", "v1.2"),
    ],
)
def test_path_segment_encodes_when_formatted_and_stays_the_id_otherwise(
    raw: str, encoded: str
) -> None:
    segment = PathSegment(raw)

    assert f"/v1/spaces/{segment}/content" == (f"/v1/spaces/{encoded}/content")
    assert segment == raw and str(segment) == raw


def test_user_loads_from_bare_and_enveloped_shapes() -> None:
    user = {"object": "user", "id": "u1", "displayName": "Ada"}

    assert unwrap_data_envelope(user) == user
    assert unwrap_data_envelope({"data": user}) == user


def test_page_tree_flattens_with_parent_ids_and_child_id_lists() -> None:
    tree = {
        "id": "guide",
        "space_id": "s1",
        "pages": [
            {"id": "setup", "pages": [{"id": "advanced", "pages": []}]},
            {"id": "link", "type": "link"},
        ],
    }

    rows = {row["id"]: row for row in flatten_page_tree(tree)}

    assert set(rows) == {"guide", "setup", "advanced", "link"}
    assert rows["guide"]["parent_page_id"] is None and rows["guide"]["pages"] == ["setup", "link"]
    assert rows["advanced"]["parent_page_id"] == "setup"
    assert rows["link"]["pages"] == []
    assert {row["space_id"] for row in rows.values()} == {"s1"}
