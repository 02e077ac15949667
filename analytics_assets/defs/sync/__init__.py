"""The dlt assets: GitBook's tables loaded by one dlt pipeline per multi-asset.

`assets.py` holds the unpartitioned tables and their histories, `site_insights.py` the
daily-partitioned site analytics. The rest is what a run does around `pipeline.run`: asset keys
and specs (`translator`), failures a person can act on (`failures`), tables GitBook left empty
(`empty_tables`), what each materialization records (`load_metadata`) and progress lines in the
run log (`progress`).
"""
