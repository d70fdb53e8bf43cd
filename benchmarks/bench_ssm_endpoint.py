"""The lab's SSM endpoint in scale mode: one Run Command round over N simulated instances.

What a client does for one assessment of a fleet through SSM, done plainly with boto3 against
``lab ssm start --simulate N``: DescribeInstanceInformation (paginated), one SendCommand per 50
instances (output to S3), ListCommandInvocations pages (50 per page) per poll round until every
invocation is terminal, then one S3 GetObject per instance. Prints the API calls made, the wall
time, the simulated agents' share of it, and the endpoint process's CPU time and peak RSS.

    python benchmarks/bench_ssm_endpoint.py [--instances 10000] [--delay 1.0] [--snapshot F]

No root needed; the endpoint runs in a temporary state dir and is stopped at the end.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from inspectorctl.lab.ssm import start_endpoint, stop_endpoint

POLL_SECONDS = 2.0


def proc_cpu_seconds(pid: int) -> float:
    data = Path(f"/proc/{pid}/stat").read_text()
    fields = data[data.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=10000)
    parser.add_argument("--delay", type=float, default=1.0, help="seconds a simulated step takes")
    parser.add_argument("--snapshot", type=Path, help="canned output (default: 22 KB of text)")
    parser.add_argument(
        "--no-s3", action="store_true", help="no output to S3 (reads GetCommandInvocation)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ssm-") as tmp:
        state = Path(tmp) / "state"
        snapshot = args.snapshot
        if snapshot is None:
            snapshot = Path(tmp) / "snapshot.txt"
            snapshot.write_text(("x" * 99 + "\n") * 220)  # ~22 KB, a gzip+base64 snapshot's size
        t0 = time.monotonic()
        info, _ = start_endpoint(
            state, simulate=args.instances, simulate_output=snapshot, simulate_delay=args.delay
        )
        print(f"endpoint up in {time.monotonic() - t0:.1f}s ({args.instances} instances)")
        try:
            run(info, args)
        finally:
            stop_endpoint(state)


def run(info: Any, args: argparse.Namespace) -> None:
    ssm, s3 = info.client("ssm"), info.client("s3")
    calls: Counter[str] = Counter()
    s3.create_bucket(Bucket="bench")
    cpu0 = proc_cpu_seconds(info.pid)
    t0 = time.monotonic()
    ids = []
    for page in ssm.get_paginator("describe_instance_information").paginate(
        PaginationConfig={"PageSize": 50}
    ):
        calls["DescribeInstanceInformation"] += 1
        ids += [i["InstanceId"] for i in page["InstanceInformationList"]]
    commands: list[str] = []
    expected: dict[str, int] = {}
    for start in range(0, len(ids), 50):
        sent = ssm.send_command(
            InstanceIds=ids[start : start + 50],
            DocumentName="AWS-RunShellScript",
            Parameters={"commands": ["inspectorctl-probe"]},
            TimeoutSeconds=3600,
            **(
                {} if args.no_s3 else {"OutputS3BucketName": "bench", "OutputS3KeyPrefix": "assess"}
            ),
        )["Command"]
        calls["SendCommand"] += 1
        commands.append(sent["CommandId"])
        expected[sent["CommandId"]] = sent["TargetCount"]
    t_sent = time.monotonic()
    pending = set(commands)
    rounds = 0
    statuses: Counter[str] = Counter()
    while pending:
        rounds += 1
        for command_id in sorted(pending):
            done = 0
            token: dict[str, str] = {}
            while True:
                page = ssm.list_command_invocations(CommandId=command_id, MaxResults=50, **token)
                calls["ListCommandInvocations"] += 1
                for inv in page["CommandInvocations"]:
                    if inv["Status"] in ("Success", "Failed", "TimedOut", "Cancelled"):
                        done += 1
                if "NextToken" not in page:
                    break
                token = {"NextToken": page["NextToken"]}
            if done == expected[command_id]:
                pending.discard(command_id)
        if pending:
            time.sleep(POLL_SECONDS)
    t_done = time.monotonic()
    size = 0
    for command_id in commands:
        for page in ssm.get_paginator("list_command_invocations").paginate(CommandId=command_id):
            calls["ListCommandInvocations(final)"] += 1
            for inv in page["CommandInvocations"]:
                statuses[inv["Status"]] += 1
                if args.no_s3:
                    got = ssm.get_command_invocation(
                        CommandId=command_id, InstanceId=inv["InstanceId"]
                    )
                    size += len(got["StandardOutputContent"])
                    calls["GetCommandInvocation"] += 1
                    continue
                key = (
                    f"assess/{command_id}/{inv['InstanceId']}"
                    "/awsrunShellScript/runShellScript/stdout"
                )
                size += len(s3.get_object(Bucket="bench", Key=key)["Body"].read())
                calls["S3 GetObject"] += 1
    t_end = time.monotonic()
    cpu = proc_cpu_seconds(info.pid) - cpu0
    n = len(ids)
    agents = math.ceil(n / 512) * args.delay  # 512 simulated agents run at once
    print(f"instances: {n}; statuses: {dict(statuses)}")
    print(f"API calls: {dict(calls)}")
    print(
        f"  SendCommand {calls['SendCommand']} (ceil(N/50) = {math.ceil(n / 50)}); "
        f"poll rounds {rounds}, ListCommandInvocations pages per round <= "
        f"{math.ceil(n / 50)}"
    )
    print(
        f"wall: send {t_sent - t0:.1f}s, until all terminal {t_done - t0:.1f}s, "
        f"reads {t_end - t_done:.1f}s ({size / 1e6:.1f} MB), total {t_end - t0:.1f}s"
    )
    print(f"simulated agents alone: >= {agents:.1f}s ({args.delay:g}s per step, 512 at a time)")
    print(
        f"endpoint process: CPU {cpu:.1f}s ({cpu / n * 1000:.2f}s per 1,000 instances), "
        f"peak RSS {proc_peak_rss_mib(info.pid):.0f} MiB"
    )


if __name__ == "__main__":
    main()
