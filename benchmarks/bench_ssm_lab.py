"""The same lab hosts assessed through Ansible over SSH and through SSM Run Command, side by side.

    python benchmarks/bench_ssm_lab.py [--hosts 2] [--runs 3] [--profile weak]

Brings up a lab of its own with its SSM endpoint, deploys the documents, then times
``inspectorctl assess`` (every shipped rule) once per transport per run: ``-i INVENTORY`` and
``--via ssm --instance-ids …`` (output through S3, the endpoint's agent running the document as
root inside the hosts). Prints wall seconds per run and the medians.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

from inspectorctl.aws.deploy import deploy
from inspectorctl.aws.documents import shipped_documents
from inspectorctl.lab import Lab
from inspectorctl.lab.ssm import start_endpoint, stop_endpoint


def timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(argv[:4])}… failed ({proc.returncode}): {proc.stderr.strip()}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile", default="weak")
    args = ap.parse_args()
    exe = str(Path(sys.executable).parent / "inspectorctl")
    tmp = Path(tempfile.mkdtemp(prefix="ictl-bench-ssm-lab-"))
    lab = Lab(tmp / "lab", netns_prefix=f"ictls{secrets.token_hex(2)}-")
    try:
        hosts = lab.up(args.hosts, [args.profile], "bench")
        info, _ = start_endpoint(lab.state_dir)
        try:
            session = boto3.Session(aws_access_key_id="lab", aws_secret_access_key="lab",
                                    region_name=info.region)
            ssm = session.client("ssm", endpoint_url=info.url)
            for doc in shipped_documents():
                deploy(ssm, doc)
            s3 = session.client("s3", endpoint_url=info.s3_url)
            where = ({} if info.region == "us-east-1" else
                     {"CreateBucketConfiguration": {"LocationConstraint": info.region}})
            s3.create_bucket(Bucket="bench", **where)
            env = dict(os.environ, **info.env(), INSPECTORCTL_DB=str(tmp / "bench.db"),
                       ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-tmp"))
            common = ["assess", "--format", "json", "--output", str(tmp / "out.json")]
            via_ansible = [exe, *common, "-i", str(lab.inventory_path), "--limit", "bench-*",
                           "--forks", str(args.hosts)]
            via_ssm = [exe, *common, "--via", "ssm", "--instance-ids",
                       ",".join(h.instance_id for h in hosts), "--output-s3", "s3://bench/out"]
            timed(via_ansible, env)  # warm the page cache for both
            print(f"{args.hosts} lab hosts ({args.profile}), every shipped rule, "
                  f"{os.cpu_count()} cores")
            walls: dict[str, list[float]] = {"ansible": [], "ssm": []}
            for i in range(args.runs):
                a = timed(via_ansible, env)
                s = timed(via_ssm, env)
                walls["ansible"].append(a)
                walls["ssm"].append(s)
                print(f"run {i + 1}: via Ansible {a:.2f} s, via SSM {s:.2f} s")
            print(f"median: via Ansible {statistics.median(walls['ansible']):.2f} s, via SSM "
                  f"{statistics.median(walls['ssm']):.2f} s")
        finally:
            stop_endpoint(lab.state_dir)
    finally:
        lab.down()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
