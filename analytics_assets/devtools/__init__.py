"""Developer tools shipped with the code location, none of them loaded by Dagster: the bundled
GitBook-compatible API (`fake_api`), the demo (`demo`), the CI gate (`gate`), running the jobs
against the bundled API (`bundled`), `dagster dev` as a child process (`webserver`), the docs'
screenshots (`screenshot`) and plain-text tables for their output (`report`).
"""
