"""The shipped atoms. Importing this package registers them in ``workers.catalog.CATALOG``."""

from workers.atoms import autoregressive, csv_validation, diagnostics, text_stats

__all__ = ["autoregressive", "csv_validation", "diagnostics", "text_stats"]
