"""Take the README's screenshot of the asset graph from a real `dagster dev`.

    python -m analytics_assets.devtools.screenshot [--out docs/asset-graph.png]

Starts `dagster dev` on the bundled API (no token, no network, a throwaway warehouse), runs the
full sync through GraphQL so the graph shows materialized assets and passed checks, then points
headless Chromium at the `gitbook` group's lineage page. Chromium is a developer tool here, not a
test dependency: pass `--chromium` or set CHROMIUM_BIN if it is not on PATH.
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

from analytics_assets.devtools.bundled import bundled_gitbook, recent_days
from analytics_assets.devtools.webserver import DagsterDev, DagsterDevError, dagster_dev
from analytics_assets.jobs import FULL_SYNC_JOB_NAME
from analytics_assets.resources import BASE_URL_ENV, DUCKDB_PATH_ENV, PIPELINES_DIR_ENV, TOKEN_ENV
from analytics_assets.site_insights_assets import SITE_INSIGHTS_KEY

DEFAULT_OUT = Path("docs") / "asset-graph.png"
CHROMIUM_ENV = "CHROMIUM_BIN"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
GROUP_NAME = "gitbook"
WINDOW = (1600, 1300)  # tall enough for the eight assets at the zoom the UI picks
# Virtual time Chromium grants the page before it shoots: enough for the app to load, query
# GraphQL and lay out the graph; it finishes in a few real seconds when the page goes idle.
VIRTUAL_TIME_BUDGET_MS = 20_000
CHROMIUM_TIMEOUT = 180.0
# The UI opens a "Join the Dagster community" dialog over every page served from
# 127.0.0.1/localhost until this mutation records (in the throwaway instance) that it was seen.
NUX_SEEN_MUTATION = "mutation { setNuxSeen }"
DEFAULT_REPOSITORY = "__repository__"


def find_chromium(explicit: str | None) -> str:
    """--chromium, else $CHROMIUM_BIN, else the first Chromium or Chrome on PATH."""
    candidate = explicit or os.environ.get(CHROMIUM_ENV)
    if candidate:
        return candidate
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit(
        f"No Chromium found: install it (Debian: apt-get install chromium), pass --chromium, "
        f"or set {CHROMIUM_ENV}."
    )


def group_lineage_url(dev: DagsterDev, group: str = GROUP_NAME) -> str:
    """The UI page of one asset group's graph (the route /locations/:repoPath/asset-groups/:g)."""
    repository = dev.repository()
    repo_path = repository.location_name
    if repository.repository_name != DEFAULT_REPOSITORY:
        repo_path = f"{repository.repository_name}@{repo_path}"
    return f"{dev.url}/locations/{quote(repo_path)}/asset-groups/{quote(group)}"


def chromium_command(chromium: str, profile: Path, out: Path, url: str) -> list[str]:
    """Headless Chromium that talks to nothing but the page, in a fresh profile."""
    width, height = WINDOW
    return [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}",
        f"--screenshot={out}",
        url,
    ]


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk: proof Chromium wrote a whole image."""
    header = path.read_bytes()[:24]
    if header[:8] != b"\x89PNG\r\n\x1a\n":
        raise RuntimeError(f"{path} is not a PNG")
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def shoot(chromium: str, url: str, out: Path) -> None:
    """Screenshot `url` to `out`; raises with Chromium's output if it fails."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        completed = subprocess.run(
            chromium_command(chromium, Path(profile), out.resolve(), url),
            capture_output=True,
            text=True,
            timeout=CHROMIUM_TIMEOUT,
            check=False,
        )
    if completed.returncode != 0 or not out.exists():
        raise RuntimeError(
            f"Chromium exited with {completed.returncode} and wrote no screenshot:\n"
            f"{completed.stdout}{completed.stderr}"
        )
    if png_size(out) != WINDOW:
        raise RuntimeError(f"{out} is {png_size(out)}, expected {WINDOW}")


def materialize_everything(dev: DagsterDev) -> None:
    """Run the full sync (every asset, then every check), then backfill the last week of site
    insights, as a user would from the UI."""
    run_id = dev.launch_job(FULL_SYNC_JOB_NAME)
    status = dev.wait_for_run(run_id)
    if status != "SUCCESS":
        errors = "\n".join(dev.run_errors(run_id))
        raise DagsterDevError(f"the full sync ended {status}:\n{errors}")
    days = [day.isoformat() for day in recent_days()]
    backfill_id = dev.launch_backfill([SITE_INSIGHTS_KEY.path], days)
    status, runs = dev.wait_for_backfill(backfill_id)
    if status != "COMPLETED_SUCCESS":
        raise DagsterDevError(f"the site insights backfill ended {status}: {runs}")


def server_env(base_url: str, token: str, scratch: Path) -> Mapping[str, str]:
    """Point the code location at the bundled API and a warehouse under `scratch`."""
    return {
        BASE_URL_ENV: base_url,
        TOKEN_ENV: token,
        DUCKDB_PATH_ENV: str(scratch / "warehouse.duckdb"),
        PIPELINES_DIR_ENV: str(scratch / "dlt_pipelines"),
        "DLT_DATA_DIR": str(scratch / "dlt_data"),
    }


def take_screenshot(out: Path, chromium: str, materialize: bool = True) -> str:
    """Start everything, optionally sync, shoot; the URL that was shot."""
    with (
        tempfile.TemporaryDirectory(prefix="asset-graph-") as scratch,
        bundled_gitbook() as gitbook,
    ):
        assert gitbook.base_url and gitbook.access_token
        env = server_env(gitbook.base_url, gitbook.access_token, Path(scratch))
        with dagster_dev(env) as dev:
            if materialize:
                materialize_everything(dev)
            dev.graphql(NUX_SEEN_MUTATION)
            url = group_lineage_url(dev)
            shoot(chromium, url, out)
    return url


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="PNG to write")
    parser.add_argument("--chromium", help=f"Chromium binary (default: ${CHROMIUM_ENV} or PATH)")
    parser.add_argument(
        "--no-materialize",
        action="store_true",
        help="shoot the graph as definitions only, without running the sync first",
    )
    args = parser.parse_args(argv)

    url = take_screenshot(args.out, find_chromium(args.chromium), not args.no_materialize)
    print(f"Wrote {args.out} ({url})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
