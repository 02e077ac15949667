"""A sync that dies with SIGKILL at a chosen point, run as a subprocess by the fault tests.

    python -m analytics_assets_tests.killed_sync after_normalize|before_commit

Reads GITBOOK_ACCESS_TOKEN, GITBOOK_BASE_URL, ANALYTICS_DUCKDB_PATH and
ANALYTICS_DLT_PIPELINES_DIR like the real code location.
"""

import os
import signal
import sys
from typing import Any

from dlt.load.load import Load

from analytics_assets.defs.resources import GitBookResource, WarehouseResource


def die(*args: Any, **kwargs: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main(kill_point: str) -> None:
    source = GitBookResource().build_source()
    pipeline = WarehouseResource().build_pipeline()
    pipeline.extract(source)
    pipeline.normalize()
    if kill_point == "after_normalize":
        die()
    # Every table's jobs ran, but the package is never marked complete in _dlt_loads.
    Load.complete_package = die  # type: ignore[method-assign]
    pipeline.load()


if __name__ == "__main__":
    main(sys.argv[1])
