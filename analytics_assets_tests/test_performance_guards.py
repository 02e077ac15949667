"""Behaviour the speed work must keep: the request cap holds, and loading the code location
touches neither the network nor the disk. (Timings live in benchmarks/, not here.)"""

import subprocess
import sys
from pathlib import Path

from analytics_assets.defs.models.project import TARGET_PATH_ENV, prepared_project
from analytics_assets.devtools.fake_api import LEGACY_TRAFFIC_API, Dataset, FakeGitBookAPI
from analytics_assets_tests.harness import TEST_TOKEN, Runner, Warehouse

PROBE = """
import sys
events = []

def audit(event, args):
    if event == "socket.connect":
        events.append(f"connect {args[1]!r}")
    elif event == "open" and isinstance(args[0], (str, bytes)):
        mode = args[1] if len(args) > 1 and isinstance(args[1], str) else ""
        flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
        writing = any(c in mode for c in "wax+") or flags & 0o3  # O_WRONLY | O_RDWR
        if writing and args[0] not in ("/dev/null", b"/dev/null"):
            events.append(f"write {args[0]!r}")

sys.addaudithook(audit)
from analytics_assets.definitions import defs
defs()
print("\\n".join(events))
"""


def test_children_are_fetched_concurrently_within_the_cap(warehouse: Warehouse, instance) -> None:
    dataset = Dataset.generate(orgs=2, spaces_per_org=6, pages_per_space=12)
    with FakeGitBookAPI(
        dataset=dataset, token=TEST_TOKEN, latency=0.03, api_version=LEGACY_TRAFFIC_API
    ) as api:
        runner = Runner(api, warehouse, instance)
        assert runner.materialize(max_concurrency=3).success
        assert api.max_in_flight == 3
        api.clear_requests()
        assert runner.materialize(max_concurrency=1).success
        assert api.max_in_flight == 1
    assert {t: warehouse.count(t) for t in dataset.expected_row_counts()} == (
        dataset.expected_row_counts()
    )


def test_loading_definitions_opens_no_socket_and_writes_no_file(tmp_path: Path) -> None:
    """With a current dbt manifest, as a deployment prepares it at build time."""
    dbt_folder = prepared_project().target_path.parent
    completed = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=tmp_path,
        # Bytecode caches are Python's, not ours; everything else must stay untouched.
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "PYTHONDONTWRITEBYTECODE": "1",
            TARGET_PATH_ENV: str(dbt_folder),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip() == ""
    assert list(tmp_path.iterdir()) == []
