"""Errors of the lab seam. The CLI turns them into one message and an exit code."""

from __future__ import annotations

from inspectorctl.errors import InspectorctlError


class LabError(InspectorctlError):
    """The lab could not do what was asked (a host did not start, a command timed out...)."""

    exit_code = 1


class LabInputError(LabError):
    """A user-supplied value is wrong: an unknown host or profile, a bad name or count."""

    exit_code = 2


class ProfileError(LabInputError):
    """A profile file is malformed; the message names the file, the line and the field."""


class UnknownHostError(LabInputError):
    """No host of that name in this lab; the message lists the valid names."""


class LabRequirementError(LabError):
    """This machine cannot run the lab (not root, a tool missing, no namespaces or overlayfs).

    The message names the Debian package to install or the reason.
    """

    exit_code = 2
