"""The core ring: suites, settings, predictions, metrics, gates, reports' data, caches and the backend protocol.

Everything here is torch-free and knows neither pytest nor a terminal; the outer rings (backends/, fix/,
reports/, pytest_plugin/, cli/) import from here and never the other way round.
"""
