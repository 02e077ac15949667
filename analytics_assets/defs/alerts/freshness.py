"""Which assets are past their freshness window, by the rule Dagster's UI applies to
`FreshnessPolicy.time_window`: the newest materialization is older than `fail_window`.

Evaluated at the end of every run and, under the daemon, by a sensor, so a headless deployment
hears of a table that stopped loading as soon as any job runs. An asset never loaded is not
stale (its freshness is unknown), and each stale spell is told once.
"""

from collections.abc import Callable
from datetime import datetime, timezone

from dagster import DagsterInstance
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph
from dagster._core.definitions.freshness import TimeWindowFreshnessPolicy

from analytics_assets.defs.alerts.messages import asset_stale
from analytics_assets.defs.alerts.once import claim_stale
from analytics_assets.defs.alerts.webhook import Webhook


def alert_stale_assets(
    instance: DagsterInstance,
    graph: BaseAssetGraph,
    webhook: Webhook,
    warn: Callable[[str], None],
    now: datetime | None = None,
) -> int:
    """Send one alert per asset newly past its window; returns how many were sent."""
    now = now or datetime.now(timezone.utc)
    windows = {
        node.key: node.freshness_policy.fail_window.to_timedelta()
        for node in graph.asset_nodes
        if isinstance(node.freshness_policy, TimeWindowFreshnessPolicy)
    }
    if not windows:
        return 0
    sent = 0
    for record in instance.get_asset_records(list(windows)):
        last = record.asset_entry.last_materialization_record
        if last is None:
            continue
        key = record.asset_entry.asset_key
        age = now.timestamp() - last.timestamp
        window = windows[key]
        if age <= window.total_seconds() or not claim_stale(instance, key, last.storage_id):
            continue
        text = asset_stale(key, age / 3600, window.total_seconds() / 3600, last.run_id)
        sent += webhook.send(text, warn)
    return sent
