"""What runs when: the four jobs (`jobs`) and the schedules that start them (`schedules`).
The dbt models refresh by their own sensor (`analytics_assets.defs.models.automation`).
"""
