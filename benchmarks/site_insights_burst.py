"""A bot-burst day of site insights: how many POSTs and how long one (site, day) takes.

    .venv/bin/python benchmarks/site_insights_burst.py [--urls 1100] [--latency 0.05]

One site of the bundled API gets `--urls` distinct 404 URLs within one hour (a bot scanning a
public site), on top of its normal day; `fetch_day` then loads that day over real HTTP, with
GitBook's 1,000-group limit and every body validated against GitBook's schema. Prints the POSTs,
the wall time, the finest window queried and whether every group came back.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from datetime import date
from typing import Any

import requests

from analytics_assets.devtools.fake_api import TODAY_API, Dataset, FakeGitBookAPI
from analytics_assets.gitbook.site_insights_query import fetch_day

TOKEN = "benchmark-token"
SITE = "site_docs"
DAY = date(2024, 6, 30)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=1100, help="distinct 404 URLs in the hour")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    args = parser.parse_args(argv)

    dataset = Dataset.demo().with_bot_burst(SITE, DAY, urls=args.urls)
    with (
        FakeGitBookAPI(
            dataset=dataset, token=TOKEN, api_version=TODAY_API, latency=args.latency
        ) as api,
        requests.Session() as http,
    ):
        path = f"/v1/orgs/{dataset.site_org(SITE)}/sites/{SITE}/insights/events/aggregate"
        http.headers["Authorization"] = f"Bearer {TOKEN}"
        windows: list[dict[str, str]] = []

        def post(body: dict[str, Any]) -> Any:
            windows.append(body["range"])
            response = http.post(api.base_url + path, json=body, timeout=60)
            response.raise_for_status()
            return response.json()

        started = time.perf_counter()
        rows = fetch_day(post, DAY, site_id=SITE)
        wall = time.perf_counter() - started

    expected = dataset.expected_site_insights(SITE, DAY)
    complete = len(rows) == len(expected) and sum(r["events_count"] for r in rows) == sum(
        counts[0] for counts in expected.values()
    )
    narrowest = min(windows, key=_width)
    print(f"urls in the burst hour: {args.urls}; groups that day: {len(expected)}")
    print(f"POSTs: {len(windows)}; wall: {wall:.2f} s at {args.latency * 1000:.0f} ms latency")
    print(f"narrowest window queried: {narrowest['from']} .. {narrowest['to']}")
    print(f"complete and exact: {complete}")
    return 0 if complete else 1


def _width(window: dict[str, str]) -> float:
    from analytics_assets.devtools.fake_api.site_insights import parse_timestamp

    return (parse_timestamp(window["to"]) - parse_timestamp(window["from"])).total_seconds()


if __name__ == "__main__":
    raise SystemExit(main())
