"""Sessions shared as tutorial notebooks: the story of the tuning, and cells that replay it."""

from kernelmagic.export._notebook import tutorial
from kernelmagic.export._replay_report import ReplayReport, replay_report
from kernelmagic.export._write import Exported, export_tutorial

__all__ = ["Exported", "ReplayReport", "export_tutorial", "replay_report", "tutorial"]
