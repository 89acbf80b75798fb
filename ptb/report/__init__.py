"""Offline reporting: aggregate score.json files into the paper's tables, plots and a W&B report.

Reads run directories only (the contract in the design map); see docs/reporting.md. Modules:
``scan`` (find and read runs), ``weights`` (task weights), ``aggregate`` (methods, averages,
missing cells), ``tables``/``markdown``/``html``/``plots`` (renderers), ``wandb_report``.
"""

from ptb.report.aggregate import MethodResult, Options, Report, build_report
from ptb.report.scan import ReportError

__all__ = ["MethodResult", "Options", "Report", "ReportError", "build_report"]
