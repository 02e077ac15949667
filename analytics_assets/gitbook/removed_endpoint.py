"""An endpoint GitBook removed, asked once per run instead of once per parent.

`/v1/spaces/{spaceId}/insights/traffic` left GitBook's API after 0.91.0: today every space
answers it with 404. A 404 alone cannot tell "removed" from "this space was deleted after it was
listed", so the first one is confirmed by asking for the space itself. If the space exists, the
endpoint is gone for this account, and the run's remaining requests to it are answered here with
410 without being sent: 2 requests instead of one per space. A space that is really gone leaves
the endpoint open, so a 0.91 account still gets every other space's traffic.
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit, urlunsplit

from requests import PreparedRequest, RequestException, Response
from requests.adapters import BaseAdapter

from analytics_assets.gitbook.path_segment import PathSegment
from analytics_assets.gitbook.settings import ResourceSpec

SKIPPED_BODY = (
    b'{"error": {"code": 410, "message": "not sent: this endpoint was removed from the API '
    b'(answered locally by analytics_assets)"}}'
)


class RemovedEndpoint:
    """Thread-safe: dlt's extract workers share it through the session's adapter."""

    def __init__(self, spec: ResourceSpec, parent_path: str) -> None:
        self.spec = spec
        self.parent_path = parent_path
        self._gone = threading.Event()
        self._confirming = threading.Lock()
        self.skipped = 0

    @property
    def gone(self) -> bool:
        return self._gone.is_set()

    def answer_locally(self, request: PreparedRequest) -> Response | None:
        """A 410 for a request to the endpoint once it is known to be gone; None: send it."""
        if not self.gone or request.url is None:
            return None
        if self.spec.parent_id_in(urlsplit(request.url).path) is None:
            return None
        response = Response()
        response.status_code = 410
        response.url = request.url
        response.request = request
        response.headers["Content-Type"] = "application/json"
        response._content = SKIPPED_BODY
        self.skipped += 1
        return response

    def confirm(self, response: Response) -> bool:
        """Whether `response` (a 404 or 410 of the endpoint) means the endpoint is gone: its
        parent exists. Asks for the parent once, with the same credentials, over the same
        adapter (so GitBook's rate limiter paces it); later calls return what was found."""
        if self.gone:
            return True
        request, adapter = response.request, response.connection
        parent_id = self.spec.parent_id_in(urlsplit(response.url).path)
        if request is None or parent_id is None or not isinstance(adapter, BaseAdapter):
            return False
        with self._confirming:
            if self.gone:
                return True
            probe = request.copy()
            parts = urlsplit(response.url)
            path = self.parent_path.format(**{self.spec.parent_key or "": PathSegment(parent_id)})
            probe.prepare_url(urlunsplit((parts.scheme, parts.netloc, path, "", "")), None)
            probe.method = "GET"
            probe.prepare_body(None, None)
            try:
                answer = adapter.send(probe, timeout=60)
            except RequestException:  # unknown: keep asking the endpoint, as without this
                return False
            if answer.status_code == 200:
                self._gone.set()
            answer.close()
        return self.gone
