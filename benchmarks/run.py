"""Benchmark: plain dlt (the design document's config) against this project, on the bundled API.

    .venv/bin/python benchmarks/run.py [--workloads W1,W2,W3,W4,CLI] [--repeats 3]

Each contender runs in its own process (its peak RSS is its own) against the same bundled API,
started here with the workload's latency and page size. Prints medians over the repeats.
"""

import argparse
import json
import math
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from analytics_assets.devtools.fake_api import LEGACY_TRAFFIC_API, Dataset, FakeGitBookAPI
from analytics_assets.devtools.report import format_table
from analytics_assets.gitbook.settings import MAX_CONCURRENCY, PAGE_SIZE

HERE = Path(__file__).resolve().parent
CONTENDERS = ("baseline", "project", "dagster")


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    latency: float
    page_size: int
    dataset: Callable[[], Dataset]
    contenders: tuple[str, ...] = CONTENDERS


def latency_bound(orgs: int) -> Dataset:
    """W1's account shape with `orgs` organizations of 8 spaces each."""
    return Dataset.generate(
        orgs=orgs,
        spaces_per_org=8,
        members_per_org=60,
        pages_per_space=30,
        traffic_points_per_space=30,
        awkward_ids=False,  # the baseline does not URL-encode ids and would 404
    )


WORKLOADS = {
    "W1": Workload(
        "W1",
        "latency-bound: 50 ms/request, 4 orgs x 8 spaces, 60 members/org, 30 pages and 30 "
        "traffic points/space, page size 10",
        latency=0.05,
        page_size=10,
        dataset=lambda: latency_bound(orgs=4),
    ),
    "W2": Workload(
        "W2",
        "volume: no latency, 20 spaces x (10,000 traffic points + 2,000 pages), page size 1000",
        latency=0.0,
        page_size=1000,
        dataset=lambda: Dataset.generate(
            orgs=1,
            spaces_per_org=20,
            members_per_org=10,
            pages_per_space=2000,
            traffic_points_per_space=10_000,
            awkward_ids=False,
        ),
    ),
    "CLI": Workload(
        "CLI",
        "headless CLI run, checks included, from process start: 50 ms/request, 8 orgs x 8 "
        "spaces, 60 members/org, 30 pages and 30 traffic points/space, page size 10",
        latency=0.05,
        page_size=10,
        dataset=lambda: latency_bound(orgs=8),
        contenders=("baseline", "cli"),
    ),
}
# What each figure must meet: (workload, contender, column, most).
TARGETS = (
    ("W1", "project", "x baseline", 0.15),
    ("W1", "dagster", "x baseline", 0.2),
    ("W2", "project", "peak RSS MB", 400),
    ("W2", "dagster", "peak RSS MB", 400),
    ("CLI", "cli", "x baseline", 0.3),
)


@dataclass
class Sample:
    wall: float
    rows: int
    requests: int
    peak_rss_mb: float


def pages(items: int, page_size: int) -> int:
    return max(1, math.ceil(items / page_size))


def critical_path_pages(dataset: Dataset, page_size: int, list_page_size: int) -> int:
    """The longest chain of requests that must happen one after another.

    `list_page_size` is the page of GitBook's paginated lists (orgs, spaces, members), which a
    client sets with `limit`; content and traffic pages are the server's `page_size`.
    """
    orgs = dataset.organizations
    longest_org_branch = 0
    for org in orgs:
        spaces = dataset.spaces_of(org["id"])
        per_space = max(
            (
                max(
                    pages(len(dataset.pages_of(s["id"])), page_size),
                    pages(len(dataset.traffic_of(s["id"])), page_size),
                )
                for s in spaces
            ),
            default=0,
        )
        longest_org_branch = max(
            longest_org_branch,
            pages(len(dataset.members_of(org["id"])), list_page_size),
            pages(len(spaces), list_page_size) + per_space,
        )
    return pages(len(orgs), list_page_size) + longest_org_branch


def run_contender(contender: str, api: FakeGitBookAPI, token: str) -> Sample:
    api.clear_requests()
    with tempfile.TemporaryDirectory(prefix=f"bench-{contender}-") as workdir:
        process = subprocess.Popen(
            [sys.executable, str(HERE / "contenders.py"), contender, api.base_url, workdir],
            env={**os.environ, "GITBOOK_ACCESS_TOKEN": token},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert process.stdout is not None
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{contender} failed with exit code {process.returncode}")
    outcome = json.loads(output.decode().strip().splitlines()[-1])
    return Sample(
        wall=outcome["wall"],
        rows=int(outcome["rows"]),
        requests=len(api.requests),
        peak_rss_mb=usage.ru_maxrss / 1024,
    )


def bench_workload(workload: Workload, repeats: int) -> list[list[object]]:
    dataset = workload.dataset()
    token = secrets.token_urlsafe(16)
    samples: dict[str, list[Sample]] = {c: [] for c in workload.contenders}
    # The 0.91 profile: the design document (the baseline) still loads space traffic.
    with FakeGitBookAPI(
        dataset=dataset,
        token=token,
        default_page_size=workload.page_size,
        latency=workload.latency,
        api_version=LEGACY_TRAFFIC_API,
    ) as api:
        for _ in range(repeats):
            for contender in workload.contenders:
                samples[contender].append(run_contender(contender, api, token))

    def median(contender: str, field: str) -> float:
        return statistics.median(getattr(s, field) for s in samples[contender])

    baseline_wall = median("baseline", "wall")
    rows = []
    for contender in workload.contenders:
        wall = median(contender, "wall")
        requests = int(median(contender, "requests"))
        # The baseline never sends `limit`; this project sends its page size (1000 by default).
        list_page_size = workload.page_size if contender == "baseline" else project_page_size()
        floor = max(
            critical_path_pages(dataset, workload.page_size, list_page_size) * workload.latency,
            requests * workload.latency / MAX_CONCURRENCY,
        )
        rows.append(
            [
                workload.name,
                contender,
                f"{wall:.2f}",
                requests,
                f"{requests / wall:.0f}",
                int(median(contender, "rows")),
                f"{median(contender, 'rows') / wall:.0f}",
                f"{median(contender, 'peak_rss_mb'):.0f}",
                f"{wall / baseline_wall:.3f}",
                f"{floor:.2f}" if workload.latency else "-",
                f"{wall / floor:.2f}" if workload.latency else "-",
            ]
        )
    return rows


def project_page_size() -> int:
    """The `limit` this project's contenders send: dlt's `sources.gitbook.page_size` when set
    (`SOURCES__GITBOOK__PAGE_SIZE=10` re-creates the runs before `limit` was sent)."""
    return int(os.environ.get("SOURCES__GITBOOK__PAGE_SIZE") or PAGE_SIZE)


def time_command(code: str, repeats: int) -> float:
    walls = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        walls.append(time.perf_counter() - started)
    return statistics.median(walls)


def bench_definitions(repeats: int) -> list[list[object]]:
    """W3: loading the code location against importing what it is built on."""
    # What the code location is built on, dagster-dbt included since the dbt models.
    imports = time_command("import dagster, dagster_dlt, dlt, dagster_dbt", repeats)
    definitions = time_command("from analytics_assets.definitions import defs; defs()", repeats)
    return [
        [
            "W3",
            "import dagster, dagster_dlt, dlt, dagster_dbt",
            f"{imports:.2f}",
            "",
            "",
            "",
            "",
            "",
            "1.000",
        ],
        [
            "W3",
            "load analytics_assets.definitions",
            f"{definitions:.2f}",
            "",
            "",
            "",
            "",
            "",
            f"{definitions / imports:.3f}",
        ],
    ]


def bench_resync(repeats: int) -> None:
    """W4, the steady-state re-sync, runs in its own process (w4.py) and prints its own table."""
    print("W4: a re-sync after 4 of 200 spaces were edited, 50 ms/request", flush=True)
    command = [sys.executable, str(HERE / "w4.py"), "--repeats", str(repeats)]
    subprocess.run(command, check=True)
    print("target: re-sync / first <= 0.25 for both contenders\n", flush=True)


def verdicts(headers: list[str], rows: list[list[object]]) -> list[str]:
    """One line per target of a workload that ran: the figure, the target, met or not."""
    lines = []
    for workload, contender, column, most in TARGETS:
        for row in rows:
            if row[0] == workload and row[1] == contender:
                figure = float(str(row[headers.index(column)]))
                verdict = "met" if figure <= most else "NOT MET"
                lines.append(f"{workload} {contender} {column} {figure:g} <= {most:g}: {verdict}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="W1,W2,W3,W4,CLI")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    print(
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} cores, concurrency cap "
        f"{MAX_CONCURRENCY}, medians of {args.repeats}"
    )
    headers = [
        "workload",
        "contender",
        "wall s",
        "requests",
        "req/s",
        "rows",
        "rows/s",
        "peak RSS MB",
        "x baseline",
        "floor s",
        "x floor",
    ]
    rows: list[list[object]] = []
    for name in args.workloads.split(","):
        if name == "W3":
            new = bench_definitions(max(args.repeats, 5))
        elif name == "W4":
            bench_resync(args.repeats)
            continue
        else:
            print(f"{name}: {WORKLOADS[name].description}", flush=True)
            new = bench_workload(WORKLOADS[name], args.repeats)
        rows += [row + [""] * (len(headers) - len(row)) for row in new]
        print(format_table(headers, rows[-len(new) :]), flush=True)
    print()
    print(format_table(headers, rows))
    print("\n".join(verdicts(headers, rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
