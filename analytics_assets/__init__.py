"""GitBook synced into a warehouse with dlt, as a Dagster code location."""

import warnings

# dagster-dbt requires `sqlglot[rs]`, whose Rust tokenizer sqlglot 29 (pinned for dlt) no longer
# uses; sqlglot then warns on every import. Nothing is wrong, so the warning is not shown.
warnings.filterwarnings(
    "ignore", message=r"sqlglot\[rs\] is deprecated", category=UserWarning, module="sqlglot"
)
