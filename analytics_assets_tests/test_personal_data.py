"""GITBOOK_PII: a person's email, name and photo URL kept, hashed with a key, or dropped,
everywhere a sync, a site insights day and the models put data; and dlt's staging copy emptied.
"""

import hashlib
import hmac
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster import DagsterInstance, ExecuteInProcessResult

from analytics_assets.devtools.bundled import run_full_sync, run_models, run_site_insights
from analytics_assets.devtools.fake_api import Dataset, FakeGitBookAPI
from analytics_assets.gitbook.personal_data import (
    PII_ENV,
    PII_KEY_ENV,
    USER_FIELDS,
    PersonalData,
    PiiMode,
)
from analytics_assets_tests.harness import PostgresWarehouse, Runner, Warehouse, failure_message
from analytics_assets_tests.test_security import event_log_text, files_text

PII_KEY = "pii-key-7d41c09e2b5a48f3a6e1"


@pytest.fixture
def dataset() -> Dataset:
    """Anchored today: the site insights partitions start in 2025."""
    return Dataset.demo(anchor=datetime.now(timezone.utc).date())


def served_users(dataset: Dataset) -> dict[str, dict[str, Any]]:
    """The members' users the bundled API serves, by id."""
    return {m["user"]["id"]: m["user"] for rows in dataset.members_by_org.values() for m in rows}


def people(dataset: Dataset) -> set[str]:
    """Every name, email and photo URL the bundled API serves."""
    users = [dataset.user] + [m["user"] for rows in dataset.members_by_org.values() for m in rows]
    return {user[name] for user in users for name in USER_FIELDS if user.get(name)}


def digest(value: str) -> str:
    return hmac.new(PII_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def warehouse_text(path: Path) -> str:
    """Every row of every table and view in the DuckDB file, as text."""
    with duckdb.connect(str(path), read_only=True) as con:
        relations = con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
        return "\n".join(
            repr(con.execute(f'select * from "{schema}"."{table}"').fetchall())
            for schema, table in relations
        )


def test_hash_is_hmac_sha256_under_the_key_and_the_key_is_never_printed() -> None:
    personal = PersonalData(PiiMode.HASH, PII_KEY.encode())
    user = {"id": "u1", "displayName": "Ada", "email": "ada@example.com", "photoURL": None}

    protected = personal.user(user)

    assert protected == {
        "id": "u1",
        "displayName": digest("Ada"),
        "email": digest("ada@example.com"),
        "photoURL": None,
    }
    assert personal.user(user) == protected, "the same key gives the same hashes"
    assert PII_KEY not in repr(personal)
    assert PersonalData(PiiMode.DROP).user(user) == {"id": "u1", "photoURL": None}


def test_hash_without_a_key_fails_before_any_request(
    runner: Runner, fake_api: FakeGitBookAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PII_ENV, "hash")

    result = runner.materialize(raise_on_error=False)

    assert not result.success
    message = failure_message(result)
    assert f"{PII_ENV}=hash needs a key" in message and PII_KEY_ENV in message
    assert fake_api.requests == []


def test_an_unknown_mode_names_the_choices(
    runner: Runner, fake_api: FakeGitBookAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__GITBOOK__PII", "mask")  # dlt's configuration, as config.toml

    result = runner.materialize(raise_on_error=False)

    assert "is 'mask'; it takes one of keep, hash, drop" in failure_message(result)
    assert fake_api.requests == []


def _logs(results: list[ExecuteInProcessResult], instance: DagsterInstance) -> dict[str, str]:
    return {
        f"event log of {result.dagster_run.job_name}": event_log_text(instance, result.run_id)
        for result in results
    }


def test_no_person_is_stored_in_plain_anywhere_under_hash_then_drop(
    fake_api: FakeGitBookAPI,
    dataset: Dataset,
    warehouse: Warehouse,
    instance: DagsterInstance,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Under `hash`: a full sync, a site insights day, the models and a second sync (the same
    digests, no new history versions). Then a sync under `drop`, whose tables the dbt staging
    views read at once. After each, no name, email, photo URL or key anywhere."""
    caplog.set_level("DEBUG")
    monkeypatch.setenv(PII_ENV, "hash")
    # dlt's secrets store, as .dlt/secrets.toml gives it (the other tests use GITBOOK_PII_KEY).
    monkeypatch.setenv("SOURCES__GITBOOK__PII_KEY", PII_KEY)
    gitbook = Runner(fake_api, warehouse, instance).gitbook()
    resource = warehouse.resource()
    results: list[ExecuteInProcessResult] = []
    captured: list[str] = []

    def users() -> list[tuple[Any, ...]]:
        return warehouse.query("select email, display_name, photo_url from gitbook.users")

    def members() -> list[dict[str, Any]]:
        return [json.loads(u) for (u,) in warehouse.query('select "user" from gitbook.org_members')]

    def history() -> list[tuple[Any, ...]]:
        return warehouse.query("select * from gitbook.org_members_history order by all")

    def leaks() -> dict[str, list[str]]:
        out, err = capfd.readouterr()
        captured.extend([out, err])
        haystacks = {
            "tables and views": warehouse_text(warehouse.duckdb_path),
            "files the runs wrote": files_text(tmp_path),
            "stdout and stderr": "\n".join(captured),
            "python logging": caplog.text,
            **_logs(results, instance),
        }
        assert all(haystacks.values()), "every place was captured"
        secrets = people(dataset) | {PII_KEY}
        found = {
            where: sorted(s for s in secrets if s in text) for where, text in haystacks.items()
        }
        return {where: names for where, names in found.items() if names}

    results.append(run_full_sync(gitbook, resource, "DEBUG", instance))
    results.append(run_site_insights(gitbook, resource, [dataset.anchor], "DEBUG", instance))
    results.append(run_models(resource, "DEBUG", instance))
    hashed, versions = users(), history()
    results.append(run_full_sync(gitbook, resource, "DEBUG", instance))

    assert [result.success for result in results] == [True] * 4
    user = dataset.user
    assert hashed == [
        (digest(user["email"]), digest(user["displayName"]), digest(user["photoURL"]))
    ]
    assert users() == hashed and history() == versions, "a second sync changes nothing"
    served = served_users(dataset)
    assert members() and all(m["email"] == digest(served[m["id"]]["email"]) for m in members())
    assert leaks() == {}

    monkeypatch.setenv(PII_ENV, "drop")
    results.append(run_full_sync(gitbook, resource, "DEBUG", instance))

    assert results[-1].success
    assert users() == [(None, None, None)] and history() == versions
    assert members() and all(m["id"] and not set(USER_FIELDS) & set(m) for m in members())
    assert leaks() == {}


def test_switching_to_hash_rewrites_what_keep_stored(
    runner: Runner, dataset: Dataset, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner.materialize(["users", "org_members", "org_members_history"])
    versions = warehouse.query("select * from gitbook.org_members_history order by all")
    monkeypatch.setenv(PII_ENV, "hash")
    monkeypatch.setenv(PII_KEY_ENV, PII_KEY)

    # A run that loads neither table still leaves neither in plain.
    runner.materialize(["organizations"])

    assert warehouse.query("select email from gitbook.users") == [(digest(dataset.user["email"]),)]
    members = [json.loads(u) for (u,) in warehouse.query('select "user" from gitbook.org_members')]
    served = served_users(dataset)
    assert members and all(
        member["displayName"] == digest(served[member["id"]]["displayName"]) for member in members
    )
    text = warehouse_text(warehouse.duckdb_path) + files_text(warehouse.pipelines_dir)
    assert sorted(s for s in people(dataset) if s in text) == []
    assert warehouse.query("select * from gitbook.org_members_history order by all") == versions


def test_staging_copies_are_emptied_after_each_load_unless_dlt_config_keeps_them(
    runner: Runner, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    def staged() -> int:
        tables = warehouse.query(
            "select table_name from information_schema.tables where table_schema = "
            "'gitbook_staging' and table_name not like '_dlt%'"
        )
        counts = [warehouse.query(f"select count(*) from gitbook_staging.{t}") for (t,) in tables]
        return sum(count[0][0] for count in counts)

    runner.materialize(["users", "org_members"])
    assert warehouse.count("org_members") > 0
    assert staged() == 0

    monkeypatch.setenv("LOAD__TRUNCATE_STAGING_DATASET", "false")
    runner.materialize(["users", "org_members"])
    assert staged() > 0


def test_switching_to_drop_rewrites_postgres_too(
    fake_api: FakeGitBookAPI,
    postgres_url: str,
    tmp_path: Path,
    instance: DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres_url)
    warehouse = PostgresWarehouse(postgres_url, tmp_path / "pg_pipelines")
    runner = Runner(fake_api, warehouse, instance)
    runner.materialize(["users", "org_members"])
    assert warehouse.query("select count(*) from gitbook_staging.org_members") == [(0,)]
    monkeypatch.setenv(PII_ENV, "drop")

    runner.materialize(["organizations"])

    assert warehouse.query("select email, display_name, photo_url from gitbook.users") == [
        (None, None, None)
    ]
    members = [user for (user,) in warehouse.query('select "user" from gitbook.org_members')]
    assert members and all(m["id"] and not set(USER_FIELDS) & set(m) for m in members)
