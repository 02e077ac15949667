"""The README's first command: the jobs on the bundled API into DuckDB, with a table."""

from pathlib import Path

import pytest

from analytics_assets.devtools import demo
from analytics_assets.devtools.bundled import recent_days
from analytics_assets.devtools.fake_api import Dataset
from analytics_assets_tests.harness import ALL_CHECKS


def test_demo_runs_the_main_job_and_prints_rows_per_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    duckdb_path = tmp_path / "demo.duckdb"
    exit_code = demo.main(
        ["--duckdb-path", str(duckdb_path), "--pipelines-dir", str(tmp_path / "pipelines")]
    )

    assert exit_code == 0
    assert duckdb_path.exists()
    captured = capsys.readouterr()
    printed = captured.out
    # No traceback for the user to wonder about (dagster-dbt's adapter handle, for one).
    logged = captured.err + "\n".join(r.getMessage() for r in caplog.records)
    assert "Traceback" not in logged and "dbt adapter" not in logged
    rows = {
        line.split()[0]: int(line.split()[1])
        for line in printed.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }
    # The demo serves today's GitBook, which no longer has space traffic.
    for table, count in Dataset.demo().expected_row_counts(traffic=False).items():
        assert rows[table] == count
    assert rows["site_insights_daily"] == Dataset.demo().expected_site_insight_rows(recent_days())
    assert f"Asset checks (dbt tests included): {ALL_CHECKS} of {ALL_CHECKS} passed." in printed
    # Two marts next to the row counts: the top pages and the broken URLs.
    assert "Top pages, last 30 days (analytics.top_pages_30d):" in printed
    assert "Broken URLs, people's real 404s by views (analytics.broken_urls):" in printed
