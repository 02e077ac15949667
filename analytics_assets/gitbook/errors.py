"""Errors that say what failed (resource, path, status) and what to do next.

They subclass `requests.HTTPError` where they describe a response, so dlt's retry policy still
sees the response and its status code.
"""

from __future__ import annotations

from requests import HTTPError, Response


class GitBookError(Exception):
    """Base class for failures the user can act on."""


class GitBookConfigError(GitBookError):
    """Configuration is missing or unsafe; raised before any request is sent."""


class GitBookAPIError(GitBookError, HTTPError):
    """GitBook answered with an error status."""

    def __init__(self, message: str, *, resource: str, path: str, status: int, response: Response):
        super().__init__(message, response=response)
        self.resource = resource
        self.path = path
        self.status = status


class GitBookAuthError(GitBookAPIError):
    """401/403: the token is missing, wrong, expired or lacks access."""


class PaginationError(GitBookError):
    """The API's cursors would make the sync loop forever."""

    def __init__(self, message: str, *, resource: str, path: str):
        super().__init__(message)
        self.resource = resource
        self.path = path


class GitBookRateLimitError(GitBookError):
    """GitBook's rate limit would keep the sync waiting longer than it may wait in all."""

    def __init__(self, message: str, *, resource: str | None, path: str):
        super().__init__(message)
        self.resource = resource
        self.path = path


class GitBookAccessError(GitBookError):
    """The token was refused something and the sync must not be partial."""

    def __init__(self, message: str, *, resource: str, parent_id: str):
        super().__init__(message)
        self.resource = resource
        self.parent_id = parent_id
