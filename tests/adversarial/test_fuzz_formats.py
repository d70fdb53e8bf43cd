"""Fuzzing (hypothesis) of every file format inspectorctl reads from a user: rulepack,
template, policy, plan, inventory (the pre-check before ansible-inventory), allowed-signers,
lab profile and saved host snapshot. Any input either loads or raises inspectorctl's own
error class (one message naming the file), never another exception: no RecursionError,
ValueError, OverflowError, UnicodeDecodeError or MarkupError from deep inside a parser.

Three kinds of input per format: arbitrary text, arbitrary JSON-like documents (nested,
with odd scalars) written as YAML/JSON, and mutations of a valid shipped file (bytes
flipped, lines cut, aliases and deep nesting spliced in)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspectorctl import ignorefile
from inspectorctl.assess import options_from_template, read_snapshot
from inspectorctl.collect.ansible import _yaml_precheck
from inspectorctl.errors import InspectorctlError
from inspectorctl.lab.profiles import load_profile
from inspectorctl.remediate.approval import load_policy
from inspectorctl.remediate.plans import load_plan
from inspectorctl.remediate.signing import parse_allowed_signers
from inspectorctl.rules.loader import load_pack
from inspectorctl.yamlfile import MAX_BYTES, read_text_limited
from tests.fixtures import snapshot_dict

ROOT = Path(__file__).resolve().parents[2]
FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SAMPLE_PACK = """\
id: mini
version: "1.0"
title: Mini
description: d
variables:
  max_tries: {default: 4, description: limit}
rules:
  - id: mini-ssh-root
    title: SSH root login is disabled
    description: d
    rationale: r
    severity: high
    check: {kind: sshd_option, option: PermitRootLogin, expect: {op: eq, value: "no"}}
    remediation: {playbook: sshd_config, params: {option: PermitRootLogin, value: "no"}}
"""
SAMPLE_POLICY = (ROOT / "examples" / "policy.yml").read_text()
SAMPLE_TEMPLATE = """\
name: t
packs: [cis-linux]
rules: {exclude: ["*-tmp-*"]}
tailoring: {pass_max_days: 90}
"""
SAMPLE_PLAN = json.dumps({
    "version": 1, "plan_id": "p-1", "created_at": "2026-01-01T00:00:00+00:00",
    "source": {"run_id": "r-1"}, "findings_digest": "x", "digest": "y",
    "actions": [{"id": "a-1", "playbook": "sshd_config", "playbook_digest": "d",
                 "hosts": ["web-1"], "items": [{"option": "X", "value": "1"}],
                 "findings": [], "severity": "high", "disruption": "none",
                 "privilege": "root", "reversible": True, "check_mode_supported": True}],
}, indent=1)
SAMPLE_INVENTORY = "all:\n  hosts:\n    web-1: {ansible_host: 10.0.0.1}\n  children:\n" \
                   "    db: {hosts: {db-1: null}}\n"
SAMPLE_SIGNERS = ('alice,bob@example.org namespaces="inspectorctl-approval@v1" ssh-ed25519 '
                  "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a\n")
SAMPLE_SNAPSHOT = json.dumps(snapshot_dict("web-1", root_login="yes"))
SAMPLE_PROFILE = (ROOT / "inspectorctl" / "lab" / "profiles" / "weak.yml").read_text()

Loader = Callable[[Path, str], Any]


def _load(suffix: str, loader: Callable[[Path], Any]) -> Loader:
    def run(d: Path, text: str) -> Any:
        p = d / f"input{suffix}"
        p.write_text(text, encoding="utf-8", errors="surrogatepass")
        return loader(p)
    return run


def _inventory(d: Path, text: str) -> None:
    p = d / "inventory.yml"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    # as AnsibleCollector reads it before ansible-inventory sees it
    _yaml_precheck(p, read_text_limited(p, MAX_BYTES, "inventory file", errors="replace"))


def _profile(d: Path, text: str) -> Any:
    p = d / "weak.yml"  # as load_profile reads a user's profile
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    return load_profile(str(p))


def _ignore_file(d: Path, text: str) -> Any:
    p = d / ".inspectorctl-ignore.yml"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    return ignorefile.load(p, date(2026, 12, 1))


SAMPLE_IGNORE = """\
version: 1
ignore:
  - rule: "cis-*-tmp-*"
    host: "bastion-*"
    reason: the vendor agent
    owner: alice
    expires: 2027-03-01
"""

FORMATS: dict[str, tuple[Loader, str]] = {
    "rulepack": (_load(".yml", load_pack), SAMPLE_PACK),
    "template": (_load(".yml", options_from_template), SAMPLE_TEMPLATE),
    "policy": (_load(".yml", load_policy), SAMPLE_POLICY),
    "plan": (_load(".json", load_plan), SAMPLE_PLAN),
    "inventory": (_inventory, SAMPLE_INVENTORY),
    "allowed-signers": (_load("", parse_allowed_signers), SAMPLE_SIGNERS),
    "lab profile": (_profile, SAMPLE_PROFILE),
    "snapshot": (_load(".json", read_snapshot), SAMPLE_SNAPSHOT),
    "ignore file": (_ignore_file, SAMPLE_IGNORE),
}


def _holds(fmt: str, text: str) -> None:
    loader, _ = FORMATS[fmt]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            loader(Path(tmp), text)
        except InspectorctlError as e:
            assert str(e), "an error with no message"
        # anything else propagates and fails the test with its traceback


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True), st.text(max_size=20),
    st.sampled_from(["0s", "999999999d", "[/x]", "{{ lookup('pipe','id') }}", "\x1b[2J",
                     "Mon-Fri 02:00-05:00 UTC", "*", "../../etc/passwd", "ssh-ed25519"]),
)
DOCS = st.recursive(SCALARS, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=12), kids, max_size=4)),
    max_leaves=25)
FORMAT_NAMES = st.sampled_from(sorted(FORMATS))


@FUZZ
@given(fmt=FORMAT_NAMES, text=st.text(max_size=400))
def test_arbitrary_text(fmt: str, text: str) -> None:
    _holds(fmt, text)


@FUZZ
@given(fmt=FORMAT_NAMES, doc=DOCS, as_json=st.booleans())
def test_arbitrary_documents(fmt: str, doc: Any, as_json: bool) -> None:
    text = json.dumps(doc) if as_json else yaml.safe_dump(doc, allow_unicode=True)
    _holds(fmt, text)


SPLICES = st.sampled_from([
    "", "\n", "\x00", "\x1b[2J", ": ", "- ", "&a ", "*a ", "*nope ", "[" * 70, "]" * 70,
    "{" * 70, "!!python/object:os.system ", "!unsafe ", "'", '"', "\t", "%YAML 1.1\n---\n",
    "\ufeff", "\ud800", "key: &x [*x]\n", "99999999999999999999", "approval_ttl: 0s\n",
])


@FUZZ
@given(fmt=FORMAT_NAMES, cuts=st.lists(st.tuples(st.floats(0, 1), SPLICES, st.integers(0, 5)),
                                       min_size=1, max_size=5))
def test_mutated_valid_files(fmt: str, cuts: list[tuple[float, str, int]]) -> None:
    _, text = FORMATS[fmt]
    for where, splice, drop in cuts:
        i = int(where * len(text))
        text = text[:i] + splice + text[i + drop:]
    _holds(fmt, text)


def test_the_samples_themselves_load() -> None:
    """The mutation tests start from valid files (else they would test only errors)."""
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("rulepack", "policy", "plan", "inventory", "allowed-signers",
                    "lab profile", "snapshot", "ignore file"):
            loader, text = FORMATS[fmt]
            loader(Path(tmp), text)
