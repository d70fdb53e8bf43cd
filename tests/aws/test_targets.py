"""SSM's rules that botocore does not check: ids, Targets counts, MaxConcurrency/MaxErrors,
S3 locations, chunks of at most 50 ids."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inspectorctl.aws.runcommand import chunks
from inspectorctl.aws.session import AwsConfig, AwsConfigError, SessionFactory
from inspectorctl.aws.targets import (
    MAX_CONCURRENCY,
    MAX_ERRORS,
    check_max_concurrency,
    check_max_errors,
    parse_instance_ids,
    parse_s3_url,
    parse_tag_targets,
)


def test_instance_ids() -> None:
    assert parse_instance_ids(["i-0123456789abcdef0,mi-0123456789abcdef0", "i-01234567",
                               "i-01234567"]) == (
        "i-0123456789abcdef0", "mi-0123456789abcdef0", "i-01234567")
    for bad in ("i-lab0001", "mi-0123", "i-0123456789ABCDEF0", "host1"):
        with pytest.raises(AwsConfigError, match="not an SSM managed instance id"):
            parse_instance_ids([bad])


def test_tag_targets_limits() -> None:
    t = parse_tag_targets(["tag:Env=prod,stage", "tag:Team=web", "tag:Env=dev"])
    assert [(x.key, x.values) for x in t] == [("Env", ("prod", "stage", "dev")),
                                             ("Team", ("web",))]
    with pytest.raises(AwsConfigError, match="6 tag keys; SSM takes at most 5"):
        parse_tag_targets([f"tag:K{n}=v" for n in range(6)])
    with pytest.raises(AwsConfigError, match="51 values; SSM takes at most 50"):
        parse_tag_targets(["tag:Env=" + ",".join(f"v{n}" for n in range(51))])
    parse_tag_targets(["tag:Env=" + ",".join(f"v{n}" for n in range(50))])
    for bad in ("Env=prod", "tag:=x", "tag:Env", "tag:Env=", "tag:E;nv=x", "tag:Env=$(id)"):
        with pytest.raises(AwsConfigError):
            parse_tag_targets([bad])


@given(st.integers(min_value=0, max_value=2000))
def test_max_concurrency_and_errors_formats(n: int) -> None:
    assert bool(MAX_CONCURRENCY.match(str(n))) is (n >= 1)
    assert bool(MAX_ERRORS.match(str(n))) is True
    pct = f"{n}%"
    assert bool(MAX_CONCURRENCY.match(pct)) is (1 <= n <= 100)
    assert bool(MAX_ERRORS.match(pct)) is (n <= 100)


def test_max_concurrency_and_errors_refusals() -> None:
    for bad in ("0", "101%", "5.5", "-1", "10 %", "ten", "050"):
        with pytest.raises(AwsConfigError, match="--max-concurrency"):
            check_max_concurrency(bad)
    for bad in ("101%", "-1", "x", "01"):
        with pytest.raises(AwsConfigError, match="--max-errors"):
            check_max_errors(bad)


@given(st.lists(st.text(min_size=1, max_size=3), max_size=400))
def test_chunks_never_exceed_50_and_keep_everything(ids: list[str]) -> None:
    parts = chunks(ids)
    assert all(1 <= len(p) <= 50 for p in parts)
    assert [i for p in parts for i in p] == ids


def test_s3_url() -> None:
    loc = parse_s3_url("s3://my-bucket/inspectorctl/out/")
    assert (loc.bucket, loc.prefix, loc.url) == ("my-bucket", "inspectorctl/out",
                                                 "s3://my-bucket/inspectorctl/out")
    for bad in ("my-bucket", "s3://A_b/x", "s3://ab", "s3://bucket/" + "a" * 501,
                "s3://bucket/a b"):
        with pytest.raises(AwsConfigError, match="--output-s3"):
            parse_s3_url(bad)


def test_session_factory_config_and_refusals() -> None:
    f = SessionFactory(AwsConfig(region="eu-west-1", endpoint_url="http://127.0.0.1:1"))
    cfg = f.botocore_config()
    assert cfg.retries == {"mode": "standard", "max_attempts": 10}
    for bad in (AwsConfig(region="Europe"), AwsConfig(endpoint_url="127.0.0.1:80"),
                AwsConfig(profile="a b")):
        with pytest.raises(AwsConfigError):
            SessionFactory(bad)
