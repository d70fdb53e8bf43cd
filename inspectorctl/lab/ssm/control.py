"""Start, stop and find the lab's SSM endpoint: a background process per lab state dir.

``start_endpoint`` runs ``python -m inspectorctl.lab.ssm serve`` in a session of its own and
waits until it answers; the process records where it listens in ``STATE_DIR/ssm/endpoint.json``
(so ``lab ssm status`` and other processes find it) and removes the file when it stops.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inspectorctl.lab.processes import starttime
from inspectorctl.lab.ssm.errors import SsmLabError, SsmLabInputError
from inspectorctl.lab.ssm.state import (
    ENDPOINT_FILE,
    EndpointInfo,
    read_endpoint,
    ssm_dir,
    write_endpoint,
)

LOG_FILE = "endpoint.log"
START_TIMEOUT = 60.0
MAX_SIMULATED = 100_000
MAX_SNAPSHOT_BYTES = 16 * 1024 * 1024
#: the region and credentials the hints suggest (any are accepted)
LAB_REGION = "us-east-1"


def ping(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=timeout) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def start_endpoint(
    state_dir: Path,
    *,
    simulate: int = 0,
    simulate_output: Path | None = None,
    simulate_delay: float = 1.0,
    check_responses: bool = False,
    delivery_latency: float = 0.0,
    workers: int | None = None,
) -> tuple[EndpointInfo, bool]:
    """Start the endpoint of the lab in ``state_dir`` (or find it running): (info, started)."""
    if not 0 <= simulate <= MAX_SIMULATED:
        raise SsmLabInputError(f"--simulate must be between 0 and {MAX_SIMULATED}")
    if simulate_delay < 0 or simulate_delay > 3600:
        raise SsmLabInputError("--simulate-delay must be between 0 and 3600 seconds")
    if simulate_output is not None:
        check_snapshot(simulate_output)
    running = read_endpoint(state_dir)
    if running is not None:
        if running.simulate != simulate:
            raise SsmLabInputError(
                f"the lab's SSM endpoint already runs at {running.url} with "
                f"{running.simulate or 'no'} simulated instances; `inspectorctl lab ssm stop` "
                "first"
            )
        return running, False
    folder = ssm_dir(state_dir)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    argv: list[str] = [
        sys.executable,
        "-m",
        "inspectorctl.lab.ssm",
        "serve",
        "--state-dir",
        str(state_dir),
        "--simulate",
        str(simulate),
        "--simulate-delay",
        str(simulate_delay),
        "--delivery-latency",
        str(delivery_latency),
    ]
    if simulate_output is not None:
        argv += ["--simulate-output", str(simulate_output.resolve())]
    if check_responses:
        argv.append("--check-responses")
    if workers is not None:
        argv += ["--workers", str(workers)]
    log_path = folder / LOG_FILE
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            cwd="/",
            # hundreds of agent threads: glibc's per-thread arenas would hold RSS for nothing
            env={**os.environ, "MALLOC_ARENA_MAX": "2"},
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise SsmLabError(
                f"the SSM endpoint exited ({code}) before it answered; its log "
                f"{log_path} ends with:\n{_tail(log_path)}"
            )
        info = read_endpoint(state_dir)
        if info is not None and info.pid == proc.pid and ping(info.url):
            return info, True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    raise SsmLabError(
        f"the SSM endpoint did not answer within {START_TIMEOUT:g}s; its log {log_path} ends "
        f"with:\n{_tail(log_path)}"
    )


def check_snapshot(path: Path) -> str:
    """The canned output file of a simulated fleet: UTF-8 text of at most 16 MiB."""
    try:
        size = path.stat().st_size
        if size > MAX_SNAPSHOT_BYTES:
            raise SsmLabInputError(
                f"{path}: {size} bytes; a simulated output is at most {MAX_SNAPSHOT_BYTES}"
            )
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise SsmLabInputError(f"{path}: not UTF-8 text ({e})") from e
    except OSError as e:
        raise SsmLabInputError(f"{path}: cannot read it ({e.strerror})") from e


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def serve(argv: Sequence[str]) -> int:
    """The endpoint process (``python -m inspectorctl.lab.ssm serve ...``)."""
    import argparse
    import logging
    import threading

    import boto3
    from botocore.config import Config
    from moto.server import ThreadedMotoServer

    from inspectorctl.lab.lab import Lab
    from inspectorctl.lab.ssm.agent import Fleet, LabFleet, SimulatedFleet
    from inspectorctl.lab.ssm.server import SsmHttpServer
    from inspectorctl.lab.ssm.service import SsmService

    parser = argparse.ArgumentParser(prog="inspectorctl.lab.ssm serve")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--simulate", type=int, default=0)
    parser.add_argument("--simulate-output", type=Path)
    parser.add_argument("--simulate-delay", type=float, default=1.0)
    parser.add_argument("--delivery-latency", type=float, default=0.0)
    parser.add_argument("--check-responses", action="store_true")
    parser.add_argument("--workers", type=int)
    args = parser.parse_args(list(argv))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    fleet: Fleet
    if args.simulate:
        output = (
            check_snapshot(args.simulate_output)
            if args.simulate_output
            else "simulated instance: started without --simulate-output\n"
        )
        fleet = SimulatedFleet(args.simulate, output, args.simulate_delay)
        workers = args.workers or 512
    else:
        fleet = LabFleet(Lab(args.state_dir))
        workers = args.workers or 64
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    s3_url = f"http://127.0.0.1:{moto.get_host_and_port()[1]}"

    def s3_client() -> Any:
        return boto3.session.Session(
            aws_access_key_id="lab", aws_secret_access_key="lab", region_name=LAB_REGION
        ).client(
            "s3",
            endpoint_url=s3_url,
            config=Config(s3={"addressing_style": "path"}, max_pool_connections=64),
        )

    service = SsmService(
        fleet,
        s3_client=s3_client,
        s3_url=s3_url,
        workers=workers,
        delivery_latency=args.delivery_latency,
    )
    http = SsmHttpServer(service, check_responses=args.check_responses)
    http.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    pid = os.getpid()
    write_endpoint(
        args.state_dir,
        EndpointInfo(
            url=http.url,
            s3_url=s3_url,
            region=LAB_REGION,
            pid=pid,
            starttime=starttime(pid) or 0,
            simulate=args.simulate,
            started_at=time.time(),
        ),
    )
    logging.getLogger(__name__).info("SSM endpoint %s, S3 %s", http.url, s3_url)
    try:
        stop.wait()
    finally:
        http.stop()
        service.close()
        moto.stop()
        info = read_endpoint(args.state_dir)
        if info is not None and info.pid == pid:
            with contextlib.suppress(OSError):
                (ssm_dir(args.state_dir) / ENDPOINT_FILE).unlink()
    return 0
