"""The documentation works as written: every shell block runs, every relative link resolves.

Shell blocks (```bash, ```sh, ```console) of README.md, docs/*.md, deploy/README.md and
benchmarks/README.md run one test each, in bash with `set -euo pipefail`, from a copy of the
repository's files as a reader has them after the README's quick start and its first steps: a
Dagster instance in `.dagster_home`, and a warehouse and the demo's file holding every table
(today's site insights included). `GITBOOK_BASE_URL` points at the bundled API; the API and the
loaded copy are made once per xdist worker. Two placeholders are filled in (`PLACEHOLDERS`):
the venv's `bin/` is the running interpreter's, and the README's `gb_api_...` token is the
bundled API's.

A block that cannot run offline carries `<!-- docs-test: skip (why) -->` on the line before its
fence; one that is meant to fail carries `<!-- docs-test: fails (why) -->`, and the words of
its reason in backticks must show in its output. A marker without a reason, or one that
precedes no block, fails `test_every_marker_has_a_reason_and_a_block`.
"""

import os
import re
import shutil
import subprocess
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize
from dagster_dlt import DagsterDltResource

from analytics_assets.defs.models.project import DEFAULT_TARGET_PATH
from analytics_assets.defs.resources import (
    DEFAULT_DUCKDB_PATH,
    GitBookResource,
    WarehouseResource,
)
from analytics_assets.defs.sync.assets import build_gitbook_assets
from analytics_assets.defs.sync.site_insights import (
    build_site_insights_assets,
    site_insights_partitions,
)
from analytics_assets.devtools.demo import DEFAULT_DEMO_DUCKDB
from analytics_assets.devtools.fake_api import Dataset, FakeGitBookAPI
from analytics_assets.settings import OperationsConfig
from analytics_assets_tests.harness import TEST_TOKEN, copy_dbt_target, isolate

REPO = Path(__file__).resolve().parents[1]
DOCS = [
    REPO / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
    REPO / "deploy" / "README.md",
    REPO / "benchmarks" / "README.md",
]
SHELL_LANGUAGES = ("bash", "sh", "console")
BIN = Path(sys.executable).parent
# What a block says -> what it runs here. The README's token is a placeholder for a real one.
PLACEHOLDERS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?:\.\./)*\.venv/bin/"), f"{BIN}/"),
    (re.compile(re.escape("gb_api_...")), TEST_TOKEN),
]
# Variables a developer may have set that would point a block at a real account or warehouse,
# or send a real alert.
FOREIGN_ENV = re.compile(r"^(GITBOOK_|ANALYTICS_|DESTINATION__|SOURCES__|DAGSTER_HOME$)")
BLOCK_TIMEOUT_SECONDS = 300

MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<verb>[\w-]+)\s*(?:\((?P<reason>.*)\))?\s*-->\s*$")
VERBS = ("skip", "fails")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+)\s*(?P<language>[\w+-]*)\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a doc, with the marker on the line before it, if any."""

    path: Path
    line: int  # 1-based, the opening fence
    language: str
    text: str
    verb: str | None
    reason: str | None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"

    def script(self) -> str:
        """The commands as this machine runs them: a console block's `$ ` lines only."""
        text = self.text
        if self.language == "console":
            text = "\n".join(line[2:] for line in text.splitlines() if line.startswith("$ "))
        for pattern, value in PLACEHOLDERS:
            text = pattern.sub(value, text)
        return text


@dataclass(frozen=True)
class Marker:
    path: Path
    line: int
    verb: str
    reason: str | None
    block: Block | None


def parse(path: Path) -> tuple[list[Block], list[Marker]]:
    """Every fenced block of `path` (any language) and every docs-test marker."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    markers: list[Marker] = []
    pending: tuple[int, str, str | None] | None = None  # a marker waiting for its block
    index = 0
    while index < len(lines):
        line = lines[index]
        marker = MARKER.match(line)
        fence = FENCE.match(line)
        if marker:
            if pending:
                markers.append(Marker(path, pending[0], pending[1], pending[2], None))
            pending = (index + 1, marker["verb"], (marker["reason"] or "").strip() or None)
        elif fence:
            indent, closing = len(fence["indent"]), fence["fence"]
            body: list[str] = []
            end = index + 1
            while end < len(lines) and lines[end].strip() != closing:
                body.append(lines[end][indent:] if lines[end][:indent].isspace() else lines[end])
                end += 1
            verb, reason = (pending[1], pending[2]) if pending else (None, None)
            block = Block(path, index + 1, fence["language"], "\n".join(body), verb, reason)
            blocks.append(block)
            if pending:
                markers.append(Marker(path, pending[0], pending[1], pending[2], block))
                pending = None
            index = end
        elif line.strip() and pending:  # text between a marker and the next fence
            markers.append(Marker(path, pending[0], pending[1], pending[2], None))
            pending = None
        index += 1
    if pending:
        markers.append(Marker(path, pending[0], pending[1], pending[2], None))
    return blocks, markers


PARSED = {path: parse(path) for path in DOCS}
SHELL_BLOCKS = [b for blocks, _ in PARSED.values() for b in blocks if b.language in SHELL_LANGUAGES]
RUN = [block for block in SHELL_BLOCKS if block.verb != "skip"]


def test_every_marker_has_a_reason_and_a_block() -> None:
    problems = []
    for _, markers in PARSED.values():
        for marker in markers:
            where = f"{marker.path.relative_to(REPO)}:{marker.line}"
            if marker.verb not in VERBS:
                problems.append(f"{where}: unknown marker {marker.verb!r} (one of {VERBS})")
            if not marker.reason:
                problems.append(f"{where}: docs-test: {marker.verb} needs a reason in ()")
            if marker.block is None:
                problems.append(f"{where}: the marker is not right before a fenced block")
            elif marker.block.language not in SHELL_LANGUAGES:
                problems.append(f"{where}: the marked block is not a shell block")
    assert not problems, "\n".join(problems)
    assert RUN, "no shell block left to run"


@dataclass(frozen=True)
class Seeded:
    """A directory laid out like the repository after the README's first steps."""

    root: Path
    api: FakeGitBookAPI


def _copy_repository(root: Path) -> None:
    """The files the blocks name; `analytics_assets/` links to the package, which nothing
    writes; `.dlt/` holds no secrets."""
    for name in ("dagster.yaml", "workspace.yaml", "pyproject.toml", "setup.cfg", "README.md"):
        shutil.copy(REPO / name, root / name)
    shutil.copy(REPO / "requirements.lock", root / "requirements.lock")
    (root / ".dlt").mkdir()
    for name in ("config.toml", "secrets.toml.example"):
        shutil.copy(REPO / ".dlt" / name, root / ".dlt" / name)
    skip = shutil.ignore_patterns("__pycache__", "*.png", "target", "logs", ".user.yml")
    for folder in ("docs", "deploy", "benchmarks"):
        shutil.copytree(REPO / folder, root / folder, ignore=skip)
    (root / "analytics_assets").symlink_to(REPO / "analytics_assets")


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """Per worker: the bundled API, and a repository copy with a Dagster instance (the README's
    step 2) and a warehouse holding every table (steps 3 and 5), which the demo's file copies.
    The tables are loaded without their checks, which no block reads, to keep this short."""
    root = tmp_path_factory.mktemp("docs_repository")
    _copy_repository(root)
    home = root / ".dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    with DagsterInstance.from_config(str(home)):
        pass  # creates its storage, as `dagster instance migrate` does
    today = datetime.now(timezone.utc).date()
    with FakeGitBookAPI(dataset=Dataset.demo(anchor=today), token=TEST_TOKEN) as api:
        resources = {
            "dlt": DagsterDltResource(),
            "gitbook": GitBookResource(access_token=TEST_TOKEN, base_url=api.base_url),
            "warehouse": WarehouseResource(
                destination="duckdb",
                duckdb_path=str(root / DEFAULT_DUCKDB_PATH),
                pipelines_dir=str(root / "data" / "dlt_pipelines"),
            ),
        }
        site_insights = build_site_insights_assets(
            site_insights_partitions(OperationsConfig().site_insights_start)
        )
        with pytest.MonkeyPatch.context() as mp, DagsterInstance.ephemeral() as instance:
            isolate(mp, root)  # session scope runs before conftest's autouse isolation
            # The blocks' dbt folder is the default one, data/dbt: it starts with the session's
            # current manifest (times kept), as after a first load, instead of parsing per block.
            copy_dbt_target(root / DEFAULT_TARGET_PATH / "target")
            for assets, partition in ((build_gitbook_assets(), None), (site_insights, today)):
                loaded = materialize(
                    [assets],
                    resources=resources,
                    instance=instance,
                    partition_key=partition and partition.isoformat(),
                    run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
                )
                assert loaded.success
        shutil.copy(root / DEFAULT_DUCKDB_PATH, root / DEFAULT_DEMO_DUCKDB)
        yield Seeded(root, api)


def block_env(root: Path, api: FakeGitBookAPI) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not FOREIGN_ENV.match(name)}
    env.update(
        GITBOOK_BASE_URL=api.base_url,
        GITBOOK_ACCESS_TOKEN=TEST_TOKEN,
        DAGSTER_HOME=str(root / ".dagster_home"),
        HOME=str(root),
        DLT_DATA_DIR=str(root / "dlt_data"),
        RUNTIME__DLTHUB_TELEMETRY="false",
    )
    return env


@pytest.mark.parametrize("block", RUN, ids=[block.where for block in RUN])
def test_shell_block_runs_as_written(block: Block, seeded: Seeded, tmp_path: Path) -> None:
    root = tmp_path / "repository"
    shutil.copytree(seeded.root, root, symlinks=True)
    script = block.script()
    completed = subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n{script}"],
        cwd=root,
        env=block_env(root, seeded.api),
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT_SECONDS,
    )
    output = completed.stdout + completed.stderr
    if block.verb == "fails":
        # A block meant to fail must fail for its stated reason: its `quoted` words show.
        said = re.findall(r"`([^`]+)`", block.reason or "")
        missing = [text for text in said if text not in output]
        if completed.returncode != 0 and not missing:
            return
        expected = f"a failure showing {said}" if said else "a failure"
    elif completed.returncode == 0:
        return
    else:
        expected = "exit status 0"
    pytest.fail(
        f"{block.where}: expected {expected}, got exit status {completed.returncode}\n"
        f"$ {script}\n--- output (tail) ---\n{output[-4000:]}",
        pytrace=False,
    )


# Links: [text](target) and ![alt](target), outside code; external targets are not followed.
INLINE_CODE = re.compile(r"(`+).*?\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def doc_lines(path: Path, inline_code: bool) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line outside fenced blocks, with or without inline code."""
    fenced: str | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fence = re.match(r"^\s*(```+)", line)
        if fence and (fenced is None or line.strip() == fenced):
            fenced = fence[1] if fenced is None else None
            continue
        if fenced is None:
            yield number, line if inline_code else INLINE_CODE.sub("", line)


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: markup dropped, lower case, punctuation removed,
    spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links keep their text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in ("L", "M", "N"))
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor, repeats numbered as GitHub numbers them."""
    seen: Counter[str] = Counter()
    found = set()
    for _, line in doc_lines(path, inline_code=True):
        match = HEADING.match(line)
        if match:
            slug = github_slug(match[2])
            found.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
            seen[slug] += 1
    return found


def broken_target(source: Path, target: str) -> str:
    """Why `target`, relative to `source`, does not resolve; "" when it does."""
    file_part, _, anchor = target.partition("#")
    path = (source.parent / file_part).resolve() if file_part else source
    if not path.is_relative_to(REPO):
        return f"{target} leaves the repository"
    if not path.exists():
        return f"{target}: no such file"
    if anchor:
        if path.suffix != ".md":
            return f"{target}: an anchor into a file that is not Markdown"
        if anchor not in anchors(path):
            return f"{target}: no heading with the anchor #{anchor} in {path.relative_to(REPO)}"
    return ""


def test_every_relative_link_resolves() -> None:
    broken = []
    checked = 0
    for path in DOCS:
        for number, line in doc_lines(path, inline_code=False):
            for target in LINK.findall(line):
                if EXTERNAL.match(target):
                    continue
                checked += 1
                problem = broken_target(path, target)
                if problem:
                    broken.append(f"{path.relative_to(REPO)}:{number}: {problem}")
    assert not broken, "\n".join(broken)
    assert checked > 0


# Code and configuration that send a reader to the docs: `docs/x.md#anchor`, and the message
# form `docs/x.md, Heading`.
DOC_REFERENCE = re.compile(
    r"\b((?:docs|deploy|benchmarks)/[\w./-]+\.md)(?:#([\w-]+)|, ([A-Z][\w ]+)\))?"
)
REFERRING_FILES = [
    *sorted((REPO / "analytics_assets").rglob("*.py")),
    *sorted((REPO / "analytics_assets" / "dbt").glob("*.yml")),
    REPO / "dagster.yaml",
    *sorted((REPO / "deploy").rglob("*.yaml")),
    REPO / "deploy" / "Dockerfile",
    REPO / ".dlt" / "secrets.toml.example",
    REPO / "pyproject.toml",
]


def test_the_docs_that_code_and_configuration_name_exist() -> None:
    broken = []
    for path in REFERRING_FILES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for file_part, anchor, heading in DOC_REFERENCE.findall(line):
                anchor = anchor or (github_slug(heading) if heading else "")
                target = f"{file_part}#{anchor}" if anchor else file_part
                problem = broken_target(REPO / "README.md", target)
                if problem:
                    broken.append(f"{path.relative_to(REPO)}:{number}: {problem}")
    assert not broken, "\n".join(broken)
