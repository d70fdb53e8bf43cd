"""inspectorctl: assess Linux fleets, plan fixes, apply only what was approved, prove the fix."""

__version__ = "0.1.0"
