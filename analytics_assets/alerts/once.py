"""Each failure is told once, whoever notices it first: the run itself, the recovery of a dead
run, or the daemon's sensors. Runs carry a tag once their failure was sent; stale assets leave a
marker in the instance's key-value store, keyed by the load they are stale since."""

from dagster import AssetKey, DagsterInstance

FAILURE_ALERTED_TAG = "analytics/failure_alerted"
_STALE_PREFIX = "analytics_assets/stale_alerted/"


def claim_run_failure(instance: DagsterInstance, run_id: str) -> bool:
    """True for the first caller only; the tag is set before the alert is sent."""
    run = instance.get_run_by_id(run_id)
    if run is None or run.tags.get(FAILURE_ALERTED_TAG):
        return False
    instance.add_run_tags(run_id, {FAILURE_ALERTED_TAG: "true"})
    return True


def claim_stale(instance: DagsterInstance, key: AssetKey, since_storage_id: int) -> bool:
    """True the first time `key` is found stale since the load `since_storage_id`."""
    name = _STALE_PREFIX + key.to_user_string()
    marker = str(since_storage_id)
    if instance.run_storage.get_cursor_values({name}).get(name) == marker:
        return False
    instance.run_storage.set_cursor_values({name: marker})
    return True
