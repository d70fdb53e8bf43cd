"""Ansible stdout callback shipped in the SSM playbook bundle (``callback_plugins/``).

It runs on the managed instance inside ``ansible-playbook -c local`` (InspectorCtl-ApplyPlaybook)
and prints one frame at the end of the play, the same framing as the probe's:
``INSPECTORCTL-FRAME/1 <length> <sha256>`` + gzip+base64 JSON + ``INSPECTORCTL-END``. The JSON is
``{"stats": {ok, changed, failures, dark, skipped, rescued, ignored}, "failures": [task
messages], "diffs": [{"task", "diff"}]}``: results as data, never scraped text.
"""

import base64
import gzip
import hashlib
import json
import sys
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: inspectorctl_result
    type: stdout
    short_description: inspectorctl's framed JSON result
    description: Prints one framed JSON result of the play for inspectorctl's SSM executor.
"""


def _failure(result: Any) -> str:
    res = result._result if isinstance(result._result, dict) else {}
    task = result._task.get_name() if result._task else ""
    parts = [str(res.get("msg") or "").strip()]
    for key in ("stderr", "module_stderr"):
        text = str(res.get(key) or "").strip()
        if text:
            parts.append(" | ".join(ln for ln in text.splitlines()[-3:] if ln.strip()))
    detail = "; ".join(p for p in parts if p) or "failed without a message"
    return f"task {task!r}: {detail}" if task else detail


class CallbackModule(CallbackBase):  # type: ignore[misc]
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "inspectorctl_result"

    def __init__(self) -> None:
        super().__init__()
        self.failures: list[str] = []
        self.diffs: list[dict[str, Any]] = []

    def v2_runner_on_ok(self, result: Any) -> None:
        res = result._result if isinstance(result._result, dict) else {}
        diff = res.get("diff")
        if not diff and isinstance(res.get("results"), list):
            # a looped task: one diff per item (as the SSH path reads them)
            diff = [r["diff"] for r in res["results"] if isinstance(r, dict) and r.get("diff")]
        if diff:
            self.diffs.append({"task": result._task.get_name(), "diff": diff})

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        if not ignore_errors:
            self.failures.append(_failure(result))

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self.failures.append(_failure(result))

    def v2_runner_item_on_failed(self, result: Any) -> None:
        self.failures.append(_failure(result))

    def v2_playbook_on_stats(self, stats: Any) -> None:
        hosts = sorted(stats.processed.keys())
        summary = stats.summarize(hosts[0]) if hosts else {}
        out = {"stats": summary, "processed": bool(hosts), "failures": self.failures[:20],
               "diffs": self.diffs}
        payload = base64.b64encode(gzip.compress(json.dumps(out).encode("utf-8"), 9))
        digest = hashlib.sha256(payload).hexdigest()
        sys.stdout.write(f"INSPECTORCTL-FRAME/1 {len(payload)} {digest}\n"
                         f"{payload.decode('ascii')}\nINSPECTORCTL-END\n")
        sys.stdout.flush()
