"""Errors of the lab's SSM endpoint.

:class:`ApiError` is what the endpoint answers a request with: an AWS error code that botocore
models for the operation (``InvalidInstanceId``, ``InvocationDoesNotExist`` ...), so that boto3
raises the modeled exception. :class:`SsmLabError` is for the ``lab ssm`` commands.
"""

from __future__ import annotations

from inspectorctl.lab.errors import LabError, LabInputError


class ApiError(Exception):
    """An error answer of the SSM API: ``__type`` ``code`` with ``message``, HTTP ``status``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class SsmLabError(LabError):
    """The lab's SSM endpoint could not be started, stopped or reached."""


class SsmLabInputError(LabInputError):
    """A bad value for ``lab ssm`` (a snapshot file that is not one, a count out of range)."""
