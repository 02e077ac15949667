"""Dagster resources: the GitBook connection (with its secret) and the warehouse/pipeline factory.

Both resolve environment variables and dlt configuration when a run starts, never at import, so
`dagster dev` and `dagster definitions validate` work with nothing configured.
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dlt
from dagster import ConfigurableResource, Definitions, EnvVar, definitions
from dagster_dlt import DagsterDltResource
from pydantic import Field

if TYPE_CHECKING:
    from dlt.common.runtime.collector_base import Collector
    from dlt.extract.source import DltSource
    from duckdb import DuckDBPyConnection

    from analytics_assets.gitbook.access import Access
    from analytics_assets.gitbook.content import ContentPlan
    from analytics_assets.gitbook.failed_days import FailedDays
    from analytics_assets.gitbook.personal_data import PersonalData
    from analytics_assets.gitbook.schema_drift import ContractMode

from analytics_assets.gitbook.settings import (
    DATASET_NAME,
    MAX_CONCURRENCY,
    MAX_RATE_LIMIT_WAIT_SECONDS,
    MAX_RETRIES,
    PAGE_SIZE,
    REPLACE_STRATEGY,
    REQUIRE_FULL_ACCESS_ENV,
    SOURCE_NAME,
    TOKEN_HINT,
)

TOKEN_ENV = "GITBOOK_ACCESS_TOKEN"
BASE_URL_ENV = "GITBOOK_BASE_URL"
SPACE_IDS_ENV = "GITBOOK_SPACE_IDS"
INSECURE_HTTP_ENV = "GITBOOK_ALLOW_INSECURE_HTTP"
MAX_CONCURRENCY_ENV = "GITBOOK_MAX_CONCURRENCY"
PAGE_SIZE_ENV = "GITBOOK_PAGE_SIZE"
MAX_RATE_LIMIT_WAIT_ENV = "GITBOOK_MAX_RATE_LIMIT_WAIT_SECONDS"
FULL_REFETCH_ENV = "GITBOOK_FULL_REFETCH"
DESTINATION_ENV = "ANALYTICS_DESTINATION"
DUCKDB_PATH_ENV = "ANALYTICS_DUCKDB_PATH"
PIPELINES_DIR_ENV = "ANALYTICS_DLT_PIPELINES_DIR"
DUCKDB_MEMORY_LIMIT_ENV = "ANALYTICS_DUCKDB_MEMORY_LIMIT"

DEFAULT_DESTINATION = "duckdb"
DEFAULT_DUCKDB_PATH = Path("data") / "warehouse.duckdb"
# The schemas of the file besides the dataset and dlt's staging dataset: the dbt models'
# (dbt/profiles.yml) and DuckDB's default.
OTHER_SCHEMAS = ("analytics", "main")
DEFAULT_PIPELINES_DIR = Path("data") / "dlt_pipelines"
# DuckDB's buffer pool would otherwise grow to 80% of RAM during a large merge; with this cap it
# spills instead (W2 in benchmarks/: peak RSS 434 MB -> see README there).
DEFAULT_DUCKDB_MEMORY_LIMIT = "256MB"
PIPELINE_NAME = "gitbook"


def _first_set(*values: str | None) -> str | None:
    return next((value for value in values if value), None)


def _flag(value: bool | None, env: str) -> bool | None:
    """The field's value, else the environment variable read as a boolean, else None."""
    if value is not None:
        return value
    from_env = EnvVar(env).get_value()
    return from_env.strip().lower() in ("1", "true", "yes") if from_env else None


def _first_number(value: float | None, env: str, kind: Callable[[str], float]) -> float | None:
    """The field's value, else the environment variable's; None leaves it to dlt's config."""
    if value is not None:
        return value
    from_env = EnvVar(env).get_value()
    return kind(from_env) if from_env else None


class GitBookResource(ConfigurableResource):
    """How to reach GitBook. Each field falls back to its environment variable, then to dlt's
    configuration (`[sources.gitbook]` in `.dlt/config.toml` and `.dlt/secrets.toml`)."""

    access_token: str | None = Field(
        default=None, description=f"GitBook API token; falls back to ${TOKEN_ENV}."
    )
    base_url: str | None = Field(
        default=None,
        description=f"API host without /v1; falls back to ${BASE_URL_ENV}, then dlt config.",
    )
    space_ids: list[str] | None = Field(
        default=None,
        description=(
            f"Load only these spaces instead of discovering them; falls back to ${SPACE_IDS_ENV} "
            "(comma-separated), then `space_ids` in dlt config."
        ),
    )
    backoff_factor: float | None = Field(
        default=None, description="Seconds factor of the exponential retry backoff (spec: 2)."
    )
    request_timeout: float | None = Field(default=None, description="Per-request timeout (s).")
    max_concurrency: int | None = Field(
        default=None,
        description=(
            f"Requests in flight at once; falls back to ${MAX_CONCURRENCY_ENV}, then "
            f"`max_concurrency` in dlt config, then {MAX_CONCURRENCY}."
        ),
    )
    max_pages: int | None = Field(
        default=None, description="Pages one request chain may follow before it counts as a loop."
    )
    page_size: int | None = Field(
        default=None,
        description=(
            f"`limit` sent to every paginated list; falls back to ${PAGE_SIZE_ENV}, then "
            f"`page_size` in dlt config, then {PAGE_SIZE} (GitBook's maximum)."
        ),
    )
    max_rate_limit_wait: float | None = Field(
        default=None,
        description=(
            "Seconds one sync may spend in all waiting for GitBook's rate-limit windows before it "
            f"fails; falls back to ${MAX_RATE_LIMIT_WAIT_ENV}, then `max_rate_limit_wait` in dlt "
            f"config, then {MAX_RATE_LIMIT_WAIT_SECONDS:.0f}."
        ),
    )
    require_full_access: bool | None = Field(
        default=None,
        description=(
            f"Fail the sync when GitBook refuses the token anything (a 403, or an organization "
            f"whose members it may not list); falls back to ${REQUIRE_FULL_ACCESS_ENV}. Off: "
            "sync what the token may read and say what it may not."
        ),
    )
    full_refetch: bool | None = Field(
        default=None,
        description=(
            f"Fetch every space's content whatever its revision; falls back to "
            f"${FULL_REFETCH_ENV}. Off: only new and edited spaces are fetched."
        ),
    )
    allow_insecure_http: bool | None = Field(
        default=None,
        description=(
            f"Send the token over plain http:// to a non-loopback host; falls back to "
            f"${INSECURE_HTTP_ENV}. Off by default."
        ),
    )
    schema_contract: str | None = Field(
        default=None,
        description=(
            "evolve: a new, retyped or removed GitBook field loads, and the table's schema "
            "check warns; freeze: the run fails naming it and loads nothing. Falls back to "
            "$GITBOOK_SCHEMA_CONTRACT, then `schema_contract` under [sources.gitbook] in dlt "
            "config, then evolve."
        ),
    )
    pii: str | None = Field(
        default=None,
        description=(
            "What is stored of a person (email, name, photo URL): keep, hash (HMAC-SHA256 "
            "under pii_key) or drop; falls back to $GITBOOK_PII, then `pii` under "
            "[sources.gitbook] in dlt config, then keep."
        ),
    )
    pii_key: str | None = Field(
        default=None,
        description=(
            "The HMAC key of pii=hash; falls back to $GITBOOK_PII_KEY, then `pii_key` under "
            "[sources.gitbook] in .dlt/secrets.toml. Set it here only as EnvVar(...): a value "
            "in run config is stored with the run."
        ),
    )

    def attempts(self) -> int:
        """Requests per call before giving up: the configured retries plus the first try."""
        retries = dlt.config.get(f"sources.{SOURCE_NAME}.max_retries", int)
        return (retries if retries is not None else MAX_RETRIES) + 1

    def resolve_access_token(self) -> str:
        token = _first_set(
            self.access_token,
            EnvVar(TOKEN_ENV).get_value(),
            dlt.secrets.get(f"sources.{SOURCE_NAME}.access_token"),
        )
        if not token:
            from analytics_assets.gitbook.errors import GitBookConfigError

            raise GitBookConfigError(f"No GitBook access token is configured. {TOKEN_HINT}")
        return token

    def resolve_space_ids(self) -> list[str] | None:
        if self.space_ids:
            return list(self.space_ids)
        from_env = EnvVar(SPACE_IDS_ENV).get_value()
        if from_env:
            return [part.strip() for part in from_env.split(",") if part.strip()]
        return None

    def resolve_max_concurrency(self) -> int:
        if self.max_concurrency:
            return self.max_concurrency
        from_env = EnvVar(MAX_CONCURRENCY_ENV).get_value()
        if from_env:
            return int(from_env)
        return int(dlt.config.get(f"sources.{SOURCE_NAME}.max_concurrency") or MAX_CONCURRENCY)

    def resolve_allow_insecure_http(self) -> bool | None:
        return _flag(self.allow_insecure_http, INSECURE_HTTP_ENV)

    def resolve_full_refetch(self) -> bool:
        return bool(_flag(self.full_refetch, FULL_REFETCH_ENV))

    def resolve_schema_contract(self) -> "ContractMode":
        from analytics_assets.gitbook.errors import GitBookConfigError
        from analytics_assets.gitbook.schema_drift import (
            CONTRACT_CONFIG,
            CONTRACT_ENV,
            ContractMode,
        )

        configured = _first_set(
            self.schema_contract, EnvVar(CONTRACT_ENV).get_value(), dlt.config.get(CONTRACT_CONFIG)
        )
        try:
            return ContractMode((configured or ContractMode.EVOLVE.value).strip().lower())
        except ValueError:
            choices = ", ".join(mode.value for mode in ContractMode)
            raise GitBookConfigError(
                f"{CONTRACT_ENV} (or `schema_contract` under [sources.gitbook]) is "
                f"{configured!r}; it takes one of {choices}."
            ) from None

    def resolve_personal_data(self) -> "PersonalData":
        """What a sync stores of a person; a bad mode, or `hash` without a key, fails here,
        before any request."""
        from analytics_assets.gitbook.errors import GitBookConfigError
        from analytics_assets.gitbook.personal_data import (
            PII_CONFIG,
            PII_ENV,
            PII_KEY_ENV,
            PII_KEY_SECRET,
            PersonalData,
            PiiMode,
        )

        configured = _first_set(self.pii, EnvVar(PII_ENV).get_value(), dlt.config.get(PII_CONFIG))
        choices = ", ".join(mode.value for mode in PiiMode)
        try:
            mode = PiiMode((configured or PiiMode.KEEP.value).strip().lower())
        except ValueError:
            raise GitBookConfigError(
                f"{PII_ENV} (or `pii` under [sources.gitbook]) is {configured!r}; it takes one "
                f"of {choices}."
            ) from None
        if mode is not PiiMode.HASH:
            return PersonalData(mode)
        key = _first_set(
            self.pii_key, EnvVar(PII_KEY_ENV).get_value(), dlt.secrets.get(PII_KEY_SECRET)
        )
        if not key:
            raise GitBookConfigError(
                f"{PII_ENV}=hash needs a key: set {PII_KEY_ENV}, or `pii_key` under "
                "[sources.gitbook] in .dlt/secrets.toml, to a long random secret (for example "
                "the output of `python -c 'import secrets; print(secrets.token_hex(32))'`), "
                "and keep it: the same key gives the same hashes, run after run."
            )
        return PersonalData(mode, key.encode("utf-8"))

    def build_access(self, warn: Callable[[str], None]) -> "Access":
        """One sync's record of what GitBook refused, strict when full access is required."""
        from analytics_assets.gitbook.access import Access

        return Access(
            strict=bool(_flag(self.require_full_access, REQUIRE_FULL_ACCESS_ENV)), warn=warn
        )

    def _source_kwargs(
        self,
        warn: Callable[[str], None] | None,
        on_page: Callable[[str], None] | None,
        access: "Access | None" = None,
    ) -> dict[str, Any]:
        """Settings both sources take; unset ones are left to dlt's config and defaults."""
        overrides: dict[str, Any] = {
            "access_token": self.resolve_access_token(),
            "base_url": _first_set(self.base_url, EnvVar(BASE_URL_ENV).get_value()),
            "backoff_factor": self.backoff_factor,
            "request_timeout": self.request_timeout,
            "max_pages": self.max_pages,
            "max_concurrency": self.resolve_max_concurrency(),
            "page_size": _first_number(self.page_size, PAGE_SIZE_ENV, int),
            "max_rate_limit_wait": _first_number(
                self.max_rate_limit_wait, MAX_RATE_LIMIT_WAIT_ENV, float
            ),
            "allow_insecure_http": self.resolve_allow_insecure_http(),
            "warn": warn,
            "on_page": on_page,
            "access": access,
        }
        return {key: value for key, value in overrides.items() if value is not None}

    def build_source(
        self,
        warn: Callable[[str], None] | None = None,
        on_page: Callable[[str], None] | None = None,
        access: "Access | None" = None,
        content_plan: "ContentPlan | None" = None,
    ) -> "DltSource":
        """A fresh source for one run (dagster-dlt mutates a reused source's schema).

        `warn` receives warnings meant for the run log, such as a skipped deleted space;
        `on_page` the name of the resource each fetched page belongs to; `content_plan` which
        spaces' content to fetch (default: all).
        """
        from analytics_assets.gitbook import gitbook_source

        space_ids = self.resolve_space_ids()
        kwargs = self._source_kwargs(warn, on_page, access)
        kwargs["personal_data"] = self.resolve_personal_data()
        if content_plan is not None:
            kwargs["content_plan"] = content_plan
        return gitbook_source(**kwargs, **({"space_ids": space_ids} if space_ids else {}))

    def build_site_insights_source(
        self,
        days: Sequence[date],
        warn: Callable[[str], None] | None = None,
        on_page: Callable[[str], None] | None = None,
        access: "Access | None" = None,
        failed_days: "dict[str, FailedDays] | None" = None,
        info: Callable[[str], None] | None = None,
    ) -> "DltSource":
        """A fresh site insights source for these UTC days (one run's partitions); the days it
        could not load are recorded in `failed_days`, per table."""
        from analytics_assets.gitbook.site_insights_source import site_insights_source

        kwargs = self._source_kwargs(warn, on_page, access)
        if info is not None:
            kwargs["info"] = info
        return site_insights_source(list(days), failed_days=failed_days, **kwargs)


# After each load, dlt's staging dataset would keep a full copy of every replaced table and the
# working folder the data files of each load: a second and third copy of everything, personal
# data included. Emptied unless dlt's config sets these keys (to false) itself.
LOAD_CLEANUP = ("load.truncate_staging_dataset", "load.delete_completed_jobs")


def _clean_up_after_loads() -> None:
    for key in LOAD_CLEANUP:
        if dlt.config.get(key) is None:
            dlt.config[key] = True


def _replace_strategy_unset(destination: str) -> bool:
    """Whether dlt's configuration leaves the replace strategy to us (a user's setting wins)."""
    keys = ("destination.replace_strategy", f"destination.{destination}.replace_strategy")
    return all(dlt.config.get(key) is None for key in keys)


class WarehouseResource(ConfigurableResource):
    """Where the data lands: any dlt destination, DuckDB by default."""

    destination: str | None = Field(
        default=None,
        description=f"dlt destination name; falls back to ${DESTINATION_ENV}, then 'duckdb'.",
    )
    duckdb_path: str | None = Field(
        default=None,
        description=f"DuckDB file; falls back to ${DUCKDB_PATH_ENV}, then {DEFAULT_DUCKDB_PATH}.",
    )
    duckdb_memory_limit: str | None = Field(
        default=None,
        description=(
            f"DuckDB's memory_limit during loads; falls back to ${DUCKDB_MEMORY_LIMIT_ENV}, "
            f"then {DEFAULT_DUCKDB_MEMORY_LIMIT}."
        ),
    )
    pipelines_dir: str | None = Field(
        default=None,
        description=(
            f"dlt's local working folder; falls back to ${PIPELINES_DIR_ENV}, then "
            f"{DEFAULT_PIPELINES_DIR}."
        ),
    )
    dataset_name: str = Field(default=DATASET_NAME, description="dlt dataset (schema) name.")

    def resolve_destination(self) -> str:
        return _first_set(self.destination, EnvVar(DESTINATION_ENV).get_value()) or (
            DEFAULT_DESTINATION
        )

    def resolve_duckdb_path(self) -> Path:
        configured = _first_set(self.duckdb_path, EnvVar(DUCKDB_PATH_ENV).get_value())
        path = Path(configured or DEFAULT_DUCKDB_PATH)
        # DuckDB names a file's catalog after the file: in `gitbook.duckdb` every
        # `gitbook.<table>` is ambiguous between that catalog and the schema, and loads fail.
        if path.stem in {self.dataset_name, f"{self.dataset_name}_staging", *OTHER_SCHEMAS}:
            raise ValueError(
                f"{DUCKDB_PATH_ENV} is {str(path)!r}: DuckDB names the file's catalog "
                f"{path.stem!r}, the name of a schema in it, and every query of that schema "
                f"fails as ambiguous. Name the file anything else, e.g. {DEFAULT_DUCKDB_PATH}."
            )
        return path.resolve()

    def resolve_pipelines_dir(self) -> Path:
        configured = _first_set(self.pipelines_dir, EnvVar(PIPELINES_DIR_ENV).get_value())
        return Path(configured or DEFAULT_PIPELINES_DIR).resolve()

    def loader_file_format(self) -> str | None:
        """DuckDB loads Parquet. W2 in benchmarks/ (240,000 rows): Parquet 8.0 s and 482 MB peak,
        INSERT statements 22.7 s and 3.5 GB, JSON lines 12.4 s and 387 MB; but DuckDB cannot load
        an empty JSON lines file (`read_json` finds no columns), and empty tables are routine
        (`empty_tables.py`). Other destinations keep dlt's preferred format."""
        return "parquet" if self.resolve_destination() == "duckdb" else None

    @contextmanager
    def connected(self) -> "Iterator[DuckDBPyConnection | None]":
        """On DuckDB, one connection to the file for a whole step: pass it to `build_pipeline`.

        Without it, dlt opens the file for each load job, each state or schema read and each
        query, and DuckDB writes a checkpoint at every close: 10-25 % of a small sync's CPU. dlt
        hands each thread a duplicate of this connection and never closes it; this closes it
        when the step ends, so the file is free for dbt and other processes between steps.
        Yields None on other destinations."""
        if self.resolve_destination() != "duckdb":
            yield None
            return
        import duckdb

        path = self.resolve_duckdb_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(path)) as connection:
            yield connection

    def build_pipeline(
        self,
        pipeline_name: str = PIPELINE_NAME,
        progress: "Collector | None" = None,
        pipelines_dir: Path | None = None,
        connection: "DuckDBPyConnection | None" = None,
    ) -> dlt.Pipeline:
        """A dlt pipeline for this run; credentials other than DuckDB's come from dlt's config.

        `progress` is a dlt collector that reports the run's extract, normalize and load;
        `pipelines_dir` overrides the configured working folder (for a run-private one);
        `connection` is the step's DuckDB connection (`connected`), used instead of the path.
        """
        from dlt.common.destination import Destination

        name = self.resolve_destination()
        settings: dict[str, Any] = {}
        if _replace_strategy_unset(name) and (
            REPLACE_STRATEGY
            in Destination.from_reference(name).capabilities().supported_replace_strategies
        ):
            # Replaced tables are swapped in one transaction: readers never see them half loaded.
            settings["replace_strategy"] = REPLACE_STRATEGY
        if name == "duckdb":
            from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

            path = self.resolve_duckdb_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            memory_limit = _first_set(
                self.duckdb_memory_limit, EnvVar(DUCKDB_MEMORY_LIMIT_ENV).get_value()
            )
            settings["credentials"] = DuckDbCredentials(
                str(path) if connection is None else connection,
                global_config={"memory_limit": memory_limit or DEFAULT_DUCKDB_MEMORY_LIMIT},
            )
        destination = Destination.from_reference(name, **settings)
        _clean_up_after_loads()
        pipelines_dir = pipelines_dir or self.resolve_pipelines_dir()
        return dlt.pipeline(
            pipeline_name=pipeline_name,
            destination=destination,
            dataset_name=self.dataset_name,
            pipelines_dir=str(pipelines_dir),
            **({"progress": progress} if progress is not None else {}),
        )


@definitions
def defs() -> Definitions:
    """The resources every asset shares; the dbt resource belongs to `models`."""
    return Definitions(
        resources={
            "dlt": DagsterDltResource(),
            "gitbook": GitBookResource(),
            "warehouse": WarehouseResource(),
        }
    )
