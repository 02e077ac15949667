"""What holds the pools of this instance, and freeing it:

    python -m analytics_assets.defs.recovery               # list holders; free the provably dead
    python -m analytics_assets.defs.recovery --dry-run     # only list
    python -m analytics_assets.defs.recovery --free RUN_ID # free it (marked failed if running)
    python -m analytics_assets.defs.recovery --free RUN_ID --force  # even if it looks alive

Reads the instance from DAGSTER_HOME, like every `dagster` command.
"""

import argparse
import sys

from dagster import DagsterInstance

from analytics_assets.defs.alerts.run_alerts import alert_dead_run
from analytics_assets.defs.alerts.webhook import Webhook
from analytics_assets.defs.recovery.stale_claims import free, heal, holders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics_assets.defs.recovery")
    parser.add_argument("--free", metavar="RUN_ID", help="free this run's pool slots")
    parser.add_argument("--dry-run", action="store_true", help="list holders, change nothing")
    parser.add_argument(
        "--force", action="store_true", help="with --free: even if its worker is alive here"
    )
    args = parser.parse_args(argv)
    with DagsterInstance.get() as instance:
        notify = alert_dead_run(instance, Webhook.from_env(), print)
        if args.free:
            match = [h for h in holders(instance) if h.run_id == args.free]
            if not match:
                print(f"Run {args.free} holds no pool slot on this instance; nothing to free.")
                return 1
            if match[0].alive and not args.force:
                print(
                    f"Not freed: {match[0].describe()}. Its worker is alive on this machine; "
                    "stop it first (or add --force if you know it no longer writes)."
                )
                return 1
            print(free(instance, match[0], notify))
            return 0
        if args.dry_run:
            found = holders(instance)
            for holder in found:
                print(f"{holder.verdict}: {holder.describe()}")
            print(f"{len(found)} run(s) hold or wait for pool slots.")
            return 0
        freed, left = heal(instance, on_marked_failed=notify)
        for line in freed:
            print(line)
        for holder in left:
            print(f"Left alone ({holder.verdict}): {holder.describe()}")
        print(f"Freed {len(freed)} run(s); {len(left)} left.")
        return 0


if __name__ == "__main__":
    sys.exit(main())
