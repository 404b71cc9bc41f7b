"""Sessions shared as tutorial notebooks: the story of the tuning, and cells that replay it."""

from .notebook import tutorial
from .replay_report import ReplayReport, replay_report
from .write import Exported, export_tutorial

__all__ = ["Exported", "ReplayReport", "export_tutorial", "replay_report", "tutorial"]
