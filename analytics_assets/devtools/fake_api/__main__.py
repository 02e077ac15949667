"""Serve the fake GitBook API from the command line, for the demo and for poking at it by hand.

python -m analytics_assets.devtools.fake_api --port 8000 --token demo-token
python -m analytics_assets.devtools.fake_api --rate-limit 60/60 --api-version 0.91.0
python -m analytics_assets.devtools.fake_api --reader-org org-acme --missing-scope site:read
python -m analytics_assets.devtools.fake_api --bot-burst site_docs:2024-06-29:13:1100
python -m analytics_assets.devtools.fake_api --drift extra --drift missing
"""

from __future__ import annotations

import argparse
import re
import signal
import threading
from datetime import date

from analytics_assets.devtools.fake_api.dataset import BOT_BURST_HOUR, BOT_BURST_URLS, Dataset
from analytics_assets.devtools.fake_api.edits import Drift, drifted
from analytics_assets.devtools.fake_api.rate_limit import RateLimit
from analytics_assets.devtools.fake_api.server import (
    API_VERSIONS,
    MAX_LIMIT,
    REQUIRED_SCOPES,
    TODAY_API,
    FakeGitBookAPI,
)


def _page_size(text: str) -> int:
    try:
        size = int(text)
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"expected an integer from 1 to {MAX_LIMIT}, got {text!r}")
    return size


def _rate_limit(text: str) -> RateLimit:
    try:
        return RateLimit.parse(text)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


BotBurst = tuple[str, date, int, int]
_BOT_BURST = re.compile(r"(.+):(\d{4}-\d{2}-\d{2})(?::(\d{1,2}))?(?::(\d{1,6}))?")


def _bot_burst(text: str) -> BotBurst:
    """``SITE:YYYY-MM-DD[:HOUR[:URLS]]`` (site ids may hold anything but end before the date)."""
    match = _BOT_BURST.fullmatch(text)
    try:
        if match is None:
            raise ValueError("expected SITE:YYYY-MM-DD[:HOUR[:URLS]]")
        site_id, day, hour, urls = match.groups()
        burst = (
            site_id,
            date.fromisoformat(day),
            BOT_BURST_HOUR if hour is None else int(hour),
            BOT_BURST_URLS if urls is None else int(urls),
        )
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    if not 0 <= burst[2] <= 23:
        raise argparse.ArgumentTypeError(f"{text!r}: the hour must be 0-23")
    return burst


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m analytics_assets.devtools.fake_api",
        description="Serve a local GitBook-compatible REST API with deterministic data.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="0 picks a free port (default: %(default)s)"
    )
    parser.add_argument("--token", default="demo-token", help="bearer token clients must send")
    parser.add_argument(
        "--default-page-size",
        type=_page_size,
        default=5,
        help=f"page size when a request sends no limit; limit is honoured up to {MAX_LIMIT} "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--rate-limit",
        type=_rate_limit,
        default=None,
        metavar="REQUESTS/SECONDS",
        help="enforce a fixed-window limit such as 60/60 (429 beyond it); default: not enforced, "
        "X-RateLimit-* headers still sent",
    )
    parser.add_argument(
        "--api-version",
        choices=API_VERSIONS,
        default=TODAY_API,
        help="0.202.0: today's API (no space traffic); 0.91.0: still serves "
        "/spaces/{spaceId}/insights/traffic (default: %(default)s)",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds slept per request")
    parser.add_argument(
        "--dataset",
        choices=("demo", "generated"),
        default="demo",
        help="demo: small hand-shaped data; generated: Dataset.generate() defaults",
    )
    parser.add_argument(
        "--user-envelope", action="store_true", help='wrap /v1/user as {"data": {...}}'
    )
    parser.add_argument(
        "--reader-org",
        action="append",
        default=[],
        metavar="ID",
        help="an organization where the token's user is only a reader: reader permissions, "
        "403 on its members (repeatable)",
    )
    parser.add_argument(
        "--missing-scope",
        action="append",
        default=[],
        choices=sorted(set(REQUIRED_SCOPES.values())),
        metavar="SCOPE",
        help="an OAuth scope the token lacks: 403 on every route needing it (repeatable; one "
        f"of {', '.join(sorted(set(REQUIRED_SCOPES.values())))})",
    )
    parser.add_argument(
        "--bot-burst",
        type=_bot_burst,
        action="append",
        default=[],
        metavar="SITE:DAY[:HOUR[:URLS]]",
        help="on that UTC day a bot requests URLS distinct missing URLs in one hour of the site "
        f"(default hour {BOT_BURST_HOUR}, {BOT_BURST_URLS} URLs: more than one query returns; "
        "repeatable)",
    )
    parser.add_argument(
        "--drift",
        type=Drift,
        action="append",
        default=[],
        choices=list(Drift),
        metavar="KIND",
        help="serve GitBook's shape changed: extra (spaces gain `language`), retyped (members' "
        "`spaces` count as text) or missing (pages lose `documentId`); repeatable",
    )
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    dataset = Dataset.demo() if args.dataset == "demo" else Dataset.generate()
    for site_id, day, hour, urls in args.bot_burst:
        try:
            dataset = dataset.with_bot_burst(site_id, day, hour=hour, urls=urls)
        except ValueError as exc:
            parser.error(f"--bot-burst: {exc}")
    dataset = drifted(dataset, *args.drift)
    api = FakeGitBookAPI(
        dataset=dataset,
        token=args.token,
        default_page_size=args.default_page_size,
        latency=args.latency,
        user_envelope=args.user_envelope,
        host=args.host,
        port=args.port,
        verbose=args.verbose,
        rate_limit=args.rate_limit,
        api_version=args.api_version,
        reader_orgs=frozenset(args.reader_org),
        missing_scopes=frozenset(args.missing_scope),
    )
    stop = threading.Event()
    # Ctrl-C and `kill` both end the loop below; a background job may inherit SIGINT as ignored,
    # so both signals are handled explicitly rather than relying on KeyboardInterrupt.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with api:
        # The token is the caller's own; echoing it would put it in terminal logs.
        print(api.base_url, flush=True)
        limit = args.rate_limit
        pacing = f"{limit.requests}/{limit.window_seconds:g}s" if limit else "not enforced"
        print(
            f"Fake GitBook API {args.api_version} serving {args.dataset} data at "
            f"{api.base_url}/v1 (Authorization: Bearer <--token>; rate limit {pacing}); "
            "Ctrl-C to stop.",
            flush=True,
        )
        if api.reader_orgs or api.missing_scopes:
            print(
                f"Limited token: reader in {sorted(api.reader_orgs) or 'no org'}, "
                f"missing scopes {sorted(api.missing_scopes) or 'none'}.",
                flush=True,
            )
        while not stop.wait(0.5):
            pass
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
