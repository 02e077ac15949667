"""The real `dagster` CLI, SIGKILLed by itself at a chosen point of its run.

    python -m analytics_assets_tests.killed_cli POINT job execute -m MODULE -j JOB

POINT is where the run dies, in-process and deterministic, the way an OOM kill or a redeploy
ends it (no handler runs, nothing is reported):
- `normalize`: after the last GitBook request, as dlt starts to normalize;
- `load`: every table's load job done, the package never marked complete in `_dlt_loads`;
- `check`: as the first asset check step opens the warehouse;
- `dbt`: right after `dbt build` started as a child process, which outlives the worker.

Mid-extraction kills come from outside instead (the test kills the process once the bundled API
has served some requests).
"""

import os
import signal
import sys
from typing import Any


def die(*args: Any, **kwargs: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point: str) -> None:
    if point == "normalize":
        from dlt.normalize.normalize import Normalize

        Normalize.run = die  # type: ignore[method-assign]
    elif point == "load":
        from dlt.load.load import Load

        Load.complete_package = die  # type: ignore[method-assign]
    elif point == "check":
        import analytics_assets.defs.checks.tables

        analytics_assets.defs.checks.tables.storage_columns = die  # type: ignore[assignment]
    elif point == "dbt":
        from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation

        DbtCliInvocation.stream = die  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown kill point {point!r}")


if __name__ == "__main__":
    arm(sys.argv[1])
    from dagster._cli import main

    sys.argv = ["dagster", *sys.argv[2:]]
    main()
