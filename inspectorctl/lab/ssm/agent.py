"""The agent side of the lab's SSM endpoint: which managed instances exist, and running a
command's steps on them.

Two fleets: :class:`LabFleet` (the lab's hosts: a step runs as root inside the host, through
the lab's own way into a host's namespaces) and :class:`SimulatedFleet` (N instances that print
canned output after a fixed delay, for benchmarks: no host needed).

A step's output is captured as the real agent does: stdout and stderr in full (written to S3
when the command names a bucket), then cut to SSM's limits by the service.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from inspectorctl.lab.errors import LabError
from inspectorctl.lab.lab import Lab
from inspectorctl.lab.models import HostState
from inspectorctl.lab.ssm.documents import (
    DOWNLOAD_CONTENT,
    RUN_SHELL_SCRIPT,
    Step,
    execution_timeout,
)

#: the agent version lab instances report (a real SSM agent version string)
AGENT_VERSION = "3.3.1142.0"
#: where the real agent keeps a command's files on Linux
ORCHESTRATION_ROOT = "/var/lib/amazon/ssm"
#: how much of a step's stdout/stderr the lab agent keeps (the rest is dropped, said so)
MAX_CAPTURE_BYTES = 64 * 1024 * 1024
#: how long lab fleet state (read from the lab's state dir) is reused
FLEET_CACHE_SECONDS = 1.0

#: runs inside the host: writes the script (stdin) where the agent keeps it, enters the
#: working directory, runs the script with sh as the agent does ($1 orchestration dir,
#: $2 working directory or empty)
_LAUNCH = r"""
umask 022
mkdir -p "$1" || exit 1
cat > "$1/_script.sh" || exit 1
chmod 0700 "$1/_script.sh"
if [ -n "$2" ]; then
  cd "$2" 2>/dev/null || { echo "Invalid workingDirectory: $2" >&2; exit 1; }
else
  cd "$1" || exit 1
fi
exec /bin/sh "$1/_script.sh" </dev/null
"""
#: runs inside the host: writes stdin to $1 (creating its directory), for aws:downloadContent
_WRITE = r"""
umask 022
mkdir -p "$(dirname "$1")" || exit 1
cat > "$1"
"""


@dataclass(frozen=True)
class ManagedInstance:
    instance_id: str
    name: str
    tags: dict[str, str]
    online: bool
    ip: str
    platform_name: str
    platform_version: str
    registered: float
    last_ping: float
    simulated: bool = False


@dataclass
class StepResult:
    """What one step did on one instance."""

    status: str  # Success | Failed | TimedOut | Cancelled
    exit_code: int
    stdout: str = ""
    stderr: str = ""
    started: float = 0.0
    finished: float = 0.0
    #: the instance stopped answering while the step ran (lab host stopped)
    lost: bool = False
    skipped: bool = False


@dataclass
class StepContext:
    """One step to run on one instance, its parameters already substituted."""

    instance: ManagedInstance
    command_id: str
    step: Step
    env: dict[str, str]
    cancel: threading.Event
    s3: Any = None  # a boto3 S3 client for aws:downloadContent, or None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def command_dir(self) -> str:
        return (
            f"{ORCHESTRATION_ROOT}/{self.instance.instance_id}/document/orchestration/"
            f"{self.command_id}"
        )


class Fleet(Protocol):
    def instances(self, fresh: bool = False) -> list[ManagedInstance]:
        """The managed instances; ``fresh`` skips any cache (a host that came up a moment
        ago must be a valid target of the next SendCommand)."""
        ...

    def run_step(self, ctx: StepContext) -> StepResult: ...

    def present(self, instance_id: str) -> bool: ...


def os_release() -> tuple[str, str]:
    """PlatformName and PlatformVersion as the agent reports them (from /etc/os-release)."""
    name, version = platform.system(), ""
    with contextlib.suppress(OSError):
        fields = {}
        for line in Path("/etc/os-release").read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition("=")
            if sep:
                fields[key] = value.strip().strip('"')
        name = fields.get("NAME", name)
        version = fields.get("VERSION_ID", version)
    return name, version


class LabFleet:
    """The lab's hosts as managed instances: Online while running, ConnectionLost otherwise."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._lock = threading.Lock()
        self._cache: tuple[float, list[ManagedInstance]] | None = None
        self._last_seen: dict[str, float] = {}
        self._platform = os_release()

    def instances(self, fresh: bool = False) -> list[ManagedInstance]:
        now = time.time()
        with self._lock:
            cached = self._cache
            if not fresh and cached is not None and now - cached[0] < FLEET_CACHE_SECONDS:
                return cached[1]
        out = []
        for i, host in enumerate(self.lab.status()):
            online = host.state is HostState.RUNNING
            with self._lock:
                if online:
                    self._last_seen[host.instance_id] = now
                last = self._last_seen.get(host.instance_id, now if online else 0.0)
            created = _created(self.lab, host.name)
            out.append(
                ManagedInstance(
                    instance_id=host.instance_id,
                    name=host.name,
                    tags=dict(host.tags),
                    online=online,
                    ip=f"10.213.0.{i % 250 + 2}",
                    platform_name=self._platform[0],
                    platform_version=self._platform[1],
                    registered=created,
                    last_ping=last or created,
                )
            )
        with self._lock:
            self._cache = (now, out)
        return out

    def present(self, instance_id: str) -> bool:
        return any(i.instance_id == instance_id for i in self.instances())

    def _refresh(self) -> None:
        with self._lock:
            self._cache = None

    def run_step(self, ctx: StepContext) -> StepResult:
        started = time.time()
        if ctx.step.action == RUN_SHELL_SCRIPT:
            result = self._run_shell(ctx)
        elif ctx.step.action == DOWNLOAD_CONTENT:
            result = self._download(ctx)
        else:
            result = StepResult(
                "Failed",
                1,
                stderr=f"the lab agent does not run {ctx.step.action} (it runs "
                f"{RUN_SHELL_SCRIPT} and {DOWNLOAD_CONTENT})",
            )
        result.started, result.finished = started, time.time()
        return result

    # -- aws:runShellScript ------------------------------------------------------------------

    def _run_shell(self, ctx: StepContext) -> StepResult:
        inputs = ctx.step.inputs
        try:
            timeout = execution_timeout(inputs)
        except ValueError as e:
            return StepResult("Failed", 1, stderr=f"invalid inputs: {e}")
        lines = inputs.get("runCommand")
        if isinstance(lines, str):
            lines = [lines]
        if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
            return StepResult("Failed", 1, stderr="invalid inputs: runCommand must be strings")
        workdir = inputs.get("workingDirectory", "")
        if not isinstance(workdir, str):
            return StepResult("Failed", 1, stderr="invalid inputs: workingDirectory")
        script = "\n".join(lines) + "\n"
        orchestration = f"{ctx.command_dir}/{_plugin_dir(ctx.step.action)}/{ctx.step.name}"
        argv = ["/bin/sh", "-c", _LAUNCH, "ssm-agent", orchestration, workdir]
        return self._run(ctx, argv, script.encode("utf-8"), float(timeout))

    def _run(self, ctx: StepContext, argv: list[str], stdin: bytes, timeout: float) -> StepResult:
        try:
            full, env = self.lab.host_command(ctx.instance.name, argv)
        except LabError as e:
            return StepResult("Failed", 1, stderr=str(e), lost=True)
        env.update(ctx.env)
        with (
            tempfile.TemporaryFile() as out,
            tempfile.TemporaryFile() as err,
            tempfile.TemporaryFile() as inp,
        ):
            inp.write(stdin)
            inp.seek(0)
            proc = subprocess.Popen(
                full, stdin=inp, stdout=out, stderr=err, env=env, start_new_session=True
            )
            deadline = time.monotonic() + timeout
            state = "done"
            while True:
                try:
                    proc.wait(timeout=0.1)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if ctx.cancel.is_set():
                    state = "cancelled"
                elif time.monotonic() >= deadline:
                    state = "timedout"
                else:
                    continue
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                break
            stdout, stderr = _read(out), _read(err)
        code = proc.returncode
        if state == "cancelled":
            return StepResult("Cancelled", -1, stdout, stderr)
        if state == "timedout":
            return StepResult(
                "TimedOut",
                -1,
                stdout,
                stderr + ("\n" if stderr else "") + "failed to run commands: exit status -1 "
                f"(execution timed out after {timeout:g} seconds)",
            )
        if not self._alive(ctx.instance.name):
            return StepResult("Failed", -1, stdout, stderr, lost=True)
        return StepResult("Success" if code == 0 else "Failed", code, stdout, stderr)

    def _alive(self, name: str) -> bool:
        self._refresh()
        return any(h.name == name and h.state is HostState.RUNNING for h in self.lab.status())

    # -- aws:downloadContent -----------------------------------------------------------------

    def _download(self, ctx: StepContext) -> StepResult:
        inputs = ctx.step.inputs
        if inputs.get("sourceType") != "S3":
            return StepResult(
                "Failed",
                1,
                stderr=f"sourceType {inputs.get('sourceType')!r}: the lab agent downloads "
                "from S3 only (GitHub, HTTP and SSMDocument sources are not imitated)",
            )
        info = inputs.get("sourceInfo")
        if isinstance(info, str):
            try:
                info = json.loads(info)
            except ValueError:
                return StepResult("Failed", 1, stderr="sourceInfo is not valid JSON")
        if not isinstance(info, dict) or not isinstance(info.get("path"), str):
            return StepResult("Failed", 1, stderr='sourceInfo must be {"path": "<S3 URL>"}')
        try:
            bucket, key = parse_s3_url(info["path"])
        except ValueError as e:
            return StepResult("Failed", 1, stderr=str(e))
        if ctx.s3 is None:
            return StepResult("Failed", 1, stderr="the endpoint has no S3 storage")
        dest = inputs.get("destinationPath", "")
        if not isinstance(dest, str):
            return StepResult("Failed", 1, stderr="destinationPath must be a string")
        base = f"{ctx.command_dir}/downloads"
        try:
            if key.endswith("/") or key == "":
                keys = _list_keys(ctx.s3, bucket, key)
                if not keys:
                    return StepResult("Failed", 1, stderr=f"no objects under s3://{bucket}/{key}")
                root = _join(base, dest) if dest else base
                targets = [(k, f"{root.rstrip('/')}/{k[len(key) :]}") for k in keys]
            else:
                name = key.rsplit("/", 1)[-1]
                if not dest:
                    target = f"{base}/{name}"
                elif dest.endswith("/"):
                    target = _join(base, dest) + name
                else:
                    target = _join(base, dest)
                targets = [(key, target)]
            written = []
            for k, target in targets:
                body = ctx.s3.get_object(Bucket=bucket, Key=k)["Body"].read()
                result = self._run(ctx, ["/bin/sh", "-c", _WRITE, "ssm-agent", target], body, 300)
                if result.status != "Success":
                    result.stderr = f"writing {target}: {result.stderr}"
                    return result
                written.append(target)
        except Exception as e:  # botocore ClientError and friends: the step fails, named
            return StepResult("Failed", 1, stderr=f"failed to download s3://{bucket}/{key}: {e}")
        return StepResult(
            "Success", 0, stdout="\n".join(f"Content downloaded to {t}" for t in written)
        )


def _created(lab: Lab, name: str) -> float:
    try:
        data = json.loads((lab.hosts_dir / name / "host.json").read_text(encoding="utf-8"))
        from datetime import datetime

        return datetime.fromisoformat(data["created_at"]).timestamp()
    except (OSError, ValueError, KeyError):
        return time.time()


def _join(base: str, dest: str) -> str:
    return dest if dest.startswith("/") else f"{base}/{dest}"


def _list_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(o["Key"] for o in page.get("Contents", []) if not o["Key"].endswith("/"))
    return keys


def _read(fh: Any) -> str:
    fh.seek(0)
    data = fh.read(MAX_CAPTURE_BYTES + 1)
    text: str = bytes(data[:MAX_CAPTURE_BYTES]).decode("utf-8", errors="replace")
    if len(data) > MAX_CAPTURE_BYTES:
        text += f"\n[the lab agent kept the first {MAX_CAPTURE_BYTES} bytes]"
    return text


def _plugin_dir(action: str) -> str:
    """``aws:runShellScript`` -> ``awsrunShellScript``: how the agent names a plugin in paths
    and S3 keys."""
    return action.replace(":", "")


_S3_HOSTS = re.compile(r"^(?:(?P<vbucket>.+)\.)?s3(?:[.-](?P<region>[a-z0-9-]+))?\.amazonaws\.com$")


def parse_s3_url(url: str) -> tuple[str, str]:
    """Bucket and key of an S3 URL the agent accepts: ``https://s3.amazonaws.com/b/k``,
    ``https://s3.REGION.amazonaws.com/b/k``, ``https://b.s3[.REGION].amazonaws.com/k``, or a
    path-style URL of the lab's own S3 (``http://127.0.0.1:PORT/b/k``)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"sourceInfo path {url!r} is not an S3 URL (https://...)")
    path = unquote(parsed.path)
    m = _S3_HOSTS.match(parsed.hostname)
    if m and m.group("vbucket"):
        bucket, key = m.group("vbucket"), path.lstrip("/")
    elif m or parsed.hostname in ("127.0.0.1", "localhost"):
        parts = path.lstrip("/").split("/", 1)
        bucket, key = parts[0], parts[1] if len(parts) > 1 else ""
    else:
        raise ValueError(f"sourceInfo path {url!r} is not an S3 URL")
    if not bucket:
        raise ValueError(f"sourceInfo path {url!r} names no bucket")
    return bucket, key


# -- simulated fleet -------------------------------------------------------------------------


def simulated_id(index: int) -> str:
    return "mi-" + hashlib.sha256(f"inspectorctl-sim:{index}".encode()).hexdigest()[:17]


class SimulatedFleet:
    """``count`` always-online instances whose runShellScript steps print ``output`` after
    ``delay`` seconds (downloadContent steps succeed without writing anything)."""

    def __init__(self, count: int, output: str, delay: float) -> None:
        now = time.time()
        name, version = os_release()
        self.output = output
        self.delay = delay
        self._instances = [
            ManagedInstance(
                instance_id=simulated_id(i),
                name=f"sim-{i}",
                tags={"Name": f"sim-{i}", "Lab": "simulated", "Batch": str(i // 1000)},
                online=True,
                ip=f"10.{100 + i // 65536}.{(i // 256) % 256}.{i % 256}",
                platform_name=name,
                platform_version=version,
                registered=now,
                last_ping=now,
                simulated=True,
            )
            for i in range(1, count + 1)
        ]
        self._ids = {i.instance_id for i in self._instances}

    def instances(self, fresh: bool = False) -> list[ManagedInstance]:
        return self._instances

    def present(self, instance_id: str) -> bool:
        return instance_id in self._ids

    def run_step(self, ctx: StepContext) -> StepResult:
        started = time.time()
        if ctx.cancel.wait(self.delay):
            return StepResult("Cancelled", -1, started=started, finished=time.time())
        if ctx.step.action == RUN_SHELL_SCRIPT:
            return StepResult("Success", 0, self.output, "", started, time.time())
        return StepResult("Success", 0, "", "", started, time.time())


OnDone = Callable[[], None]
