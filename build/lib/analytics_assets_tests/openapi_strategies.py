"""Hypothesis strategies for the GitBook objects the sync reads, generated from GitBook's schemas.

The schemas come from the trimmed OpenAPI document in ``fixtures/`` (the one
``openapi_contract`` validates against). ``hypothesis_jsonschema`` cannot take them as they are
(recursive ``$ref``s, ``allOf`` wrapping ``oneOf``, custom formats), so :func:`generation_schema`
first rewrites a component into an equivalent-or-narrower schema. Every rewrite is listed in
:data:`SIMPLIFICATIONS` and only ever narrows what is generated: the test validates each
generated payload against the *real* schema, so a rewrite that widened it would fail there.

What the strategies add on top of the schemas is what the schemas cannot say but the real API
guarantees: organization and space ids are unique, member ids are unique within an org, page ids
within a space, traffic timestamps within a space. Ids deliberately reuse small pools so the same
page id, member id or traffic timestamp shows up in several spaces or orgs, and they contain
``/``, ``+``, spaces, ``%``, ``?``, ``#`` and non-ASCII characters the client must URL-encode.
"""

from __future__ import annotations

import copy
import functools
import string
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.errors import HypothesisWarning

from analytics_assets_tests.openapi_contract import load_subset

# Tests use `database=None`, so no examples are saved; this also keeps the caches Hypothesis
# writes anyway (its Unicode table, constants mined from our source) out of the repo (the
# current directory). Set before anything reads the Unicode table.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "analytics_assets_hypothesis")

Row = dict[str, Any]
Schema = dict[str, Any] | bool

REF_PREFIX = "#/components/schemas/"
# Keywords that do not constrain values; dropped so the rewriting below sees only constraints.
ANNOTATIONS = frozenset(
    {
        "description",
        "example",
        "deprecated",
        "title",
        "discriminator",
        "default",
        "readOnly",
        "x-internal",
        "x-typescript",
    }
)
# Keywords whose values are schemas keyed by name, or plain data (not schemas).
SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "dependentSchemas"})
DATA_KEYWORDS = frozenset({"enum", "const", "required", "type", "pattern", "format"})

SIMPLIFICATIONS = """
1. Recursive $refs are cut: the recursive branch becomes `false` (never generated). And
   PlainObject (integration `props`) is generated as `{}`: it has no `type`, so every string,
   number, boolean or array also matches its own recursive branch and its `oneOf` rejects it;
   only objects of (nested) empty objects validate.
2. `Document` (mixed into RevisionPageDocument) is narrowed to its MarkdownDocument branch: the
   JSON-document branch is GitBook's ~100-schema recursive block tree, and the "Empty" branch
   (`additionalProperties: false`) can never hold for a page, which always has `id` and `title`.
3. RevisionPageDocument's last `oneOf` is narrowed to its `documentId` branch: the `computed`
   branch can never validate, because any such object also matches the open `documentId`
   branch, and `oneOf` then rejects it.
4. `pages` is removed from the document and group schemas; page trees are assembled by
   `page_forests()` from generated pages instead (documents nest documents, links and computed
   pages, here up to 3 levels deep; groups only at the top level, as the schema allows).
5. `allOf` of objects is merged by hand into one object (properties and required unioned); an
   `allOf` containing a `oneOf` is distributed into a `oneOf` of merged objects.
6. Objects are closed (`additionalProperties: false` unless the schema says otherwise), and a
   schema with `properties` but no `type` is typed `object`: GitBook sends only documented
   fields, in objects. Undocumented random keys would exercise dlt's column naming, not the sync.
7. Formats use our own generators (RFC 3339 timestamps, https URIs, emoji, icon names), and the
   fields the sync keys or types on are drawn by the strategies below, not from the schema:
   ids (see the module docstring), traffic `timestamp` (the schema only says `string`; real
   values are RFC 3339 date-times, and the column is a timestamp; at most microseconds, the
   warehouse's precision, so which timestamps are the same key is well defined).
8. Objects, arrays and `oneOf` are composed by `strategy_for` (see there), not by
   hypothesis-jsonschema, for speed; arrays and free-form maps get at most 3 items.
"""


# --- rewriting GitBook's schemas into something hypothesis-jsonschema can generate from ------


def _patched_components() -> dict[str, Any]:
    """GitBook's component schemas with simplifications 1-4 and 9 applied."""
    schemas = copy.deepcopy(load_subset()["components"]["schemas"])
    schemas["Document"] = {"$ref": REF_PREFIX + "MarkdownDocument"}
    schemas["PlainObject"] = {"type": "object", "properties": {}}
    for name in ("RevisionPageDocument", "RevisionPageGroup"):
        parts = schemas[name]["allOf"]
        for part in parts:
            if "pages" in part.get("properties", {}):
                del part["properties"]["pages"]
                part["required"].remove("pages")
    document = schemas["RevisionPageDocument"]["allOf"]
    (choice,) = [p for p in document if "oneOf" in p]
    (document_id,) = [b for b in choice["oneOf"] if "computed" not in b.get("required", ())]
    document[document.index(choice)] = document_id
    return schemas


def _resolve(node: Any, schemas: dict[str, Any], stack: frozenset[str]) -> Any:
    """Inline ``$ref``s (simplification 1), drop annotations and merge ``allOf`` (5)."""
    if isinstance(node, list):
        return [_resolve(item, schemas, stack) for item in node]
    if not isinstance(node, dict):
        return node
    node = {k: v for k, v in node.items() if k not in ANNOTATIONS}
    if "$ref" in node:
        name = node.pop("$ref").removeprefix(REF_PREFIX)
        target = False if name in stack else _resolve(schemas[name], schemas, stack | {name})
        if not node:
            return target
        node = {"allOf": [target, node]}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in SCHEMA_MAPS:
            out[key] = {k: _resolve(v, schemas, stack) for k, v in value.items()}
        elif key in DATA_KEYWORDS:
            out[key] = value
        else:
            out[key] = _resolve(value, schemas, stack)
    if "allOf" in out:
        parts = out.pop("allOf")
        return _merge_objects([*parts, out] if out else parts)
    return out


def _merge_objects(parts: Sequence[Any]) -> Any:
    """One schema equivalent to ``allOf: parts`` for object parts (simplification 5)."""
    for i, part in enumerate(parts):
        if isinstance(part, dict) and "oneOf" in part:
            rest = {k: v for k, v in part.items() if k != "oneOf"}
            others = [*parts[:i], *parts[i + 1 :], *([rest] if rest else [])]
            return {"oneOf": [_merge_objects([*others, branch]) for branch in part["oneOf"]]}
    if any(part is False for part in parts):
        return False
    merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
    for part in parts:
        if part is True:
            continue
        unsupported = set(part) - {"type", "properties", "required"}
        if part.get("type", "object") != "object" or unsupported:
            raise NotImplementedError(f"cannot merge allOf part {part!r}")
        for key, sub in part.get("properties", {}).items():
            previous = merged["properties"].get(key)
            merged["properties"][key] = sub if previous is None else {"allOf": [previous, sub]}
        merged["required"] += [k for k in part.get("required", ()) if k not in merged["required"]]
    return merged


def _close(node: Any) -> Any:
    """Close every object schema (simplification 6)."""
    if isinstance(node, list):
        return [_close(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        key: (
            {k: _close(v) for k, v in value.items()}
            if key in SCHEMA_MAPS
            else value
            if key in DATA_KEYWORDS
            else _close(value)
        )
        for key, value in node.items()
    }
    if "properties" in out and "type" not in out:
        out["type"] = "object"
    types = out.get("type")
    is_object = types == "object" or (isinstance(types, list) and "object" in types)
    if is_object and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


@functools.cache
def generation_schema(name: str) -> Schema:
    """Component ``name`` rewritten for generation (see SIMPLIFICATIONS)."""
    schemas = _patched_components()
    return _close(_resolve(schemas[name], schemas, frozenset({name})))


# --- formats and the fields the sync keys on -------------------------------------------------

EARLIEST = datetime(1970, 1, 2)
LATEST = datetime(2999, 12, 30)


def rfc3339(moment: datetime, offset_minutes: int, fraction_digits: int, zulu: bool) -> str:
    """``moment`` (UTC) written as RFC 3339 in a given offset, with 0-9 fractional digits."""
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if fraction_digits:
        text += "." + f"{local.microsecond:06d}000"[:fraction_digits]
    if offset_minutes == 0 and zulu:
        return text + "Z"
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


def instants(*, whole_seconds: bool = False) -> st.SearchStrategy[datetime]:
    moments = st.datetimes(min_value=EARLIEST, max_value=LATEST, timezones=st.just(timezone.utc))
    return moments.map(lambda m: m.replace(microsecond=0)) if whole_seconds else moments


# Minutes east of UTC; RFC 3339 allows any offset up to 23:59 either way.
OFFSETS = st.sampled_from([0, 60, -300, 330, 345, -720, 840]) | st.integers(-1439, 1439)


def timestamps(
    moments: st.SearchStrategy[datetime] | None = None, max_fraction_digits: int = 9
) -> st.SearchStrategy[str]:
    """RFC 3339 date-times as GitBook could send them (any offset, Z or +00:00, 0-9 digits)."""
    return st.builds(
        rfc3339,
        moments if moments is not None else instants(),
        OFFSETS,
        st.integers(0, max_fraction_digits),
        st.booleans(),
    )


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 string as an aware UTC datetime, independently of the client's code."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


_HOST_LABEL = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=12)
_PATH_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
URIS = st.builds(
    "https://{}.{}/{}".format,
    _HOST_LABEL,
    st.sampled_from(["gitbook.com", "gitbook.io", "example.com"]),
    _PATH_TEXT.map(lambda path: quote(path, safe="/")),
)
EMOJI = st.sampled_from(["1f4d8", "1f389", "2764-fe0f", "🎉", "📘", "👩🏽‍💻"])
ICONS = st.from_regex(r"[a-z]{1,12}(-[a-z]{1,12}){0,2}", fullmatch=True)
CUSTOM_FORMATS: dict[str, st.SearchStrategy[str]] = {
    "date-time": timestamps(),
    "uri": URIS,
    "emoji": EMOJI,
    "icon": ICONS,
}

# Characters the client must percent-encode when an id goes into a URL path, plus letters.
AWKWARD_CHARACTERS = "/+ .%?#&=:;@!$'()*,~\\\"<>[]{}|^`\t\n"
SAFE_ID_CHARACTERS = string.ascii_letters + string.digits + "-_"
ID_CHARACTERS = st.one_of(
    st.sampled_from(SAFE_ID_CHARACTERS),
    st.sampled_from(AWKWARD_CHARACTERS),
    st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00"),
)


def ids(min_size: int = 0, max_size: int = 12) -> st.SearchStrategy[str]:
    """Ids as the schemas type them (any string), biased to URL-hostile characters."""
    return st.text(ID_CHARACTERS, min_size=min_size, max_size=max_size)


DOT_SEGMENTS = frozenset({".", ".."})


def path_ids() -> st.SearchStrategy[str]:
    """Org and space ids, which the client puts in URL paths.

    Never empty: no API issues an empty id, and ``/orgs//spaces`` is another URL.
    """
    # "." and ".." included on purpose: the client must not let them become dot-segments.
    return st.one_of(st.sampled_from(sorted(DOT_SEGMENTS)), ids(min_size=1))


# --- objects generated from the schemas ------------------------------------------------------


def _leaf(schema: Schema) -> st.SearchStrategy[Any]:
    # Imported here, after set_hypothesis_home_dir: importing it reads the Unicode table.
    from hypothesis_jsonschema import from_schema

    with warnings.catch_warnings():
        # We override the standard date-time/uri generators on purpose.
        warnings.filterwarnings("ignore", "Overriding standard format", HypothesisWarning)
        return from_schema(schema, custom_formats=CUSTOM_FORMATS)


MAX_SAFE_INTEGER = 2**53 - 1
OBJECT_KEYWORDS = frozenset({"type", "properties", "required", "additionalProperties"})


def strategy_for(schema: Schema) -> st.SearchStrategy[Any]:
    """Values valid against a rewritten (ref-free, closed) schema.

    Simplification 8: hypothesis-jsonschema rebuilds an object's property strategies on every
    draw (about 0.1 s per Organization), too slow for whole accounts in CI. So objects, arrays
    and ``oneOf`` are composed here from the same keywords, and every other schema (strings
    with patterns and formats, enums, numbers, nulls) is handed to ``from_schema``. Arrays and
    free-form maps (``additionalProperties: {schema}``) get at most 3 items.
    """
    if not isinstance(schema, dict):
        return _leaf(schema)
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([strategy_for({**schema, "type": k}) for k in kind])
    if kind == "object" and set(schema) <= OBJECT_KEYWORDS:
        return _objects(schema)
    if kind in ("number", "integer"):
        # Within JavaScript's safe range: GitBook's JSON comes from JavaScript, and dlt cannot
        # extract integers beyond 64 bits ("Integer exceeds 64-bit range"), which an unbounded
        # schema `integer` (Organization.trial.count) would otherwise produce.
        low = max(schema.get("minimum", -MAX_SAFE_INTEGER), -MAX_SAFE_INTEGER)
        high = min(schema.get("maximum", MAX_SAFE_INTEGER), MAX_SAFE_INTEGER)
        integers = _leaf({**schema, "type": "integer", "minimum": low, "maximum": high})
        if kind == "integer":
            return integers
        if high - low < 1:
            return integers
        # A JSON `number` may be fractional where GitBook's own data is mostly whole.
        halves = st.integers(max(low, -(10**6)), min(high, 10**6) - 1).map(lambda i: i + 0.5)
        return st.one_of(integers, halves)
    if set(schema) == {"oneOf"}:
        branches = schema["oneOf"]
        checks = [jsonschema.Draft202012Validator(branch).is_valid for branch in branches]
        return st.one_of([strategy_for(branch) for branch in branches]).filter(
            lambda value: sum(check(value) for check in checks) == 1
        )
    if kind == "array" and set(schema) <= {"type", "items", "minItems", "maxItems"}:
        low = schema.get("minItems", 0)
        return st.lists(
            strategy_for(schema.get("items", True)),
            min_size=low,
            max_size=schema.get("maxItems", max(low, 3)),
        )
    return _leaf(schema)


def _objects(schema: dict[str, Any]) -> st.SearchStrategy[Row]:
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    missing = set(required) - set(properties)
    if missing:
        raise ValueError(f"required but undefined properties {sorted(missing)}")
    fixed = st.fixed_dictionaries(
        {key: strategy_for(properties[key]) for key in required},
        optional={k: strategy_for(v) for k, v in properties.items() if k not in required},
    )
    additional = schema.get("additionalProperties", True)
    if additional is False:
        return fixed
    extra = st.dictionaries(
        st.text(max_size=12).filter(lambda key: key not in properties),
        strategy_for(additional),
        max_size=3,
    )
    return st.builds(lambda known, more: {**more, **known}, fixed, extra)


@functools.cache
def from_component(name: str) -> st.SearchStrategy[Row]:
    """Objects valid against component ``name`` (modulo SIMPLIFICATIONS)."""
    return strategy_for(generation_schema(name))


def users() -> st.SearchStrategy[Row]:
    return st.builds(lambda user, user_id: {**user, "id": user_id}, from_component("User"), ids())


def organizations() -> st.SearchStrategy[Row]:
    return from_component("Organization")


def spaces() -> st.SearchStrategy[Row]:
    return from_component("Space")


def sites() -> st.SearchStrategy[Row]:
    return from_component("Site")


def members() -> st.SearchStrategy[Row]:
    return from_component("OrganizationMember")


@functools.cache
def traffic_points() -> st.SearchStrategy[Row]:
    """One item of a traffic response's ``views``; the caller sets its ``timestamp``."""
    schema = generation_schema("AnalyticsTrafficPageViews")
    assert isinstance(schema, dict)
    return strategy_for(schema["properties"]["views"]["items"])


def _with_children(page: Row, children: list[Row]) -> Row:
    return {**page, "pages": children}


@functools.cache
def page_forests(max_top: int = 4, depth: int = 3) -> st.SearchStrategy[list[Row]]:
    """Top-level page lists of a Revision, nested (simplification 4); ids are set later.

    Documents nest documents, links and computed pages up to ``depth`` levels below the top;
    groups (top level only) hold documents, links and computed pages. A bounded tree, not
    ``st.recursive``, whose overflowing draws Hypothesis discards as invalid examples.
    """
    documents = from_component("RevisionPageDocument")
    leaves = st.one_of(
        documents.map(lambda page: _with_children(page, [])),
        from_component("RevisionPageLink"),
        from_component("RevisionPageComputed"),
    )
    nested = leaves
    for _ in range(depth):
        parents = st.builds(_with_children, documents, st.lists(nested, min_size=1, max_size=2))
        nested = leaves | parents
    groups = st.builds(
        _with_children, from_component("RevisionPageGroup"), st.lists(nested, max_size=3)
    )
    return st.lists(nested | groups, max_size=max_top)


def walk_pages(pages: Sequence[Row]) -> Iterator[Row]:
    """Every page of a tree, depth-first; written here so tests do not reuse the client's."""
    for page in pages:
        yield page
        yield from walk_pages(page.get("pages", ()))


def _relabel(pages: Sequence[Row], new_ids: Iterator[str]) -> list[Row]:
    """A copy of the tree with ids taken in depth-first order from ``new_ids``."""
    out = []
    for page in pages:
        copy_ = {**page, "id": next(new_ids)}
        if "pages" in page:
            copy_["pages"] = _relabel(page["pages"], new_ids)
        out.append(copy_)
    return out


# --- a whole account -------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """Everything one token sees, as the API would serve it."""

    user: Row
    organizations: list[Row]
    spaces_by_org: dict[str, list[Row]]
    members_by_org: dict[str, list[Row]]
    pages_by_space: dict[str, list[Row]]
    traffic_by_space: dict[str, list[Row]]
    sites_by_org: dict[str, list[Row]] = field(default_factory=dict)
    """Each org's sites; site ids are unique across orgs and may need URL encoding."""

    @property
    def spaces(self) -> list[Row]:
        return [space for spaces in self.spaces_by_org.values() for space in spaces]


def _made_distinct(values: Sequence[str], taken: Sequence[str] = ()) -> list[str]:
    """``values`` made distinct from each other and from ``taken`` by appending "~" to repeats.

    Cheaper than Hypothesis' unique lists, which it often fails to fill and then discards.
    """
    seen = set(taken)
    out = []
    for value in values:
        while value in seen:
            value += "~"
        seen.add(value)
        out.append(value)
    return out


@st.composite
def _ids_from(draw: st.DrawFn, pool: Sequence[str], n: int) -> list[str]:
    """``n`` distinct ids, at least one from ``pool`` when ``n`` > 0 (so ids repeat across
    spaces or orgs), the rest fresh, in any order."""
    at_most = min(n, len(pool))
    reused = (
        draw(st.lists(st.sampled_from(pool), min_size=1, max_size=at_most, unique=True))
        if at_most
        else []
    )
    fresh = draw(st.lists(ids(), min_size=n - len(reused), max_size=n - len(reused)))
    return draw(st.permutations([*reused, *_made_distinct(fresh, taken=reused)]))


@st.composite
def _timestamps_from(draw: st.DrawFn, pool: Sequence[str], n: int) -> list[str]:
    """``n`` timestamps of distinct instants, at least one from ``pool`` when ``n`` > 0."""
    at_most = min(n, len(pool))
    reused = (
        draw(
            st.lists(st.sampled_from(pool), min_size=1, max_size=at_most, unique_by=parse_timestamp)
        )
        if at_most
        else []
    )
    taken = {parse_timestamp(text) for text in reused}
    fresh = []
    for _ in range(n - len(reused)):
        moment = draw(instants())
        style = draw(st.tuples(OFFSETS, st.integers(0, 6), st.booleans()))
        text = rfc3339(moment, *style)
        while parse_timestamp(text) in taken:  # a repeat: move it on by a second
            moment += timedelta(seconds=1)
            text = rfc3339(moment, *style)
        taken.add(parse_timestamp(text))
        fresh.append(text)
    return draw(st.permutations([*reused, *fresh]))


@st.composite
def accounts(
    draw: st.DrawFn,
    max_orgs: int = 3,
    max_spaces: int = 5,
    max_members: int = 4,
    max_traffic: int = 5,
    max_sites: int = 3,
) -> Account:
    """A user, orgs, spaces, members, page trees, traffic and sites, with the API's id rules."""
    user = draw(users())
    org_ids = _made_distinct(draw(st.lists(path_ids(), min_size=1, max_size=max_orgs)))
    orgs = [{**draw(organizations()), "id": org_id} for org_id in org_ids]

    # At least two spaces, so page ids and timestamps can repeat across spaces.
    space_ids = _made_distinct(draw(st.lists(path_ids(), min_size=2, max_size=max_spaces)))
    spaces_by_org: dict[str, list[Row]] = {org_id: [] for org_id in org_ids}
    for space_id in space_ids:
        org_id = draw(st.sampled_from(org_ids))
        spaces_by_org[org_id].append({**draw(spaces()), "id": space_id, "organization": org_id})

    # One person can be in several orgs (same member id), but only once per org.
    people = _made_distinct(draw(st.lists(ids(), min_size=1, max_size=max_members)))
    members_by_org: dict[str, list[Row]] = {}
    for org_id in org_ids:
        member_ids = draw(_ids_from(people, draw(st.integers(0, max_members))))
        rows = []
        for member_id in member_ids:
            member = draw(members())
            rows.append({**member, "id": member_id, "user": {**member["user"], "id": member_id}})
        members_by_org[org_id] = rows

    # Page ids and traffic timestamps repeat across spaces; unique within one space (the same
    # instant written with another offset counts as the same timestamp).
    page_pool = _made_distinct(draw(st.lists(ids(), min_size=1, max_size=3)))
    shared_stamps = draw(
        st.lists(timestamps(instants(whole_seconds=True), max_fraction_digits=6), max_size=4)
    )
    pages_by_space: dict[str, list[Row]] = {}
    traffic_by_space: dict[str, list[Row]] = {}
    for space_id in space_ids:
        forest = draw(page_forests())
        page_ids = draw(_ids_from(page_pool, sum(1 for _ in walk_pages(forest))))
        pages_by_space[space_id] = _relabel(forest, iter(page_ids))
        stamps = draw(_timestamps_from(shared_stamps, draw(st.integers(0, max_traffic))))
        traffic_by_space[space_id] = [{**draw(traffic_points()), "timestamp": t} for t in stamps]

    # Drawn last: the same choices still draw the same rest of the account.
    site_ids = _made_distinct(draw(st.lists(path_ids(), max_size=max_sites)))
    sites_by_org: dict[str, list[Row]] = {org_id: [] for org_id in org_ids}
    for site_id in site_ids:
        org_id = draw(st.sampled_from(org_ids))
        sites_by_org[org_id].append({**draw(sites()), "id": site_id})

    return Account(
        user=user,
        organizations=orgs,
        spaces_by_org=spaces_by_org,
        members_by_org=members_by_org,
        pages_by_space=pages_by_space,
        traffic_by_space=traffic_by_space,
        sites_by_org=sites_by_org,
    )
