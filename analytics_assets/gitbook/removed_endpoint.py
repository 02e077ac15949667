"""An endpoint GitBook removed, asked once per run instead of once per parent.

`/v1/spaces/{spaceId}/insights/traffic` left GitBook's API after 0.91.0: today every space
answers it with 404. A 404 alone cannot tell "removed" from "this space was deleted after it was
listed", so the first request to the endpoint is sent alone, and a 404 or 410 is confirmed by
asking for the space itself. If the space exists, the endpoint is gone for this account, and the
run's other requests to it are answered here with 410 without being sent: 2 requests instead of
one per space. If it answers, or its space is really gone, the requests go on as usual, so a
0.91 account still gets every space's traffic (after one request's wait).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from requests import PreparedRequest, RequestException, Response

from analytics_assets.gitbook.path_segment import PathSegment
from analytics_assets.gitbook.settings import ResourceSpec

SKIPPED_BODY = (
    b'{"error": {"code": 410, "message": "not sent: this endpoint was removed from the API '
    b'(answered locally by analytics_assets)"}}'
)
Send = Callable[[PreparedRequest], Response]


class RemovedEndpoint:
    """Thread-safe: dlt's extract workers share it through the session's adapter."""

    def __init__(self, spec: ResourceSpec, parent_path: str) -> None:
        self.spec = spec
        self.parent_path = parent_path
        self._decided = threading.Condition()
        self._state: str | None = None  # None: unknown; "open" or "gone" once decided
        self._probing = False

    @property
    def gone(self) -> bool:
        return self._state == "gone"

    def send(self, request: PreparedRequest, send: Send) -> Response | None:
        """Send `request` with `send` if it is for this endpoint (None: it is not). Until the
        endpoint is known to serve or to be gone, one request at a time goes out; the others
        wait for its verdict."""
        if request.url is None or self.spec.parent_id_in(urlsplit(request.url).path) is None:
            return None
        with self._decided:
            while self._state is None and self._probing:
                self._decided.wait()
            if self._state == "gone":
                return _gone(request)
            first = self._state is None
            self._probing = first
        if not first:
            return send(request)
        verdict: str | None = None
        try:
            response = send(request)
            if response.ok:
                verdict = "open"
            elif response.status_code in (404, 410) and self._parent_exists(response, send):
                verdict = "gone"
            return response  # anything else (a 5xx, a deleted space): the next one asks again
        finally:
            with self._decided:
                self._state, self._probing = verdict, False
                self._decided.notify_all()

    def _parent_exists(self, response: Response, send: Send) -> bool:
        """Ask for the parent once, with the same credentials, through the same transport."""
        request = response.request
        parent_id = self.spec.parent_id_in(urlsplit(response.url).path)
        if request is None or parent_id is None:
            return False
        probe = request.copy()
        parts = urlsplit(response.url)
        path = self.parent_path.format(**{self.spec.parent_key or "": PathSegment(parent_id)})
        probe.prepare_url(urlunsplit((parts.scheme, parts.netloc, path, "", "")), None)
        probe.method = "GET"
        probe.prepare_body(None, None)
        try:
            answer = send(probe)
        except RequestException:  # unknown: keep asking the endpoint, as without this
            return False
        answer.close()
        return answer.status_code == 200


def _gone(request: PreparedRequest) -> Response:
    response = Response()
    response.status_code = 410
    response.url = request.url or ""
    response.request = request
    response.headers["Content-Type"] = "application/json"
    response._content = SKIPPED_BODY
    return response
