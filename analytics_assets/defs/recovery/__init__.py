"""Runs whose worker died never block later runs.

A run that is killed (OOM, redeploy, Ctrl-C twice, SIGKILL) keeps its claims on the pool
`gitbook_dlt_pipeline`, and with a pool limit of 1 every later run would wait for it forever.
This package owns telling a dead run from a live one (`worker`), freeing what dead runs hold
(`stale_claims`), doing that before and while every run executes (`executor`) and from the
daemon (`sensor`), and the command an operator runs by hand
(`python -m analytics_assets.defs.recovery`).
"""
