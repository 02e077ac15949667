"""The headless path a user runs against the real API, here pointed at the bundled one."""

import os
import subprocess
import sys
from pathlib import Path

import duckdb

from analytics_assets.devtools.fake_api import Dataset, FakeGitBookAPI
from analytics_assets_tests.harness import TEST_TOKEN


def test_dagster_cli_materializes_every_asset_from_environment_settings(
    fake_api: FakeGitBookAPI, dataset: Dataset, tmp_path: Path
) -> None:
    duckdb_path = tmp_path / "cli.duckdb"
    (tmp_path / "dagster_home").mkdir()
    env = {
        **os.environ,
        "GITBOOK_ACCESS_TOKEN": TEST_TOKEN,
        "GITBOOK_BASE_URL": fake_api.base_url,
        "ANALYTICS_DUCKDB_PATH": str(duckdb_path),
        "ANALYTICS_DLT_PIPELINES_DIR": str(tmp_path / "pipelines"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster",
            "job",
            "execute",
            "-m",
            "analytics_assets.definitions",
            "-j",
            "gitbook_full_sync",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    assert TEST_TOKEN not in completed.stdout + completed.stderr
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        counts = {
            table: con.execute(f"select count(*) from gitbook.{table}").fetchall()[0][0]
            for table in dataset.expected_row_counts()
        }
    assert counts == dataset.expected_row_counts()
