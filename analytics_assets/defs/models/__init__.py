"""The dbt models: the project in `analytics_assets/dbt` as Dagster assets (`assets`), its manifest
(`project`), the dbt profile drawn from the warehouse settings (`profile`), and when the models
refresh (`automation`).

Only the group name lives here, so that `analytics_assets.defs.jobs` can select the models
without importing dbt.
"""

MODELS_GROUP = "analytics"
