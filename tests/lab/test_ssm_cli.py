"""``inspectorctl lab ssm start|status|stop``: a scale-mode endpoint (no hosts needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from inspectorctl.cli.main import app
from inspectorctl.lab import Lab
from inspectorctl.lab.processes import starttime
from inspectorctl.lab.ssm import read_endpoint, start_endpoint
from inspectorctl.lab.ssm.agent import simulated_id
from inspectorctl.lab.ssm.control import ping


def lab_cli(state_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["lab", "--state-dir", str(state_dir), *args])


def expected_text(state: Path) -> str:
    info = read_endpoint(state)
    assert info is not None
    return (
        f"SSM endpoint: {info.url} (region us-east-1, pid {info.pid})\n"
        f"S3 endpoint:  {info.s3_url}\n"
        "instances:    3 simulated\n"
        "environment for boto3 and the AWS CLI (any credentials are accepted):\n"
        f"  export AWS_ENDPOINT_URL_SSM={info.url}\n"
        f"  export AWS_ENDPOINT_URL_S3={info.s3_url}\n"
        "  export AWS_DEFAULT_REGION=us-east-1\n"
        "  export AWS_ACCESS_KEY_ID=lab\n"
        "  export AWS_SECRET_ACCESS_KEY=lab\n"
    )


def test_start_status_stop(tmp_path: Path) -> None:
    state = tmp_path / "state"
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text('{"canned": true}\n')
    started = lab_cli(
        state,
        "ssm",
        "start",
        "--simulate",
        "3",
        "--simulate-output",
        str(snapshot),
        "--simulate-delay",
        "0",
    )
    try:
        assert started.exit_code == 0, started.output
        assert started.stdout == expected_text(state)
        status = lab_cli(state, "ssm", "status")
        assert (status.exit_code, status.stdout) == (0, expected_text(state))
        again = lab_cli(state, "ssm", "start", "--simulate", "3")
        assert again.stdout == "already running\n" + expected_text(state)
        info = read_endpoint(state)
        assert info is not None
        ssm = info.client("ssm")
        ids = [
            i["InstanceId"] for i in ssm.describe_instance_information()["InstanceInformationList"]
        ]
        assert ids == sorted(simulated_id(i) for i in (1, 2, 3))
        sent = ssm.send_command(
            InstanceIds=ids[:1],
            DocumentName="AWS-RunShellScript",
            Parameters={"commands": ["probe"]},
        )["Command"]
        ssm.get_waiter("command_executed").wait(
            CommandId=sent["CommandId"], InstanceId=ids[0], WaiterConfig={"Delay": 1}
        )
        got = ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=ids[0])
        assert got["StandardOutputContent"] == '{"canned": true}\n'
    finally:
        stopped = lab_cli(state, "ssm", "stop")
    assert stopped.exit_code == 0 and stopped.stdout.startswith("stopped http://127.0.0.1:")
    assert read_endpoint(state) is None
    status = lab_cli(state, "ssm", "status")
    assert (status.exit_code, status.stdout) == (
        3,
        "SSM endpoint not running (start it with `inspectorctl lab ssm start`)\n",
    )


def test_bad_snapshot_is_refused_before_anything_starts(tmp_path: Path) -> None:
    state = tmp_path / "state"
    result = lab_cli(
        state,
        "ssm",
        "start",
        "--simulate",
        "3",
        "--simulate-output",
        str(tmp_path / "missing.json"),
    )
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: {tmp_path / 'missing.json'}: cannot read it (No such file or directory)\n"
    )
    assert not state.exists()
    result = lab_cli(state, "ssm", "start", "--simulate", "-1")
    assert (result.exit_code, result.stderr) == (
        2,
        "error: --simulate must be between 0 and 100000\n",
    )


def test_start_without_hosts_says_so(tmp_path: Path) -> None:
    state = tmp_path / "state"
    started = lab_cli(state, "ssm", "start")
    try:
        assert started.exit_code == 0, started.output
        info = read_endpoint(state)
        assert info is not None
        assert started.stdout.endswith(
            "no lab hosts yet: `inspectorctl lab up` adds some, and they are managed instances "
            "at once\n"
        )
        status = lab_cli(state, "ssm", "status", "--json")
        assert json.loads(status.stdout) == {
            "running": True,
            "url": info.url,
            "s3_url": info.s3_url,
            "region": "us-east-1",
            "pid": info.pid,
            "simulate": 0,
            "env": info.env(),
        }
        assert info.client("ssm").describe_instance_information()["InstanceInformationList"] == []
    finally:
        lab_cli(state, "ssm", "stop")


@pytest.mark.lab
def test_lab_down_stops_the_endpoint(tmp_path: Path) -> None:
    state = tmp_path / "state"
    info, started = start_endpoint(state, simulate=2, simulate_delay=0)
    assert started and ping(info.url)
    Lab(state, netns_prefix="ssmdown-").down()
    assert read_endpoint(state) is None
    assert not ping(info.url)
    assert not Path(f"/proc/{info.pid}").exists() or starttime(info.pid) != info.starttime
