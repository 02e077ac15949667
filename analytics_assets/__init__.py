"""GitBook synced into a warehouse with dlt, as a Dagster code location."""

import atexit
import gc
import warnings

# dagster-dbt requires `sqlglot[rs]`, whose Rust tokenizer sqlglot 29 (pinned for dlt) no longer
# uses; sqlglot then warns on every import. Nothing is wrong, so the warning is not shown.
warnings.filterwarnings(
    "ignore", message=r"sqlglot\[rs\] is deprecated", category=UserWarning, module="sqlglot"
)

# At exit, Python's last garbage collections walk every object a process loaded (Dagster, dlt,
# dbt): about 0.8 s per CLI run, run worker or code server, for memory the OS frees anyway.
# Frozen objects are skipped. Finalizers registered with atexit or weakref.finalize still run,
# and nothing changes while the process runs.
atexit.register(gc.freeze)
