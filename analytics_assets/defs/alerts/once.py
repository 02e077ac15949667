"""Each failure is told once, whoever notices it first: the run itself, the recovery of a dead
run, or the daemon's sensors. A run's tag holds its own id once its failure was sent (a
re-execution copies its parent's tags, and must still be told); stale assets leave a marker in
the instance's key-value store, keyed by the load they are stale since. Claims are taken under
the instance lock, and before the alert is sent."""

from dagster import AssetKey, DagsterInstance

from analytics_assets.instance_lock import instance_lock

FAILURE_ALERTED_TAG = "analytics/failure_alerted"
_STALE_PREFIX = "analytics_assets/stale_alerted/"


def claim_run_failure(instance: DagsterInstance, run_id: str) -> bool:
    """True for the first caller only."""
    with instance_lock(instance):
        run = instance.get_run_by_id(run_id)
        if run is None or run.tags.get(FAILURE_ALERTED_TAG) == run_id:
            return False
        instance.add_run_tags(run_id, {FAILURE_ALERTED_TAG: run_id})
        return True


def claim_stale(instance: DagsterInstance, key: AssetKey, since_storage_id: int) -> bool:
    """True the first time `key` is found stale since the load `since_storage_id`."""
    name = _STALE_PREFIX + key.to_user_string()
    marker = str(since_storage_id)
    with instance_lock(instance):
        if instance.run_storage.get_cursor_values({name}).get(name) == marker:
            return False
        instance.run_storage.set_cursor_values({name: marker})
        return True
