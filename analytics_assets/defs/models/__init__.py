"""The dbt models: the project in `analytics_assets/dbt` as Dagster assets (`assets`), its manifest
(`project`), the dbt profile drawn from the warehouse settings (`profile`), and when the models
refresh (`automation`).

Only the group name lives here, so that `analytics_assets.defs.jobs` can select the models
without importing dbt.

dagster-dbt is imported here first, without dbt-core in sight. dagster-dbt runs dbt as a
subprocess and supports a process without dbt-core (it then reads the manifest as JSON, as for
dbt Fusion); with dbt-core importable it imports it whole, 1.2-1.4 s of every CLI run, run worker
and code server, and nothing here calls dbt in process. `dbt.version` is hidden only during that
import: other code may still import dbt afterwards. Both ways give the same definitions
(`test_definitions.py` compares them).
"""

import sys

MODELS_GROUP = "analytics"

if "dagster_dbt" not in sys.modules and "dbt.version" not in sys.modules:
    sys.modules["dbt.version"] = None  # type: ignore[assignment]  # import dbt.version fails
    try:
        import dagster_dbt  # noqa: F401
    finally:
        del sys.modules["dbt.version"]
