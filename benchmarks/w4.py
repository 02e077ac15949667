"""W4, a steady-state re-sync: a first full sync, 4 of 200 spaces edited, then a re-sync.

    python benchmarks/w4.py [--repeats 3]

10 orgs x 20 spaces, 50 ms latency per request, today's API profile (0.202.0), the bundled API
in this process. Both entry points: the project's dlt source and pipeline ("project", what the
asset runs, including reading the loaded revisions back), and `dagster.materialize` of the
GitBook assets ("dagster", checks excluded). Requests are counted by the bundled API; peak RSS
is this process's `ru_maxrss` after each contender (cumulative: an upper bound).
"""

from __future__ import annotations

import argparse
import resource
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import dlt
from dagster import DagsterInstance, materialize
from dagster_dlt import DagsterDltResource

from analytics_assets.defs.resources import GitBookResource, WarehouseResource
from analytics_assets.defs.sync.assets import build_gitbook_assets
from analytics_assets.devtools.fake_api import TODAY_API, Dataset, FakeGitBookAPI
from analytics_assets.devtools.fake_api.edits import edited_spaces
from analytics_assets.gitbook import gitbook_source
from analytics_assets.gitbook.content import ContentPlan, loaded_revisions

EDITED = 4


def project_sync(api: FakeGitBookAPI, token: str, workdir: Path) -> None:
    dlt.config["extract.workers"] = GitBookResource().resolve_max_concurrency()
    warehouse = WarehouseResource(
        duckdb_path=str(workdir / "w4.duckdb"), pipelines_dir=str(workdir / "pipelines")
    )
    with warehouse.connected() as connection:  # as the asset: one open of the file
        pipeline = warehouse.build_pipeline(connection=connection)
        plan = ContentPlan(loaded=loaded_revisions(pipeline))
        source = gitbook_source(access_token=token, base_url=api.base_url, content_plan=plan)
        load = pipeline.run(source, loader_file_format=warehouse.loader_file_format())
        load.raise_on_failed_jobs()


def dagster_sync(api: FakeGitBookAPI, token: str, workdir: Path) -> None:
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [build_gitbook_assets()],
            instance=instance,
            resources={
                "dlt": DagsterDltResource(),
                "gitbook": GitBookResource(access_token=token, base_url=api.base_url),
                "warehouse": WarehouseResource(
                    duckdb_path=str(workdir / "w4d.duckdb"),
                    pipelines_dir=str(workdir / "pipelines_d"),
                ),
            },
        )
        assert result.success


def measure(api: FakeGitBookAPI, sync: Callable[[], None]) -> tuple[float, int, int]:
    api.clear_requests()
    started = time.perf_counter()
    sync()
    wall = time.perf_counter() - started
    content = len(api.requests_to("/v1/spaces/{spaceId}/content"))
    return wall, len(api.requests), content


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rows = []
    for name, sync in (("project", project_sync), ("dagster", dagster_sync)):
        firsts, resyncs = [], []
        for _ in range(args.repeats):
            token = secrets.token_urlsafe(16)
            dataset = Dataset.generate(orgs=10, spaces_per_org=20, members_per_org=20)
            with (
                tempfile.TemporaryDirectory() as tmp,
                FakeGitBookAPI(
                    dataset=dataset, token=token, latency=0.05, api_version=TODAY_API
                ) as api,
            ):
                first = measure(api, lambda: sync(api, token, Path(tmp)))  # noqa: B023
                chosen = [s["id"] for s in api.dataset.spaces[:: len(api.dataset.spaces) // 4]]
                api.dataset = edited_spaces(api.dataset, chosen[:EDITED])
                resync = measure(api, lambda: sync(api, token, Path(tmp)))  # noqa: B023
                firsts.append(first)
                resyncs.append(resync)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        f_wall = statistics.median(f[0] for f in firsts)
        r_wall = statistics.median(r[0] for r in resyncs)
        rows.append(
            f"| W4 | {name} | {f_wall:.2f} | {firsts[0][1]} ({firsts[0][2]} content) | "
            f"{r_wall:.2f} | {resyncs[0][1]} ({resyncs[0][2]} content) | "
            f"**{r_wall / f_wall:.3f}** | {rss} |"
        )
    print("| workload | contender | first sync s | first requests | re-sync s | re-sync requests "
          "| re-sync / first | peak RSS MB |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
