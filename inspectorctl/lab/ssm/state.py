"""Where the lab's SSM endpoint runs: ``STATE_DIR/ssm/endpoint.json``, and stopping it.

Kept apart from the endpoint itself so that ``Lab.down()`` can stop it without importing it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from inspectorctl.lab.processes import starttime
from inspectorctl.lab.ssm.errors import SsmLabError, SsmLabInputError

ENDPOINT_FILE = "endpoint.json"
STOP_TIMEOUT = 15.0


@dataclass(frozen=True)
class EndpointInfo:
    """Where a running endpoint listens (what ``endpoint.json`` holds)."""

    url: str
    s3_url: str
    region: str
    pid: int
    starttime: int
    simulate: int
    started_at: float

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3 and the AWS CLI at the endpoint."""
        return {
            "AWS_ENDPOINT_URL_SSM": self.url,
            "AWS_ENDPOINT_URL_S3": self.s3_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": "lab",
            "AWS_SECRET_ACCESS_KEY": "lab",
        }

    def client(self, service: str) -> Any:
        """A boto3 client for ``ssm`` or ``s3`` against this endpoint (lab credentials)."""
        import boto3
        from botocore.config import Config

        if service not in ("ssm", "s3"):
            raise SsmLabInputError(f"service {service!r}: the lab serves ssm and s3")
        return boto3.session.Session(
            aws_access_key_id="lab", aws_secret_access_key="lab", region_name=self.region
        ).client(
            service,
            endpoint_url=self.url if service == "ssm" else self.s3_url,
            config=Config(
                retries={"mode": "standard", "max_attempts": 3},
                s3={"addressing_style": "path"},
            ),
        )


def ssm_dir(state_dir: Path) -> Path:
    return state_dir / "ssm"


def _alive(info: EndpointInfo) -> bool:
    return starttime(info.pid) == info.starttime


def read_endpoint(state_dir: Path) -> EndpointInfo | None:
    """The running endpoint of this lab, or None (a file left by a dead process is removed)."""
    path = ssm_dir(state_dir) / ENDPOINT_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        info = EndpointInfo(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as e:
        raise SsmLabError(f"{path}: unreadable ({e}); remove it and start again") from e
    if not _alive(info):
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    return info


def write_endpoint(state_dir: Path, info: EndpointInfo) -> None:
    folder = ssm_dir(state_dir)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = folder / f".{ENDPOINT_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps(asdict(info), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, folder / ENDPOINT_FILE)


def stop_endpoint(state_dir: Path) -> EndpointInfo | None:
    """Stop the lab's endpoint if it runs; returns what was stopped."""
    info = read_endpoint(state_dir)
    if info is None:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and _alive(info):
        time.sleep(0.05)
    if _alive(info):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(info.pid, signal.SIGKILL)
        time.sleep(0.2)
    with contextlib.suppress(OSError):
        (ssm_dir(state_dir) / ENDPOINT_FILE).unlink()
    return info


