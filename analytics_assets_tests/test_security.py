"""The token stays secret: not in logs, events, errors or dlt's files, not over plain HTTP to
another host, not across a redirect to another host."""

import json
from pathlib import Path

import pytest
from dagster import DagsterInstance
from dagster._serdes import serialize_value

from analytics_assets.defs.resources import GitBookResource
from analytics_assets.devtools.fake_api import FakeGitBookAPI, Fault
from analytics_assets.gitbook.errors import GitBookConfigError
from analytics_assets.gitbook.http import require_safe_base_url
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


@pytest.mark.parametrize(
    "base_url",
    [
        "https://api.gitbook.com",
        "http://127.0.0.1:8000",
        "http://localhost:8000",
        "http://[::1]:80",
    ],
)
def test_https_and_loopback_http_are_accepted(base_url: str) -> None:
    assert require_safe_base_url(base_url) == base_url


@pytest.mark.parametrize("base_url", ["http://api.gitbook.com", "http://10.0.0.5", "ftp://x"])
def test_plain_http_to_another_host_is_refused_unless_opted_out(base_url: str) -> None:
    with pytest.raises(GitBookConfigError, match="GITBOOK_"):
        require_safe_base_url(base_url)
    if base_url.startswith("http:"):
        assert require_safe_base_url(base_url, allow_insecure_http=True) == base_url


def test_a_run_against_plain_http_elsewhere_fails_before_any_request(runner: Runner) -> None:
    result = runner.materialize(
        ["users"], raise_on_error=False, base_url="http://api.gitbook.example"
    )

    assert "Refusing to send the GitBook token over plain HTTP" in failure_message(result)
    assert "GITBOOK_ALLOW_INSECURE_HTTP" in failure_message(result)


def test_the_opt_out_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert GitBookResource().resolve_allow_insecure_http() is None
    monkeypatch.setenv("GITBOOK_ALLOW_INSECURE_HTTP", "true")
    assert GitBookResource().resolve_allow_insecure_http() is True


def test_a_redirect_to_another_host_does_not_carry_the_token(
    runner: Runner, fake_api: FakeGitBookAPI
) -> None:
    # 127.0.0.2 is loopback too, but to an HTTP client it is another host.
    with FakeGitBookAPI(token="other-host-token", host="127.0.0.2") as other:
        fake_api.add_fault(
            Fault(
                route="/v1/orgs",
                status=302,
                headers={"Location": f"{other.base_url}/v1/orgs"},
                times=None,
            )
        )
        runner.materialize(["organizations"], raise_on_error=False)
        redirected = other.requests_to("/v1/orgs")

    assert fake_api.requests_to("/v1/orgs")[0].sent_authorization
    assert redirected, "the client followed the redirect"
    assert not any(r.sent_authorization for r in redirected)
