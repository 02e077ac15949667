"""Serve the fake GitBook API from the command line, for the demo and for poking at it by hand.

python -m analytics_assets.devtools.fake_api --port 8000 --token demo-token
"""

from __future__ import annotations

import argparse
import signal
import threading

from analytics_assets.devtools.fake_api.dataset import Dataset
from analytics_assets.devtools.fake_api.server import FakeGitBookAPI


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
        "--max-page-size", type=int, default=5, help="largest page (default: %(default)s)"
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
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    dataset = Dataset.demo() if args.dataset == "demo" else Dataset.generate()
    api = FakeGitBookAPI(
        dataset=dataset,
        token=args.token,
        max_page_size=args.max_page_size,
        latency=args.latency,
        user_envelope=args.user_envelope,
        host=args.host,
        port=args.port,
        verbose=args.verbose,
    )
    stop = threading.Event()
    # Ctrl-C and `kill` both end the loop below; a background job may inherit SIGINT as ignored,
    # so both signals are handled explicitly rather than relying on KeyboardInterrupt.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with api:
        # The token is the caller's own; echoing it would put it in terminal logs.
        print(api.base_url, flush=True)
        print(
            f"Fake GitBook API serving {args.dataset} data at {api.base_url}/v1 "
            "(Authorization: Bearer <--token>); Ctrl-C to stop.",
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
