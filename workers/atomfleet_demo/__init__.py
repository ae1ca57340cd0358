"""The shipped atoms. Importing this package registers them in ``atomfleet.catalog.CATALOG``."""

from atomfleet_demo import autoregressive, csv_validation, diagnostics, text_stats

__all__ = ["autoregressive", "csv_validation", "diagnostics", "text_stats"]
