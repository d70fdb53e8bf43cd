"""Which managed instances an SSM run reaches, and how (pure models and checks, no boto3).

SSM's own rules, checked before any call (botocore checks types, not patterns or counts):
instance ids ``i-`` + 8 or 17 hex, ``mi-`` + 17; Targets at most 5 keys with at most 50 values
each; ``MaxConcurrency`` and ``MaxErrors`` in SSM's formats (a count or a percentage); the S3
output location ``s3://bucket/prefix`` with a valid bucket name and a prefix of at most 500
characters.
"""

from __future__ import annotations

import re

from inspectorctl.aws.session import AwsConfigError

# the models live in models/ (Targets carries SsmTargets); re-exported here
from inspectorctl.models.aws import S3Location as S3Location
from inspectorctl.models.aws import SsmTargets as SsmTargets
from inspectorctl.models.aws import TagTarget as TagTarget

INSTANCE_ID = re.compile(r"^(i-([0-9a-f]{8}|[0-9a-f]{17})|mi-[0-9a-f]{17})$")
#: SendCommand's patterns (the API model's, which botocore does not enforce)
MAX_CONCURRENCY = re.compile(r"^([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)$")
MAX_ERRORS = re.compile(r"^([1-9][0-9]*|[0]|[1-9][0-9]%|[0-9]%|100%)$")
_TAG_KEY = re.compile(r"^[\w .:/=+\-@]{1,128}$")
_TAG_VALUE = re.compile(r"^[\w .:/=+\-@]{0,256}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9_./-]{0,500}$")
MAX_TARGET_KEYS = 5
MAX_TARGET_VALUES = 50
#: SendCommand takes at most 50 InstanceIds (51 gives a misleading throttling error)
MAX_INSTANCE_IDS = 50


def parse_instance_ids(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``--instance-ids i-…,mi-…`` (repeatable, comma-separated) -> unique ids, in order."""
    out: dict[str, None] = {}
    for value in values:
        for raw in value.split(","):
            iid = raw.strip()
            if not iid:
                continue
            if not INSTANCE_ID.match(iid):
                raise AwsConfigError(
                    f"--instance-ids: {iid!r} is not an SSM managed instance id (i- followed by "
                    "8 or 17 hex digits, or mi- followed by 17)")
            out[iid] = None
    return tuple(out)


def parse_tag_targets(values: list[str] | tuple[str, ...]) -> tuple[TagTarget, ...]:
    """``--targets tag:Env=prod,stage`` (repeatable) -> at most 5 keys, 50 values each."""
    keys: dict[str, dict[str, None]] = {}
    for value in values:
        key, sep, vals = value.partition("=")
        key = key.strip()
        if not sep or not key.startswith("tag:") or len(key) == 4:
            raise AwsConfigError(
                f"--targets {value!r}: expected tag:KEY=VALUE[,VALUE...] (e.g. tag:Env=prod)")
        name = key[4:]
        if not _TAG_KEY.match(name):
            raise AwsConfigError(f"--targets {value!r}: tag key {name!r} has characters SSM "
                                 "does not accept (letters, digits, spaces and _.:/=+-@)")
        items = [v.strip() for v in vals.split(",") if v.strip()]
        if not items:
            raise AwsConfigError(f"--targets {value!r}: give at least one value")
        for v in items:
            if not _TAG_VALUE.match(v):
                raise AwsConfigError(f"--targets {value!r}: tag value {v!r} has characters "
                                     "SSM does not accept (letters, digits, spaces and _.:/=+-@)")
            keys.setdefault(name, {})[v] = None
    if len(keys) > MAX_TARGET_KEYS:
        raise AwsConfigError(f"--targets: {len(keys)} tag keys; SSM takes at most "
                             f"{MAX_TARGET_KEYS} (an instance must match every key)")
    for name, vals_ in keys.items():
        if len(vals_) > MAX_TARGET_VALUES:
            raise AwsConfigError(f"--targets tag:{name}: {len(vals_)} values; SSM takes at "
                                 f"most {MAX_TARGET_VALUES} per key")
    return tuple(TagTarget(key=k, values=tuple(v)) for k, v in keys.items())


def parse_s3_url(value: str) -> S3Location:
    """``--output-s3 s3://bucket/prefix``."""
    if not value.startswith("s3://"):
        raise AwsConfigError(f"--output-s3 {value!r}: expected s3://BUCKET[/PREFIX]")
    bucket, _, prefix = value[5:].partition("/")
    prefix = prefix.strip("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise AwsConfigError(f"--output-s3 {value!r}: {bucket!r} is not an S3 bucket name "
                             "(3-63 lower-case letters, digits, dots and hyphens)")
    if not _PREFIX.match(prefix):
        raise AwsConfigError(f"--output-s3 {value!r}: the prefix must be at most 500 of "
                             "A-Z a-z 0-9 ! _ . * ' ( ) / -")
    return S3Location(bucket=bucket, prefix=prefix)


def check_max_concurrency(value: str) -> str:
    if not MAX_CONCURRENCY.match(value):
        raise AwsConfigError(f"--max-concurrency {value!r}: expected a number of instances "
                             "(e.g. 50) or a percentage of 1-100% (e.g. 10%)")
    return value


def check_max_errors(value: str) -> str:
    if not MAX_ERRORS.match(value):
        raise AwsConfigError(f"--max-errors {value!r}: expected a number of errors (e.g. 0, "
                             "5) or a percentage of 0-100% (e.g. 10%)")
    return value


def check_targets(t: SsmTargets) -> SsmTargets:
    """Every SSM rule this module knows, on a whole ``SsmTargets`` (built by code, not flags)."""
    if not t.instance_ids and not t.tags:
        raise AwsConfigError("no SSM targets: give --instance-ids i-…,mi-… or "
                             "--targets tag:KEY=VALUE")
    if t.instance_ids and t.tags:
        raise AwsConfigError("give --instance-ids or --targets, not both (SSM takes one or "
                             "the other)")
    parse_instance_ids(t.instance_ids)
    parse_tag_targets([f"tag:{tt.key}={','.join(tt.values)}" for tt in t.tags])
    check_max_concurrency(t.max_concurrency)
    check_max_errors(t.max_errors)
    if not 30 <= t.delivery_timeout <= 2_592_000:
        raise AwsConfigError(f"delivery timeout {t.delivery_timeout}s: SSM takes 30 to "
                             "2592000 seconds")
    return t
