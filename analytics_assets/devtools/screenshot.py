"""Take the docs' screenshots of the asset graph from a real `dagster dev`.

    python -m analytics_assets.devtools.screenshot [--out docs/asset-graph.png]
        [--models-out docs/models-graph.png]

Starts `dagster dev` on the bundled API (no token, no network, a throwaway warehouse), runs the
full sync, a week of site insights and the dbt models through GraphQL so the graphs show
materialized assets and passed checks, then points headless Chromium at the lineage page of the
`gitbook` group and of the `analytics` group (the models, with the `gitbook` tables they read).
Chromium is Debian's, as for the report test: pass `--chromium` or set CHROMIUM_BIN
if it is not on PATH.
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
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from analytics_assets.defs.jobs.jobs import FULL_SYNC_JOB_NAME, MODELS_JOB_NAME
from analytics_assets.defs.models import MODELS_GROUP
from analytics_assets.defs.models.project import TARGET_PATH_ENV
from analytics_assets.defs.resources import (
    BASE_URL_ENV,
    DUCKDB_PATH_ENV,
    PIPELINES_DIR_ENV,
    TOKEN_ENV,
)
from analytics_assets.defs.sync.site_insights import SITE_INSIGHTS_KEYS
from analytics_assets.devtools.bundled import bundled_gitbook, recent_days
from analytics_assets.devtools.webserver import DagsterDev, DagsterDevError, dagster_dev

DEFAULT_OUT = Path("docs") / "asset-graph.png"
DEFAULT_MODELS_OUT = Path("docs") / "models-graph.png"
CHROMIUM_ENV = "CHROMIUM_BIN"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
GROUP_NAME = "gitbook"
WINDOW = (1600, 1300)


@dataclass(frozen=True)
class Shot:
    """One group's lineage page: the window (CSS pixels) and the scale that fit its graph."""

    group: str
    window: tuple[int, int] = WINDOW
    scale: float = 1.0

    @property
    def size(self) -> tuple[int, int]:
        """The PNG's size in pixels."""
        return (round(self.window[0] * self.scale), round(self.window[1] * self.scale))


# Eleven tables and the models that read them, then twenty nodes (thirteen models and the seven
# tables they read): pages larger than the window, drawn smaller so the whole graph fits.
SYNC_SHOT = Shot(GROUP_NAME, window=(2600, 2000), scale=0.75)
MODELS_SHOT = Shot(MODELS_GROUP, window=(3200, 2400), scale=0.75)
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


def chromium_command(
    chromium: str, profile: Path, out: Path, url: str, shot: Shot = SYNC_SHOT
) -> list[str]:
    """Headless Chromium that talks to nothing but the page, in a fresh profile."""
    width, height = shot.window
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
        f"--force-device-scale-factor={shot.scale}",
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


def shoot(chromium: str, url: str, out: Path, shot: Shot = SYNC_SHOT) -> None:
    """Screenshot `url` to `out`; raises with Chromium's output if it fails."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        completed = subprocess.run(
            chromium_command(chromium, Path(profile), out.resolve(), url, shot),
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
    if png_size(out) != shot.size:
        raise RuntimeError(f"{out} is {png_size(out)}, expected {shot.size}")


def materialize_everything(dev: DagsterDev) -> None:
    """Run the full sync (every asset, then every check), backfill the last week of site
    insights, then build the dbt models, as a user would from the UI."""
    run_id = dev.launch_job(FULL_SYNC_JOB_NAME)
    status = dev.wait_for_run(run_id)
    if status != "SUCCESS":
        errors = "\n".join(dev.run_errors(run_id))
        raise DagsterDevError(f"the full sync ended {status}:\n{errors}")
    days = [day.isoformat() for day in recent_days()]
    backfill_id = dev.launch_backfill([key.path for key in SITE_INSIGHTS_KEYS], days)
    status, runs = dev.wait_for_backfill(backfill_id)
    if status != "COMPLETED_SUCCESS":
        raise DagsterDevError(f"the site insights backfill ended {status}: {runs}")
    run_id = dev.launch_job(MODELS_JOB_NAME)
    status = dev.wait_for_run(run_id)
    if status != "SUCCESS":
        errors = "\n".join(dev.run_errors(run_id))
        raise DagsterDevError(f"the dbt models ended {status}:\n{errors}")


def server_env(base_url: str, token: str, scratch: Path) -> Mapping[str, str]:
    """Point the code location at the bundled API and a warehouse under `scratch`."""
    return {
        BASE_URL_ENV: base_url,
        TOKEN_ENV: token,
        DUCKDB_PATH_ENV: str(scratch / "warehouse.duckdb"),
        PIPELINES_DIR_ENV: str(scratch / "dlt_pipelines"),
        "DLT_DATA_DIR": str(scratch / "dlt_data"),
        TARGET_PATH_ENV: str(scratch / "dbt"),
    }


def take_screenshots(
    shots: Mapping[Path, Shot], chromium: str, materialize: bool = True
) -> list[str]:
    """Start everything, optionally sync and build, shoot each group; the URLs that were shot."""
    urls = []
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
            for out, shot in shots.items():
                urls.append(group_lineage_url(dev, shot.group))
                shoot(chromium, urls[-1], out, shot)
    return urls


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the gitbook group's PNG")
    parser.add_argument(
        "--models-out", type=Path, default=DEFAULT_MODELS_OUT, help="the models' group's PNG"
    )
    parser.add_argument("--chromium", help=f"Chromium binary (default: ${CHROMIUM_ENV} or PATH)")
    parser.add_argument(
        "--no-materialize",
        action="store_true",
        help="shoot the graph as definitions only, without running the sync first",
    )
    args = parser.parse_args(argv)

    shots = {args.out: SYNC_SHOT, args.models_out: MODELS_SHOT}
    urls = take_screenshots(shots, find_chromium(args.chromium), not args.no_materialize)
    for out, url in zip(shots, urls, strict=True):
        print(f"Wrote {out} ({url})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
