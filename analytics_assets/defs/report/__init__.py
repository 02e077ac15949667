"""The insights report: one self-contained HTML page with charts drawn from the marts
(`charts.py` says which, `render.py` draws them, `assets.py` writes the file as an asset that
follows the models)."""
