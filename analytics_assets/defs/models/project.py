"""The dbt project inside the package, and its manifest, prepared the way dagster-dbt documents.

The package is only read: the manifest, dbt's partial parse and each run's artifacts and log go
to a writable folder outside it, `ANALYTICS_DBT_TARGET_PATH` (`data/dbt` in the working
directory by default), so an installed package or a read-only image runs the models as a
checkout does.

Like `DbtProject.prepare_if_dev()`, edited models show up on the next load of the code location
(a reload starts a new process; a process loads its definitions once, `definitions.py`), but
by comparing file times rather than parsing on every load of `dagster dev` (and of each of its
run workers):
a missing manifest, or one older than a file of the project, is parsed again; a current one is
read as it is. A deployment prepares it at build time (`deploy/Dockerfile` runs
`python -m analytics_assets.defs.models.project`), so it never parses at load. Parsing is
`dbt parse` on the profile's default `duckdb` target with nothing configured: it never connects,
whatever ANALYTICS_DESTINATION says.

dagster-dbt's own preparer looks for `dbt` on PATH, which a venv's interpreter run by path
(`.venv/bin/python -m ...`) does not have; the same parse is run here with this venv's dbt.

Before each dbt command, dagster-dbt asks the executable for its version (`dbt --version`), and
dbt's answer asks PyPI for its latest releases: seconds per models run or parse, and a call to
the internet from each. The resource here knows the version without asking (see `VenvDbtCli`).

For the same reasons the models are a Pythonic `@dbt_assets` rather than dagster-dbt's
`DbtProjectComponent`: the component parses the project at every start of `dagster dev`, needs
`dg utils refresh-defs-state` before a headless run can load, runs `dbt` from PATH and asks for
its version before each command.
"""

import os
import shutil
import sys
import uuid
from collections.abc import Sequence
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

from dagster._utils import run_with_concurrent_update_guard
from dagster_dbt import DbtCliResource, DbtProject
from dagster_dbt import compat as dbt_compat
from packaging.version import Version

PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt"
# What a manifest is made from: newer than all of these, it is current.
_SOURCES = ("dbt_project.yml", "profiles.yml", "models", "macros", "tests")
# The dbt installed next to this interpreter (dbt-core is a dependency of this package).
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")
PARTIAL_PARSE = "partial_parse.msgpack"
TARGET_PATH_ENV = "ANALYTICS_DBT_TARGET_PATH"
DEFAULT_TARGET_PATH = "data/dbt"
RUNS_FOLDER = "runs"
KEPT_FAILED_RUNS = 10
"""A failed run keeps its folder (its `dbt.log` is named in the failure); the newest ten stay."""


def target_root() -> Path:
    """dbt's writable folder, read when the definitions load; relative to the working directory,
    like the warehouse file."""
    return Path(os.environ.get(TARGET_PATH_ENV) or DEFAULT_TARGET_PATH).resolve()


def models_project() -> DbtProject:
    """No dbt target here: the profile's default (duckdb) parses, and each run passes
    `--target`. The manifest and the partial parse live in `<target root>/target`."""
    return DbtProject(project_dir=PROJECT_DIR, target_path=target_root() / "target")


def target_folder(project: DbtProject) -> Path:
    """The project's target folder (DbtProject keeps `target_path` as given, maybe relative)."""
    return project.project_dir / project.target_path


def run_target_path(project: DbtProject, run_id: str) -> Path:
    """A models run's own folder, `<target root>/runs/<run id>-<random>`, next to the
    project's target: its artifacts and `dbt.log`. Older failed runs' folders are pruned here."""
    runs = target_folder(project).parent / RUNS_FOLDER
    if runs.is_dir():
        ages = {}
        for folder in runs.iterdir():
            try:
                ages[folder] = folder.stat().st_mtime
            except FileNotFoundError:  # a concurrent green run removed its own
                continue
        for stale in sorted(ages, key=ages.__getitem__, reverse=True)[KEPT_FAILED_RUNS:]:
            shutil.rmtree(stale, ignore_errors=True)  # a concurrent run may prune it too
    return runs / f"{run_id[:8]}-{uuid.uuid4().hex[:7]}"


def manifest_is_stale(project: DbtProject) -> bool:
    """Missing, or older than a file of the project (a model edited since the last parse)."""
    if not project.manifest_path.exists():
        return True
    built = project.manifest_path.stat().st_mtime
    for name in _SOURCES:
        path = project.project_dir / name
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        if any(file.stat().st_mtime > built for file in files):
            return True
    return False


class VenvDbtCli(DbtCliResource):
    """dagster-dbt's resource, running this venv's dbt, whose version is the installed dbt-core's:
    dagster-dbt would otherwise run `dbt --version` (and dbt would ask PyPI) once per command."""

    @cached_property
    def _cli_version(self) -> Version:
        return Version(installed_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        """No in-process adapter when dagster-dbt was imported without dbt-core (see
        `defs/models/__init__.py`), as on its Fusion path: only the row-count and column
        metadata fetches use one, and this project asks for neither. dagster-dbt would otherwise
        log an AssertionError with its traceback before every dbt command."""
        if dbt_compat.DBT_PYTHON_VERSION is None:
            return None
        return super()._initialize_dbt_core_adapter(args)


def dbt_cli(project: DbtProject) -> DbtCliResource:
    """The resource that runs this venv's dbt in the project."""
    return VenvDbtCli(project_dir=project, dbt_executable=DBT_EXECUTABLE)


def seed_partial_parse(project: DbtProject, run_target: Path) -> None:
    """Start a models run from the last run's parse (dagster-dbt's own seeding looks for it in
    the package, under `DBT_TARGET_PATH`)."""
    source = target_folder(project) / PARTIAL_PARSE
    run_target.mkdir(parents=True, exist_ok=True)
    if source.exists():
        shutil.copyfile(source, run_target / PARTIAL_PARSE)


def keep_partial_parse(run_target: Path, project: DbtProject) -> None:
    """Keep a models run's parse for the next run.

    dbt reuses a seeded parse when the profile and target are unchanged (the same warehouse):
    the next run then skips dbt's full parse, about 2.3 s. dbt checks the match itself and
    parses in full when anything differs. Replaced atomically: a code server may be reading it.
    """
    source = run_target / PARTIAL_PARSE
    if not source.exists():
        return
    destination = target_folder(project) / PARTIAL_PARSE
    temporary = destination.with_name(f"{PARTIAL_PARSE}.{os.getpid()}.tmp")
    shutil.copyfile(source, temporary)
    os.replace(temporary, destination)


def prepare(project: DbtProject) -> None:
    """`dbt parse` into the project's target folder, guarded against a concurrent parse."""

    def parse() -> None:
        dbt_cli(project).cli(["parse", "--quiet"], target_path=project.target_path).wait()

    target_folder(project).mkdir(parents=True, exist_ok=True)  # the guard's lock goes there
    run_with_concurrent_update_guard(project.manifest_path, parse)


def prepared_project() -> DbtProject:
    """The project with a current manifest (parsed here only when needed)."""
    project = models_project()
    if manifest_is_stale(project):
        prepare(project)
    return project


if __name__ == "__main__":
    # Build or deploy time: `python -m analytics_assets.defs.models.project` writes the manifest.
    prepared = models_project()
    prepare(prepared)
    print(prepared.manifest_path)
