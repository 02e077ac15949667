"""Asset checks on the loaded GitBook tables: which rule guards which table (`tables`), and the
rules themselves as SQL over the destination (`quality`). The dbt models' tests are checks too,
but they belong to `analytics_assets.defs.models`.
"""
