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
    duckdb_path, report = tmp_path / "demo.duckdb", tmp_path / "report.html"
    exit_code = demo.main(
        [
            *("--duckdb-path", str(duckdb_path)),
            *("--pipelines-dir", str(tmp_path / "pipelines")),
            *("--report-path", str(report)),
        ]
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
    # Four marts next to the row counts, each with rows, and the report's path.
    for title in demo.MART_QUERIES:
        section = printed.split(f"{title}:\n", 1)[1].strip("\n").split("\n\n", 1)[0]
        assert len(section.splitlines()) > 2, title  # the header, its rule, and a row at least
    assert "Searches without results, last 30 days" in printed
    assert "Worst-rated pages, last 30 days" in printed
    assert f"The insights report, charts of the marts: {report.as_uri()}" in printed
    assert "<svg" in report.read_text(encoding="utf-8")
