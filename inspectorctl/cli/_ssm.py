"""The SSM options commands share (``--via ssm``): targets and the AWS conventions."""

from __future__ import annotations

from typing import Annotated

import typer

from inspectorctl.aws.session import AwsConfig, AwsConfigError, check_config
from inspectorctl.aws.targets import (
    SsmTargets,
    check_max_concurrency,
    check_max_errors,
    parse_instance_ids,
    parse_s3_url,
    parse_tag_targets,
)

_SSM = "SSM (--via ssm)"

InstanceIdsOpt = Annotated[list[str] | None, typer.Option(
    "--instance-ids", help="Managed instances: i-…,mi-… (comma-separated, repeatable).",
    rich_help_panel=_SSM, show_default=False)]
TagTargetsOpt = Annotated[list[str] | None, typer.Option(
    "--targets", help="tag:KEY=VALUE[,VALUE…] (repeatable; ≤ 5 keys, ≤ 50 values each).",
    rich_help_panel=_SSM, show_default=False)]
ProfileOpt = Annotated[str | None, typer.Option(
    "--profile", help="AWS profile.", rich_help_panel=_SSM, show_default=False)]
RegionOpt = Annotated[str | None, typer.Option(
    "--region", help="AWS region.", rich_help_panel=_SSM, show_default=False)]
EndpointOpt = Annotated[str | None, typer.Option(
    "--endpoint-url", help="SSM endpoint (e.g. the lab's).", rich_help_panel=_SSM,
    show_default=False)]
S3EndpointOpt = Annotated[str | None, typer.Option(
    "--s3-endpoint-url", help="S3 endpoint, when not AWS's (e.g. the lab's).",
    rich_help_panel=_SSM, show_default=False)]
OutputS3Opt = Annotated[str | None, typer.Option(
    "--output-s3", help="s3://BUCKET/PREFIX: the agent writes output there (fleets).",
    rich_help_panel=_SSM, show_default=False)]
MaxConcurrencyOpt = Annotated[str | None, typer.Option(
    "--max-concurrency", help="SSM MaxConcurrency: N or N% [default: 100%].",
    rich_help_panel=_SSM, show_default=False)]
MaxErrorsOpt = Annotated[str | None, typer.Option(
    "--max-errors", help="SSM MaxErrors: N or N% [default: 100%].", rich_help_panel=_SSM,
    show_default=False)]


def aws_config(profile: str | None, region: str | None, endpoint_url: str | None,
               s3_endpoint_url: str | None = None) -> AwsConfig:
    return check_config(AwsConfig(profile=profile, region=region, endpoint_url=endpoint_url,
                                  s3_endpoint_url=s3_endpoint_url))


def ssm_targets(
    via: str | None,
    instance_ids: list[str] | None,
    tags: list[str] | None,
    profile: str | None,
    region: str | None,
    endpoint_url: str | None,
    s3_endpoint_url: str | None,
    output_s3: str | None,
    max_concurrency: str | None,
    max_errors: str | None,
) -> SsmTargets | None:
    """The SSM targets the flags give, or None when the run is not over SSM; SSM flags without
    ``--via ssm`` (or the reverse) are one clear error."""
    given = [name for name, v in (
        ("--instance-ids", instance_ids), ("--targets", tags), ("--profile", profile),
        ("--region", region), ("--endpoint-url", endpoint_url),
        ("--s3-endpoint-url", s3_endpoint_url), ("--output-s3", output_s3),
        ("--max-concurrency", max_concurrency), ("--max-errors", max_errors)) if v]
    if via != "ssm":
        if given:
            raise AwsConfigError(f"{', '.join(given)}: only with --via ssm")
        return None
    ids = parse_instance_ids(instance_ids or [])
    tag_targets = parse_tag_targets(tags or [])
    if not ids and not tag_targets:
        raise AwsConfigError("--via ssm needs targets: --instance-ids i-…,mi-… or "
                             "--targets tag:KEY=VALUE")
    if ids and tag_targets:
        raise AwsConfigError("give --instance-ids or --targets, not both")
    return SsmTargets(
        instance_ids=ids,
        tags=tag_targets,
        aws=aws_config(profile, region, endpoint_url, s3_endpoint_url),
        output_s3=parse_s3_url(output_s3) if output_s3 else None,
        max_concurrency=check_max_concurrency(max_concurrency or "100%"),
        max_errors=check_max_errors(max_errors or "100%"),
    )
