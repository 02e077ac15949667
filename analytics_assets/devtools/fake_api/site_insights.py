"""Site insights queries (``POST .../sites/{siteId}/insights/events/aggregate``) over a Dataset.

GitBook validates the body against ``SiteInsightsQueryEventsAggregation``; so does the fake, with
the schema from the 0.202.0 description shipped next to this module (``SCHEMA_FILE``, generated
by ``analytics_assets_tests/fixtures/trim_openapi.py``). A client that passes here sends bodies
GitBook accepts. Then the query runs over the dataset's atoms (see
:class:`~analytics_assets.devtools.fake_api.dataset.SiteEventAtom`), each at one moment ``t``
(its day's midnight + hour + second):

- ``range``: an atom counts when ``from <= t <= to`` (both inclusive, to the microsecond, so
  disjoint millisecond windows split a day exactly); presets are relative to ``now``
  (``last24Hours`` = the 24 hours before now, ``last3Months`` = 90 days).
- ``groupBy``: datetime (interval hour or day, default day: ``t``'s hour or day), hourOfDay,
  dayOfWeek, eventType, page, urlPath, eventPageNotFoundType, visitorBot (null for a person),
  displayContext; what the events say: eventSearchQuery (a search's query or an AI question),
  eventPageFeedbackRating, eventPageFeedbackComment, eventAskResponseRating; who sent them:
  referrerDomain, visitorGeoCountry, visitorDevice. An event with no such value groups as null
  (a page_view's eventSearchQuery, a direct visit's referrerDomain), although 0.202.0's
  response schema allows null only in visitorGeoCountry of these (a client should accept it).
  Anything else is a 400 that says the fake does not support it.
- ``select``: eventsCount, sessionsCount, visitorsCount, summed (sessions and visitors too);
  without ``select`` the fake answers eventsCount.
- ``where``: datetime and the other ``groupBy`` columns above
  with ``in`` (the default) or ``notIn``; hourOfDay, dayOfWeek and datetime also with the
  comparison operators, datetime compared with ``t`` itself. ``page``: ``null`` matches events
  with no page at all (for page_view, 404s, ``conditional`` ones included); ``{"page": null,
  "space": id}`` matches events in that space that resolved to no particular page.
- groups ordered by eventsCount descending (``order`` overrides), ties by the group values
  ascending, then cut to ``limit`` (default 1000) without saying so, as GitBook does.
"""

from __future__ import annotations

import functools
import json
import operator
import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema

    from analytics_assets.devtools.fake_api.dataset import Dataset, Row, SiteEventAtom

SCHEMA_FILE = Path(__file__).with_name("site_insights_query.schema.json")
DEFAULT_LIMIT = 1000
MAX_RANGE_DAYS = 400
"""Longest range the fake answers (lastYear is 365 days); longer ones are a 400."""
PRESETS = {
    "last24Hours": timedelta(hours=24),
    "last7Days": timedelta(days=7),
    "last30Days": timedelta(days=30),
    "last3Months": timedelta(days=90),
    "lastYear": timedelta(days=365),
}
COUNT_COLUMNS = {"eventsCount": 0, "sessionsCount": 1, "visitorsCount": 2}
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$"
)


class QueryError(ValueError):
    """The body is invalid (or asks for something the fake does not do): answer 400."""


# --- validation --------------------------------------------------------------------------------


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 date-time (any offset, 0-9 fractional digits) as an aware UTC datetime."""
    match = _RFC3339.match(text)
    if not match:
        raise ValueError(f"{text!r} is not an RFC 3339 date-time")
    day, hour, minute, second, fraction, offset = match.groups()
    micros = (fraction or "")[:6].ljust(6, "0")
    stamp = f"{day}T{hour}:{minute}:{second}.{micros}"
    zone = "+00:00" if offset in ("Z", "z") else offset
    return datetime.fromisoformat(stamp + zone).astimezone(timezone.utc)


@functools.cache
def query_schema() -> dict[str, Any]:
    """The shipped JSON Schema of the request body (0.202.0 SiteInsightsQueryEventsAggregation)."""
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    # Imported here: only this route needs jsonschema, the rest of the fake runs without it.
    import jsonschema

    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("date-time", raises=ValueError)
    def is_datetime(value: object) -> bool:
        if isinstance(value, str):
            parse_timestamp(value)
        return True

    schema = query_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=checker)


def validate_query(body: Any) -> None:
    """Raise :class:`QueryError` with the validator's best message unless ``body`` is valid."""
    message = _problem(json.dumps(body, sort_keys=True))
    if message is not None:
        raise QueryError(message)


@functools.lru_cache(maxsize=4096)
def _problem(text: str) -> str | None:
    """The validator's best message for a body (as canonical JSON), or None when it is valid.

    Cached: a client asks every site the same bodies (only the range changes, per day), and
    validating one against GitBook's schema costs about 8 ms of CPU.
    """
    from jsonschema.exceptions import best_match

    error = best_match(_validator().iter_errors(json.loads(text)))
    return None if error is None else f"Invalid request body at {error.json_path}: {error.message}"


# --- columns -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Atom:
    """An atom with its exact moment (the atom knows its time of day, not its day)."""

    atom: SiteEventAtom
    moment: datetime


Getter = Callable[[_Atom], Hashable]


def _datetime_of(interval: str) -> Getter:
    """The start of the hour or day the atom's moment falls in (a datetime group's value)."""
    if interval == "hour":
        return lambda a: a.moment.replace(minute=0, second=0, microsecond=0)
    return lambda a: a.moment.replace(hour=0, minute=0, second=0, microsecond=0)


ATOM_FIELDS = {
    "urlPath": "url_path",
    "eventPageNotFoundType": "page_not_found_type",
    "visitorBot": "visitor_bot",
    "displayContext": "display_context",
    "eventSearchQuery": "search_query",
    "eventPageFeedbackRating": "feedback_rating",
    "eventPageFeedbackComment": "feedback_comment",
    "eventAskResponseRating": "ask_rating",
    "referrerDomain": "referrer_domain",
    "visitorGeoCountry": "country",
    "visitorDevice": "device",
}
"""GitBook's columns that are one :class:`SiteEventAtom` field each, and that field."""
_GETTERS: dict[str, Getter] = {
    "hourOfDay": lambda a: a.atom.hour,
    "dayOfWeek": lambda a: a.moment.isoweekday(),
    "eventType": lambda a: a.atom.event_type,
    "page": lambda a: a.atom.page,
    **{column: operator.attrgetter(f"atom.{field}") for column, field in ATOM_FIELDS.items()},
}
"""Each column's value for an atom: what ``groupBy`` and ``where`` (but datetime) read."""


def _render(name: str, value: Any) -> Any:
    """A group value as the response's column carries it."""
    if name == "datetime":
        return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if name == "page":
        return None if value is None else {"page": value[0], "space": value[1]}
    return value


def _sort_key(value: Any) -> tuple[int, Any]:
    """Orders values of one column, ``None`` (a 404's page) first."""
    if value is None:
        return (0, ())
    if isinstance(value, tuple):
        return (1, tuple("" if v is None else v for v in value))
    return (1, value)


@dataclass(frozen=True)
class _GroupColumn:
    name: str
    get: Getter


def _group_column(spec: dict[str, Any]) -> _GroupColumn:
    name = spec["column"]
    if name == "datetime":
        interval = spec.get("interval", "day")
        if interval not in ("hour", "day"):
            raise QueryError(f"datetime interval {interval!r} is unsupported by the fake")
        return _GroupColumn(name, _datetime_of(interval))
    if name in _GETTERS:
        return _GroupColumn(name, _GETTERS[name])
    if name in COUNT_COLUMNS:
        raise QueryError(f"groupBy {name!r} is unsupported by the fake (select counts instead)")
    raise QueryError(f"groupBy column {name!r} is unsupported by the fake")


def _select_column(spec: dict[str, Any]) -> str:
    name = spec["column"]
    if name not in COUNT_COLUMNS:
        supported = ", ".join(COUNT_COLUMNS)
        raise QueryError(f"select column {name!r} is unsupported by the fake ({supported})")
    return str(name)


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "greaterThan": lambda v, x: v > x,
    "greaterThanOrEqual": lambda v, x: v >= x,
    "lessThan": lambda v, x: v < x,
    "lessThanOrEqual": lambda v, x: v <= x,
}
_ORDERED = ("hourOfDay", "dayOfWeek", "datetime")


def _moment(item: _Atom) -> Hashable:
    """The atom's exact moment: what datetime filters compare."""
    return item.moment


def _filter(spec: dict[str, Any]) -> Callable[[_Atom], bool]:
    name = spec["column"]
    operator = spec.get("operator", "in")
    values: list[Any] = spec["values"]
    get: Getter
    if name == "datetime":
        get = _moment
        values = [parse_timestamp(v) for v in values]
    elif name == "page":
        # null: no page at all; {"page": null, "space": x}: in space x, no particular page.
        get = _GETTERS["page"]
        values = [None if v is None else (v["page"], v["space"]) for v in values]
    elif name in _GETTERS:
        get = _GETTERS[name]
    else:
        raise QueryError(f"where column {name!r} is unsupported by the fake")
    if operator in ("in", "notIn"):
        allowed = frozenset(values)
        keep = operator == "in"
        return lambda a: (get(a) in allowed) is keep
    if name not in _ORDERED:
        raise QueryError(f"where operator {operator!r} on {name!r} is unsupported by the fake")
    if len(values) != 1:
        raise QueryError(f"where operator {operator!r} takes exactly one value")
    compare, bound = _COMPARISONS[operator], values[0]
    return lambda a: compare(get(a), bound)


# --- the query -----------------------------------------------------------------------------------


def _range(spec: Any, now: datetime) -> tuple[datetime, datetime]:
    if isinstance(spec, str):
        return now - PRESETS[spec], now
    start, end = parse_timestamp(spec["from"]), parse_timestamp(spec["to"])
    if end - start > timedelta(days=MAX_RANGE_DAYS):
        raise QueryError(f"range longer than {MAX_RANGE_DAYS} days is unsupported by the fake")
    return start, end


def _days(start: datetime, end: datetime) -> list[date]:
    first, last = start.date(), end.date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def aggregate(dataset: Dataset, site_id: str, body: Any, now: datetime) -> Row:
    """The ``SiteInsightsQueryEventsAggregationResult`` for ``body`` (validated first)."""
    validate_query(body)
    start, end = _range(body["range"], now.astimezone(timezone.utc))
    group_by = [_group_column(spec) for spec in body.get("groupBy", [])]
    select = [_select_column(spec) for spec in body.get("select", [{"column": "eventsCount"}])]
    filters = [_filter(spec) for spec in body.get("where", [])]
    limit: int = body.get("limit", DEFAULT_LIMIT)

    sums: dict[tuple[Hashable, ...], list[int]] = {}
    for day in _days(start, end):
        midnight = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        for atom in dataset.site_events(site_id, day):
            moment = midnight + atom.offset
            if not start <= moment <= end:
                continue
            item = _Atom(atom, moment)
            if not all(keep(item) for keep in filters):
                continue
            key = tuple(column.get(item) for column in group_by)
            total = sums.setdefault(key, [0, 0, 0])
            total[0] += atom.events
            total[1] += atom.sessions
            total[2] += atom.visitors
    if not group_by and not sums:
        sums[()] = [0, 0, 0]  # no groups: one row of zero totals

    rows = sorted(sums.items(), key=lambda row: [_sort_key(v) for v in row[0]])
    rows.sort(key=_order_key(body.get("order"), group_by), reverse=_descending(body))
    rows = rows[:limit]

    columns: list[Row] = [
        {"column": column.name, "values": [_render(column.name, key[i]) for key, _ in rows]}
        for i, column in enumerate(group_by)
    ]
    columns += [
        {"column": name, "values": [totals[COUNT_COLUMNS[name]] for _, totals in rows]}
        for name in select
    ]
    return {"columns": columns}


Group = tuple[tuple[Hashable, ...], list[int]]


def _descending(body: dict[str, Any]) -> bool:
    order = body.get("order")
    return order is None or order["direction"] == "desc"


def _order_key(
    order: dict[str, Any] | None, group_by: list[_GroupColumn]
) -> Callable[[Group], Any]:
    name = "eventsCount" if order is None else order["by"]["column"]
    if name in COUNT_COLUMNS:
        index = COUNT_COLUMNS[name]
        return lambda row: row[1][index]
    positions = [i for i, column in enumerate(group_by) if column.name == name]
    if not positions:
        raise QueryError(f"order by {name!r}: the fake orders only by a groupBy column or a count")
    position = positions[0]
    return lambda row: _sort_key(row[0][position])
