"""The one boto3 session factory: every AWS client inspectorctl uses is made from it.

Clients are created by the callers, when they need them, never at import time (c7n's
``session_factory``). ``AwsConfig`` carries the AWS conventions the CLI takes (``--profile``,
``--region``, ``--endpoint-url``); the botocore config is the same for every client: retries in
``standard`` mode with ``max_attempts`` 10 (SSM throttles SendCommand and
ListCommandInvocations on large fleets; standard mode backs off with jitter and retries the
throttling errors and transient 5xx).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from inspectorctl.errors import InspectorctlError
from inspectorctl.models.aws import AwsConfig as AwsConfig  # re-exported

if TYPE_CHECKING:  # boto3 is imported lazily: `inspectorctl --help` does not pay for it
    import boto3

MAX_ATTEMPTS = 10
RETRY_MODE = "standard"

_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
_PROFILE = re.compile(r"^[A-Za-z0-9_.@+=,-]{1,64}$")


class AwsError(InspectorctlError):
    """An AWS call, or the setup for one, failed (credentials, region, endpoint, API error)."""


class AwsConfigError(AwsError):
    """A bad --profile / --region / --endpoint-url value."""

    exit_code = 2


def check_config(config: AwsConfig) -> AwsConfig:
    """Refuse malformed values before any client is made; returns ``config``."""
    if config.profile is not None and not _PROFILE.match(config.profile):
        raise AwsConfigError(
            f"--profile {config.profile!r}: not a profile name (letters, digits and _.@+=,-)"
        )
    if config.region is not None and not _REGION.match(config.region):
        raise AwsConfigError(
            f"--region {config.region!r}: not an AWS region name (e.g. eu-west-1, us-east-1)"
        )
    for flag, url in (("--endpoint-url", config.endpoint_url),
                      ("--s3-endpoint-url", config.s3_endpoint_url)):
        if url is None:
            continue
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AwsConfigError(
                f"{flag} {url!r}: expected an http(s) URL such as http://127.0.0.1:4566"
            )
    return config


class SessionFactory:
    """Makes boto3 clients with one session and one botocore Config.

    ``session``: a ready boto3 session (tests pass one); otherwise one is created from the
    profile on first use. Errors about the profile or region become ``AwsConfigError``.
    """

    def __init__(self, config: AwsConfig | None = None, session: boto3.Session | None = None
                 ) -> None:
        self.config = check_config(config or AwsConfig())
        self._session = session

    def session(self) -> boto3.Session:
        if self._session is None:
            import boto3
            import botocore.exceptions

            try:
                self._session = boto3.Session(profile_name=self.config.profile,
                                              region_name=self.config.region)
            except botocore.exceptions.ProfileNotFound as e:
                raise AwsConfigError(
                    f"--profile {self.config.profile!r}: no such profile in the AWS config "
                    "files (~/.aws/config, ~/.aws/credentials)"
                ) from e
        return self._session

    def botocore_config(self) -> Any:
        from botocore.config import Config

        return Config(retries={"mode": RETRY_MODE, "max_attempts": MAX_ATTEMPTS})

    def client(self, service: str) -> Any:
        """A new client for ``service`` ("ssm", "s3"), with the endpoint for that service."""
        import botocore.exceptions

        session = self.session()
        endpoint = self.config.endpoint_url
        if service == "s3" and self.config.s3_endpoint_url:
            endpoint = self.config.s3_endpoint_url
        if session.region_name is None and self.config.region is None:
            raise AwsConfigError(
                "no AWS region: pass --region, set AWS_REGION / AWS_DEFAULT_REGION, or set "
                "one in the profile"
            )
        try:
            return session.client(
                service,
                region_name=self.config.region or session.region_name,
                endpoint_url=endpoint,
                config=self.botocore_config(),
            )
        except botocore.exceptions.BotoCoreError as e:
            raise AwsError(f"cannot create the {service} client: {e}") from e


def describe_client_error(e: Exception) -> str:
    """``Code: message`` of a botocore ClientError, else the exception's text."""
    response = getattr(e, "response", None)
    if isinstance(response, dict):
        err = response.get("Error") or {}
        code = err.get("Code") or "Error"
        msg = err.get("Message") or ""
        op = getattr(e, "operation_name", "")
        where = f"{op}: " if op else ""
        return f"{where}{code}: {msg}".rstrip(": ")
    return str(e) or type(e).__name__
