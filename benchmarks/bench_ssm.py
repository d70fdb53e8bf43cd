"""Assessment through SSM at fleet scale, against the lab endpoint's scale mode.

    python benchmarks/bench_ssm.py [--instances 10000] [--delay 1] [--output-s3 | --no-output-s3]

The endpoint (``inspectorctl lab ssm start --simulate N``) serves N always-Online instances whose
InspectorCtl-Collect step prints a canned output after ``--delay`` seconds: here a real frame
made by running the document's own step on this machine with the default packs' request.
inspectorctl then collects from all N (discovery by tag, SendCommand in chunks of 50, polling,
one S3 GetObject per host with ``--output-s3``) and evaluates nothing: this measures the
controller. Prints the API calls by operation against the budget (ceil(N/50) SendCommand,
ceil(N/50) ListCommandInvocations pages per poll round, one GetObject per host), the poll
rounds, wall time, the controller's CPU time (user+sys of this process) and its peak RSS
growth, each also per 1,000 instances.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

from inspectorctl.aws.deploy import deploy
from inspectorctl.aws.documents import DocumentName, encode_request, load_document
from inspectorctl.aws.session import AwsConfig, SessionFactory
from inspectorctl.aws.targets import S3Location, SsmTargets, TagTarget
from inspectorctl.collect.interface import CollectionFailure, Targets
from inspectorctl.collect.ssm import LazyResults, SsmCollector
from inspectorctl.lab.ssm import start_endpoint, stop_endpoint
from inspectorctl.models.snapshot import HostSnapshot
from inspectorctl.rules.engine import Selection
from inspectorctl.rules.facts import probe_request
from inspectorctl.rules.loader import DEFAULT_PACKS, load_packs


def canned_frame(path: Path) -> int:
    """Run the rendered InspectorCtl-Collect step here (read-only probe) with the default packs'
    request, as the agent would; the frame it prints is what every simulated instance prints."""
    sel = Selection(load_packs(DEFAULT_PACKS), {}, (), (), None)
    request = probe_request(sel.rule_list)
    doc = load_document(DocumentName.COLLECT.value).data()
    script = "\n".join(doc["mainSteps"][0]["inputs"]["runCommand"])
    script = script.replace("{{ request }}", encode_request(request))
    out = subprocess.run(["sh", "-c", script], capture_output=True, check=True, timeout=300)
    path.write_bytes(out.stdout)
    return len(out.stdout)


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--instances", type=int, default=10_000)
    ap.add_argument("--delay", type=float, default=1.0, help="simulated agent seconds")
    ap.add_argument("--output-s3", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--parse", action=argparse.BooleanOptionalAction, default=True,
                    help="also read (parse and validate) every result")
    args = ap.parse_args()
    n = args.instances
    state = Path(tempfile.mkdtemp(prefix="inspectorctl-bench-ssm-"))
    try:
        frame = state / "frame.txt"
        size = canned_frame(frame)
        info, _ = start_endpoint(state, simulate=n, simulate_output=frame,
                                 simulate_delay=args.delay)
        try:
            session = boto3.Session(aws_access_key_id="lab", aws_secret_access_key="lab",
                                    region_name=info.region)
            cfg = AwsConfig(region=info.region, endpoint_url=info.url,
                            s3_endpoint_url=info.s3_url)
            factory = SessionFactory(cfg, session)
            for doc in (load_document(DocumentName.COLLECT.value),):
                deploy(factory.client("ssm"), doc)
            s3loc = None
            if args.output_s3:
                where = ({} if info.region == "us-east-1" else
                         {"CreateBucketConfiguration": {"LocationConstraint": info.region}})
                factory.client("s3").create_bucket(Bucket="bench", **where)
                s3loc = S3Location(bucket="bench", prefix="out")
            sel = Selection(load_packs(DEFAULT_PACKS), {}, (), (), None)
            request = probe_request(sel.rule_list)
            targets = Targets(ssm=SsmTargets(tags=(TagTarget(key="Lab", values=("simulated",)),),
                                             aws=cfg, output_s3=s3loc))
            collector = SsmCollector(factory, poll_initial=1.0, poll_max=5.0)
            rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            c0, t0 = cpu(), time.perf_counter()
            results = collector.collect(request, targets)
            wall, used = time.perf_counter() - t0, cpu() - c0
            rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            # reading the results parses each snapshot (what evaluation would do, one at a time)
            c1, t1 = cpu(), time.perf_counter()
            ok, failed = 0, list[CollectionFailure]()
            for r in results if args.parse else []:
                if isinstance(r, HostSnapshot):
                    ok += 1
                else:
                    failed.append(r)
            parse_wall, parse_cpu = time.perf_counter() - t1, cpu() - c1
            rss2 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        finally:
            stop_endpoint(state)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    run = collector.last_run
    assert run is not None
    calls = run.calls
    chunks = math.ceil(n / 50)
    print(f"machine: {os.cpu_count()} cores, {platform.platform()}, python "
          f"{platform.python_version()}")
    print(f"instances: {n} simulated (agent delay {args.delay}s), canned frame {size} bytes, "
          f"output {'S3' if args.output_s3 else 'GetCommandInvocation'}")
    if not args.parse and isinstance(results, LazyResults):
        failed = results.failures()
        ok = len(results) - len(failed)
    print(f"results: {ok} {'snapshots' if args.parse else 'results (not parsed)'}, "
          f"{len(failed)} failures"
          + (f" (first: {failed[0].reason})" if failed else ""))
    print("API calls:")
    for op in sorted(calls):
        print(f"  {op:28} {calls[op]:>7}")
    sends = calls.get("SendCommand", 0)
    print(f"budget: SendCommand {sends} <= {chunks}: {'ok' if sends <= chunks else 'OVER'}; "
          f"ListCommandInvocations at most {run.max_pages_per_round} page(s) in a poll round "
          f"<= {chunks}: {'ok' if run.max_pages_per_round <= chunks else 'OVER'} "
          f"({run.poll_rounds} rounds); GetObject per host {calls.get('GetObject', 0) / n:.2f}")
    per_k = 1000 / n
    print(f"wall {wall:.1f} s; controller CPU {used:.1f} s ({used * per_k:.2f} s per 1,000 "
          f"instances); peak RSS growth {(rss1 - rss0) / 1024:.1f} MiB "
          f"({(rss1 - rss0) / 1024 * per_k:.2f} MiB per 1,000); peak RSS "
          f"{rss1 / 1024:.1f} MiB")
    if args.parse:
        print(f"reading the results (parse + validate each snapshot, one at a time): "
              f"{parse_wall:.1f} s wall, {parse_cpu:.1f} s CPU ({parse_cpu * per_k:.2f} s per "
              f"1,000); peak RSS after {rss2 / 1024:.1f} MiB")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
