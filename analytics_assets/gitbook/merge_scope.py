"""SQL literals for dlt's merge `destination_scope` and `source_filter`.

dlt runs `str.format` over both (to fill `{table}` and `{staging_table}`), so an id with a brace
must have it doubled, besides the usual doubling of quotes.
"""

from __future__ import annotations

from collections.abc import Iterable


def sql_literals(values: Iterable[str]) -> str:
    """`'a', 'b'`: distinct values, sorted, each a quoted literal that survives dlt's format."""

    def literal(value: str) -> str:
        escaped = value.replace("'", "''").replace("{", "{{").replace("}", "}}")
        return f"'{escaped}'"

    return ", ".join(literal(value) for value in sorted(set(values)))
