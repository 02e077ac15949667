"""Code blocks read out of the repository's documentation, so docs and tests cannot drift apart."""

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
QUERIES_DOC = REPO_ROOT / "docs" / "queries.md"


def doc_section(path: Path, heading: str, followed_by: str | None = None) -> str:
    """The text of the `## ` section `heading` of `path`, up to the next `## ` heading or the end.

    With `followed_by`, that next heading must be exactly `followed_by`; without it, the section
    must be the file's last. Either way the heading must appear exactly once.
    """
    text = path.read_text(encoding="utf-8")
    marker = f"\n{heading}\n"
    assert text.count(marker) == 1, f"{path.name} must hold {heading!r} exactly once"
    start = text.index(marker)
    end = text.find("\n## ", start + 1)
    if followed_by is None:
        assert end == -1, f"{heading!r} must be the last section of {path.name}"
        return text[start:]
    assert end != -1 and text[end:].startswith(f"\n{followed_by}\n"), (
        f"{heading!r} must sit right before {followed_by!r} in {path.name}"
    )
    return text[start:end]


def code_blocks(section: str, language: str) -> list[str]:
    """Top-level fenced blocks of one language, in the order the section shows them."""
    return re.findall(rf"^```{language}\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)
