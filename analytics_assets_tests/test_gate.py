"""The CI gate command: sync, run every check, print a table, exit non-zero on ERROR failures."""

from datetime import date

import pytest

from analytics_assets.devtools import gate
from analytics_assets.devtools.fake_api import LEGACY_TRAFFIC_API, Dataset, FakeGitBookAPI
from analytics_assets_tests.harness import ALL_CHECKS, DBT_TESTS, TEST_TOKEN


def result_lines(printed: str) -> dict[tuple[str, str], str]:
    rows = {}
    for line in printed.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0].startswith(("gitbook/", "analytics/")):
            rows[(parts[0], parts[1])] = parts[3]
    return rows


def test_gate_passes_on_the_bundled_api(capsys: pytest.CaptureFixture[str]) -> None:
    assert gate.main([]) == 0

    printed = capsys.readouterr().out
    results = result_lines(printed)
    assert len(results) == ALL_CHECKS and set(results.values()) == {"pass"}
    assert sum(asset.startswith("analytics/") for asset, _ in results) == DBT_TESTS
    assert "Gate: pass." in printed


def test_gate_fails_when_an_error_check_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = Dataset.demo(anchor=date(2024, 6, 30))
    with FakeGitBookAPI(dataset=stale, token=TEST_TOKEN, api_version=LEGACY_TRAFFIC_API) as api:
        monkeypatch.setenv("GITBOOK_ACCESS_TOKEN", TEST_TOKEN)
        monkeypatch.setenv("GITBOOK_BASE_URL", api.base_url)
        exit_code = gate.main(["--api-from-env"])

    printed = capsys.readouterr().out
    assert exit_code == 1
    assert result_lines(printed)[("gitbook/insights_traffic", "newest_point_is_recent")] == "FAIL"
    assert "1 ERROR failures" in printed and "Gate: FAIL." in printed


def test_gate_fails_when_the_sync_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeGitBookAPI(dataset=Dataset.demo(), token="another-token") as api:
        monkeypatch.setenv("GITBOOK_ACCESS_TOKEN", TEST_TOKEN)
        monkeypatch.setenv("GITBOOK_BASE_URL", api.base_url)
        exit_code = gate.main(["--api-from-env"])

    assert exit_code == 1
    assert "sync FAILED" in capsys.readouterr().out
