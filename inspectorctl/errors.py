"""Error bases, one per seam. Library code raises these; only ``cli/`` turns them into exits."""

from __future__ import annotations


class InspectorctlError(Exception):
    """Base of every error inspectorctl raises on purpose.

    ``exit_code`` is what the CLI exits with: 2 for bad input or usage, 1 for a run that
    could not be completed for another reason.
    """

    exit_code: int = 1

    def __init__(self, *args: object, exit_code: int | None = None) -> None:
        super().__init__(*args)
        if exit_code is not None:
            self.exit_code = exit_code


class InputError(InspectorctlError):
    """A user-supplied file or value is malformed (rulepack, template, inventory, plan...)."""

    exit_code = 2
