"""GitBook synced into a warehouse with dlt, as a Dagster code location."""
