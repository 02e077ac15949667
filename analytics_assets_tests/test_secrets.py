"""The access token never leaves the secrets store: not in logs, events, errors or dlt's files."""

import json
from pathlib import Path

import pytest
from dagster import DagsterInstance
from dagster._serdes import serialize_value

from analytics_assets.devtools.fake_api import FakeGitBookAPI, Fault
from analytics_assets_tests.harness import TEST_TOKEN, Runner, failure_message

REPO_ROOT = Path(__file__).resolve().parents[1]


def event_log_text(instance: DagsterInstance, run_id: str) -> str:
    return "\n".join(serialize_value(record) for record in instance.all_logs(run_id))


def files_text(root: Path) -> str:
    if not root.exists():
        return ""
    return "\n".join(
        path.read_bytes().decode("utf-8", "replace") for path in root.rglob("*") if path.is_file()
    )


@pytest.mark.parametrize("fail", [False, True], ids=["success", "failure"])
def test_token_absent_from_logs_events_errors_and_dlt_files(
    runner: Runner,
    fake_api: FakeGitBookAPI,
    instance: DagsterInstance,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    fail: bool,
) -> None:
    caplog.set_level("DEBUG")
    if fail:
        fake_api.add_fault(Fault(route="/v1/spaces/{spaceId}/content", status=500, times=100))

    result = runner.materialize(raise_on_error=False)

    assert result.success is not fail
    # The token was really in play: every request carried it.
    assert fake_api.requests and all(r.had_valid_token for r in fake_api.requests)
    out, err = capfd.readouterr()
    haystacks = {
        "stdout": out,
        "stderr": err,
        "python logging": caplog.text,
        "dagster event log": event_log_text(instance, result.run_id),
        "materialization metadata": json.dumps(
            [serialize_value(e) for e in result.get_asset_materialization_events()]
        ),
        "dlt pipeline and trace files": files_text(runner.warehouse.pipelines_dir),
        "dlt data dir": files_text(tmp_path / "dlt_data"),
    }
    if fail:
        haystacks["exception"] = failure_message(result)
    assert all(text is not None for text in haystacks.values())
    leaks = [where for where, text in haystacks.items() if TEST_TOKEN in text]
    assert leaks == []
    assert haystacks["dagster event log"], "the event log was captured"
    assert haystacks["dlt pipeline and trace files"], "dlt wrote its state and trace files"


def test_secrets_file_is_git_ignored_and_an_example_is_shipped() -> None:
    ignored = (REPO_ROOT / ".gitignore").read_text().splitlines()
    assert ".dlt/secrets.toml" in ignored
    example = (REPO_ROOT / ".dlt" / "secrets.toml.example").read_text()
    assert "[sources.gitbook]" in example and "access_token" in example
