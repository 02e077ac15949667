"""Every Dagster definition of the code location, a folder per concern.

`analytics_assets.definitions` loads this folder with Dagster's `load_from_defs_folder`. A module
with a `@definitions` function contributes what that function returns (it reads its settings
when Dagster loads the code location); any other module contributes its module-level jobs and
sensors. Imports run one way, from the top of this list down:

- `jobs/`: the four jobs and their schedules;
- `report/`: the insights report, a page of charts drawn from the marts;
- `models/`: the dbt models, their project and the sensor that refreshes them;
- `checks/`: the asset checks on the loaded tables;
- `sync/`: the dlt assets that load GitBook's tables;
- `recovery/`: the executor every run uses, and freeing what dead runs hold;
- `alerts/`: failures and stale assets, told to a webhook;
- `resources.py`: how a run reaches GitBook and the warehouse.

Below them: `analytics_assets.gitbook` (the dlt source, no Dagster), `analytics_assets.settings`
and `analytics_assets.instance_lock`.
"""
