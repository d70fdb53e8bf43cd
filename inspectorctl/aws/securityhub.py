"""Security Hub's BatchImportFindings, as its quotas require.

- Batches of at most 100 findings and 6 MB of request body (:func:`batches`); each finding is
  already cut to 240 KB by ``report.asff.fit``.
- At most 10 calls in any one second (:class:`RateLimiter`, a sliding window over an
  injectable clock): BatchImportFindings' rate quota is 10 TPS per account and Region.
- A call that succeeds can still refuse findings: ``FailedCount``/``FailedFindings`` are read
  for every call, each refused finding is reported with its ``ErrorCode`` and ``ErrorMessage``,
  and those refused for a transient reason (throttling, an internal error) are sent again,
  with exponential backoff and jitter, up to ``max_attempts`` times (:func:`import_findings`).
  A whole call refused for a transient reason is retried the same way (after botocore's own
  retries); one refused for access (Security Hub not enabled, no permission) stops the import
  with what was imported so far; any other refused call fails its batch's findings by name.

The client comes from the session factory (``aws/session.py``), never from here.
"""

from __future__ import annotations

import json
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from inspectorctl.aws.session import AwsError, describe_client_error
from inspectorctl.models.common import Frozen

MAX_BATCH_FINDINGS = 100
#: BatchImportFindings: 6 MB per request
MAX_BATCH_BYTES = 6 * 1024 * 1024
#: BatchImportFindings: 10 transactions per second per account and Region
MAX_CALLS_PER_SECOND = 10
DEFAULT_ATTEMPTS = 5
#: FailedFindings error codes and call errors worth sending again
TRANSIENT_CODES = frozenset({
    "ThrottlingException", "Throttling", "TooManyRequestsException", "LimitExceededException",
    "RequestLimitExceeded", "InternalException", "InternalError", "InternalFailure",
    "InternalServerError", "ServiceUnavailable", "ServiceUnavailableException",
})
#: call errors that no other batch can get past: stop, saying what was imported
FATAL_CODES = frozenset({
    "AccessDeniedException", "InvalidAccessException", "UnrecognizedClientException",
    "InvalidClientTokenId", "ExpiredTokenException", "InvalidSignatureException",
    "ResourceNotFoundException",
})


class SecurityHubError(AwsError):
    """The import cannot go on (access refused, Security Hub not enabled, endpoint down)."""


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class RateLimiter:
    """At most ``calls`` calls in any window of ``per`` seconds: :meth:`acquire` waits (on the
    clock) until the call it precedes keeps to that."""

    def __init__(self, calls: int = MAX_CALLS_PER_SECOND, per: float = 1.0,
                 clock: Clock | None = None) -> None:
        if calls < 1 or per <= 0:
            raise ValueError("a rate needs calls >= 1 and per > 0")
        self.calls = calls
        self.per = per
        self.clock: Clock = clock or SystemClock()
        self._sent: deque[float] = deque()

    def acquire(self) -> None:
        now = self.clock.monotonic()
        while self._sent and now - self._sent[0] >= self.per:
            self._sent.popleft()
        if len(self._sent) >= self.calls:
            wait = self._sent[0] + self.per - now
            if wait > 0:
                self.clock.sleep(wait)
            now = self.clock.monotonic()
            self._sent.popleft()
        self._sent.append(now)


def body_size(findings: Sequence[dict[str, Any]]) -> int:
    """Bytes of the BatchImportFindings body botocore sends for ``findings``."""
    return len(json.dumps({"Findings": list(findings)}).encode())


def batches(findings: Sequence[dict[str, Any]], max_findings: int = MAX_BATCH_FINDINGS,
            max_bytes: int = MAX_BATCH_BYTES) -> list[list[dict[str, Any]]]:
    """``findings`` in order, in batches within both limits (a finding alone over
    ``max_bytes`` is a ``ValueError``: cut it first)."""
    empty = body_size([])
    out: list[list[dict[str, Any]]] = []
    cur: list[dict[str, Any]] = []
    cur_size = empty
    for f in findings:
        n = len(json.dumps(f).encode())
        if empty + n > max_bytes:
            raise ValueError(f"finding {f.get('Id')!r} alone is {n} bytes, over the "
                             f"{max_bytes}-byte request limit")
        extra = n + (2 if cur else 0)  # ", " between findings
        if cur and (len(cur) >= max_findings or cur_size + extra > max_bytes):
            out.append(cur)
            cur, cur_size, extra = [], empty, n
        cur.append(f)
        cur_size += extra
    if cur:
        out.append(cur)
    return out


class FailedFinding(Frozen):
    id: str
    code: str
    message: str
    attempts: int
    transient: bool


class ImportReport(Frozen):
    imported: tuple[str, ...] = ()
    failed: tuple[FailedFinding, ...] = ()
    #: BatchImportFindings calls made, and findings sent again
    calls: int = 0
    retried: int = 0
    #: what the service said that does not add up (FailedCount without FailedFindings...)
    anomalies: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failed and not self.anomalies


@dataclass
class _Progress:
    imported: list[str] = field(default_factory=list)
    failed: dict[str, FailedFinding] = field(default_factory=dict)
    anomalies: list[str] = field(default_factory=list)
    calls: int = 0
    retried: int = 0

    def report(self) -> ImportReport:
        return ImportReport(imported=tuple(self.imported),
                            failed=tuple(self.failed[k] for k in sorted(self.failed)),
                            calls=self.calls, retried=self.retried,
                            anomalies=tuple(self.anomalies))


class PartialImport(SecurityHubError):
    """Stopped part-way; ``report`` says what was imported before."""

    def __init__(self, message: str, report: ImportReport) -> None:
        super().__init__(message)
        self.report = report


def import_findings(
    client: Any,
    findings: Sequence[dict[str, Any]],
    *,
    limiter: RateLimiter | None = None,
    sleep: Callable[[float], None] | None = None,
    max_attempts: int = DEFAULT_ATTEMPTS,
    base_delay: float = 0.5,
    max_delay: float = 20.0,
    rng: random.Random | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import ``findings`` (ASFF dicts, already fitted) and say what became of each."""
    import botocore.exceptions

    limiter = limiter or RateLimiter()
    sleep = sleep or limiter.clock.sleep
    rng = rng or random.Random()
    by_id = {f["Id"]: f for f in findings}
    if len(by_id) != len(findings):
        raise ValueError("two findings share an Id: Security Hub would keep only one")
    p = _Progress()
    pending = list(findings)
    attempt = 0
    while pending:
        attempt += 1
        again: list[dict[str, Any]] = []
        last: dict[str, tuple[str, str]] = {}
        for batch in batches(pending):
            limiter.acquire()
            p.calls += 1
            try:
                resp = client.batch_import_findings(Findings=batch)
            except botocore.exceptions.ClientError as e:
                code = str(e.response.get("Error", {}).get("Code") or "Error")
                msg = describe_client_error(e)
                if code in FATAL_CODES:
                    raise PartialImport(f"Security Hub refused the import: {msg}; "
                                        f"{len(p.imported)} finding(s) imported before",
                                        p.report()) from e
                for f in batch:
                    last[f["Id"]] = (code, msg)
                    if code in TRANSIENT_CODES:
                        again.append(f)
                    else:
                        p.failed[f["Id"]] = FailedFinding(id=f["Id"], code=code, message=msg,
                                                          attempts=attempt, transient=False)
                continue
            except botocore.exceptions.BotoCoreError as e:
                raise PartialImport(f"cannot reach Security Hub: {e}; {len(p.imported)} "
                                    "finding(s) imported before", p.report()) from e
            refused = resp.get("FailedFindings") or []
            named = set()
            for ff in refused:
                fid = str(ff.get("Id") or "")
                code = str(ff.get("ErrorCode") or "Error")
                msg = str(ff.get("ErrorMessage") or "")
                if fid not in by_id:
                    p.anomalies.append(f"FailedFindings names {fid!r}, which was not sent "
                                       f"({code}: {msg})")
                    continue
                named.add(fid)
                if code in TRANSIENT_CODES:
                    again.append(by_id[fid])
                    last[fid] = (code, msg)
                else:
                    p.failed[fid] = FailedFinding(id=fid, code=code, message=msg,
                                                  attempts=attempt, transient=False)
            count = int(resp.get("FailedCount", len(refused)))
            if count != len(named):
                p.anomalies.append(
                    f"a call reported FailedCount {count} but named {len(named)} finding(s) "
                    "in FailedFindings: some findings may not have been imported")
            p.imported += [f["Id"] for f in batch if f["Id"] not in named]
            if on_batch is not None:
                on_batch(len(p.imported), len(findings))
        if not again:
            break
        if attempt >= max_attempts:
            for f in again:
                code, msg = last[f["Id"]]
                p.failed[f["Id"]] = FailedFinding(
                    id=f["Id"], code=code, message=msg, attempts=attempt, transient=True)
            break
        p.retried += len(again)
        delay = min(max_delay, base_delay * 2 ** (attempt - 1))
        sleep(delay / 2 + rng.uniform(0, delay / 2))
        pending = again
    return p.report()
