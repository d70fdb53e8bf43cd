"""How inspectorctl reaches AWS and which managed instances an SSM run reaches (pure models;
the checks and the boto3 side live in ``inspectorctl/aws/``)."""

from __future__ import annotations

from pydantic import Field

from inspectorctl.models.common import Frozen


class AwsConfig(Frozen):
    """How to reach AWS (or an SSM-compatible endpoint such as the lab's)."""

    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    #: S3 endpoint, when it differs from ``endpoint_url`` (the lab serves S3 on its own port)
    s3_endpoint_url: str | None = None


class TagTarget(Frozen):
    """``tag:KEY`` = any of ``values`` (SSM Targets, Key ``tag:KEY``)."""

    key: str
    values: tuple[str, ...]


class S3Location(Frozen):
    bucket: str
    prefix: str = ""

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


class SsmTargets(Frozen):
    """The SSM side of ``Targets``: instances (ids or tags), the AWS config, output to S3."""

    instance_ids: tuple[str, ...] = ()
    tags: tuple[TagTarget, ...] = ()
    aws: AwsConfig = Field(default_factory=AwsConfig)
    output_s3: S3Location | None = None
    max_concurrency: str = "100%"
    max_errors: str = "100%"
    #: SendCommand TimeoutSeconds: how long SSM tries to deliver to an instance that is not
    #: connected before it gives up (Delivery Timed Out); SSM's minimum is 30
    delivery_timeout: int = 600
    #: the InspectorCtl-ApplyPlaybook version and content sha256 an approved plan pins (what
    #: runs is what was approved); the executor refuses to run without them
    document_version: str | None = None
    document_sha256: str | None = None
