"""Check payloads against GitBook's own OpenAPI schemas (the trimmed subset in ``fixtures/``).

The fake API and the client are both written by us; validating against GitBook's published
description keeps them honest about the real shapes instead of agreeing on a shared mistake.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from referencing import Registry
from referencing.jsonschema import DRAFT202012

SUBSET_FILE = Path(__file__).parent / "fixtures" / "gitbook_openapi_subset.json"
SUBSET_URI = "urn:gitbook-openapi-subset"
API_PREFIX = "/v1"

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


class ContractError(AssertionError):
    """A payload does not match GitBook's published schema."""


@functools.cache
def load_subset() -> dict[str, Any]:
    """The trimmed OpenAPI document (parsed once per test session)."""
    return json.loads(SUBSET_FILE.read_text(encoding="utf-8"))


def _format_checker() -> jsonschema.FormatChecker:
    """Assert the formats our payloads rely on, without optional jsonschema extras."""
    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("date-time", raises=ValueError)
    def is_datetime(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not _RFC3339.match(value):
            return False
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True

    @checker.checks("uri")
    def is_uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parts = urlsplit(value)
        return bool(parts.scheme and parts.netloc) and not any(c.isspace() for c in value)

    return checker


def _template_key(path: str, method: str = "get") -> str:
    """Find the subset's path template for ``path`` (a template, or a concrete request path)."""
    paths = {t: ops for t, ops in load_subset()["paths"].items() if method in ops}
    if path.startswith(API_PREFIX + "/"):
        path = path[len(API_PREFIX) :]
    if path in paths:
        return path
    segments = path.split("/")
    for template in paths:
        parts = template.split("/")
        if len(parts) == len(segments) and all(
            p == s or (p.startswith("{") and p.endswith("}") and s)
            for p, s in zip(parts, segments, strict=True)
        ):
            return template
    raise KeyError(f"no {method.upper()} operation for {path!r} in {SUBSET_FILE.name}")


def _pointer_token(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _validator_at(*tokens: str) -> jsonschema.protocols.Validator:
    """A Draft 2020-12 validator for the schema at ``tokens`` inside the subset document."""
    pointer = "/".join(_pointer_token(t) for t in tokens)
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"{SUBSET_URI}#/{pointer}",
    }
    registry: Registry = Registry().with_resource(
        SUBSET_URI, DRAFT202012.create_resource(load_subset())
    )
    return jsonschema.Draft202012Validator(
        schema, registry=registry, format_checker=_format_checker()
    )


@functools.cache
def response_validator(path: str, method: str = "get") -> jsonschema.protocols.Validator:
    """A Draft 2020-12 validator for the 200 response of ``METHOD path``.

    ``path`` may be the OpenAPI template (``/orgs/{organizationId}/spaces``), the same with the
    ``/v1`` server prefix, or a concrete request path. Refs such as ``#/components/schemas/User``
    resolve against the subset document, so the List ``allOf`` wrapper and nested refs work as-is.
    """
    template = _template_key(path, method)
    return _validator_at(
        "paths", template, method, "responses", "200", "content", "application/json", "schema"
    )


@functools.cache
def request_validator(path: str, method: str = "post") -> jsonschema.protocols.Validator:
    """A Draft 2020-12 validator for the JSON request body of ``METHOD path``."""
    template = _template_key(path, method)
    return _validator_at(
        "paths", template, method, "requestBody", "content", "application/json", "schema"
    )


ERROR_RESPONSES = {404: "NotFoundError"}
"""Statuses with their own error response in the subset; others use GitBook's ``Error`` schema."""
GENERIC_ERROR_SCHEMA = "v0_91_0_Error"
"""GitBook's ``Error`` (``{"error": {"code", "message"}}``, identical in 0.202.0), the schema of its
``UnexpectedError`` response; the subset keeps it under its 0.91.0 name."""


@functools.cache
def error_validator(status: int) -> jsonschema.protocols.Validator:
    """A validator for GitBook's error body of ``status`` (404's own, else the generic Error)."""
    name = ERROR_RESPONSES.get(status)
    if name is not None:
        return _validator_at(
            "components", "responses", name, "content", "application/json", "schema"
        )
    return _validator_at("components", "schemas", GENERIC_ERROR_SCHEMA)


def list_limit_bounds() -> tuple[int, int]:
    """``(minimum, maximum)`` of ``limit`` on list endpoints (the ``listLimit`` parameter)."""
    schema = load_subset()["components"]["parameters"]["listLimit"]["schema"]
    return int(schema["minimum"]), int(schema["maximum"])


def _describe(error: jsonschema.ValidationError) -> str:
    where = error.json_path
    detail = error.message if len(error.message) < 300 else error.message[:300] + "..."
    if error.context:
        best = jsonschema.exceptions.best_match(error.context)
        detail += f" (closest branch: {best.json_path}: {best.message[:200]})"
    return f"  at {where}: {detail}"


def _check(
    validator: jsonschema.protocols.Validator, payload: Any, what: str, max_errors: int
) -> None:
    errors = sorted(validator.iter_errors(payload), key=lambda e: e.json_path)
    if errors:
        lines = [_describe(e) for e in errors[:max_errors]]
        more = f"\n  ... and {len(errors) - max_errors} more" if len(errors) > max_errors else ""
        raise ContractError(
            f"{what} does not match the GitBook schema:\n" + "\n".join(lines) + more
        )


def validate_response(path: str, payload: Any, *, method: str = "get", max_errors: int = 5) -> None:
    """Raise :class:`ContractError` listing where ``payload`` breaks the schema for ``path``."""
    validator = response_validator(path, method)
    _check(validator, payload, f"{method.upper()} {path} response", max_errors)


def validate_error(status: int, payload: Any, *, max_errors: int = 5) -> None:
    """Raise :class:`ContractError` unless ``payload`` is GitBook's error body for ``status``.

    GitBook's description has no 429 response; its body is documented with the same shape.
    """
    _check(error_validator(status), payload, f"HTTP {status} error body", max_errors)
    code = payload["error"]["code"]
    if code != status:
        raise ContractError(f"HTTP {status} error body has code {code!r}")


def validate_request(path: str, body: Any, *, method: str = "post", max_errors: int = 5) -> None:
    """Raise :class:`ContractError` unless ``body`` is a valid request body for ``path``."""
    validator = request_validator(path, method)
    _check(validator, body, f"{method.upper()} {path} request body", max_errors)
