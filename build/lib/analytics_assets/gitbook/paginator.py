"""GitBook's cursor pagination, with a guard against servers that repeat a cursor."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator
from requests import Request, Response

from analytics_assets.gitbook.errors import PaginationError
from analytics_assets.gitbook.settings import MAX_PAGES_PER_REQUEST_CHAIN


class GitBookCursorPaginator(JSONResponseCursorPaginator):
    """Sends `page` from the response's `next.page`; stops when `next` is absent.

    Fails instead of looping when the API hands back a cursor it already gave for this request
    chain, or when a chain runs past `max_pages`.
    """

    def __init__(self, resource: str, max_pages: int = MAX_PAGES_PER_REQUEST_CHAIN) -> None:
        super().__init__(cursor_path="next.page", cursor_param="page")
        self.resource = resource
        self.max_pages = max_pages
        self._seen: set[str] = set()
        self._pages = 0

    def init_request(self, request: Request) -> None:
        # dlt reuses one paginator instance for top-level resources: start each chain afresh.
        self._seen = set()
        self._pages = 0
        super().init_request(request)

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        super().update_state(response, data)
        self._pages += 1
        cursor = self._next_reference
        if cursor is None:
            return
        path = urlsplit(response.url).path
        if cursor in self._seen:
            raise PaginationError(
                f"GitBook repeated pagination cursor {cursor!r} for resource '{self.resource}' "
                f"at GET {path} after {self._pages} pages; stopping instead of looping forever. "
                "This is an API fault: re-run later, and report it to GitBook if it persists.",
                resource=self.resource,
                path=path,
            )
        if self._pages >= self.max_pages:
            raise PaginationError(
                f"Resource '{self.resource}' at GET {path} is still paginating after "
                f"{self._pages} pages (the cap is {self.max_pages}); stopping. Raise the cap if "
                "the account really is this large.",
                resource=self.resource,
                path=path,
            )
        self._seen.add(cursor)

    def __str__(self) -> str:
        return f"GitBookCursorPaginator(resource={self.resource!r})"
