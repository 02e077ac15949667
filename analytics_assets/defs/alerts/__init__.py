"""Failures reach people: one POST of Slack-compatible JSON per failed run, failed ERROR check
and asset past its freshness window, when `ANALYTICS_ALERT_WEBHOOK_URL` is set.

Alerts are sent from inside the run (the executor in `analytics_assets.defs.recovery`), so headless
runs alert with no daemon; under the daemon, sensors add what a run cannot say itself: a run
whose worker died, and assets that went stale while nothing ran. A run tag and the instance's
key-value store make sure each failure is told once, whoever notices it first.
"""
