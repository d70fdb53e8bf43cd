"""A plan's signature (HMAC of its digest with the approval key) and the host identities its
source run recorded: what ``plan`` writes into a plan and the gate checks. Apart from
``integrity`` so that the planner can sign without importing the gate's recomputation (which
imports the planner)."""

from __future__ import annotations

import hashlib
import hmac

from inspectorctl.models.plan import Plan, PlannedIdentity
from inspectorctl.store.db import Store

_DOMAIN = b"inspectorctl-plan\x00"


def plan_signature(key: bytes, digest: str) -> str:
    return hmac.new(key, _DOMAIN + digest.encode("ascii"), hashlib.sha256).hexdigest()


def sign_plan(store: Store, plan: Plan) -> Plan:
    """The plan with its signature (the approval key is created with the first plan)."""
    from inspectorctl.remediate.keys import approval_key

    key = approval_key(store, create=True)
    return plan.model_copy(update={"signature": plan_signature(key, plan.digest)})


def signature_problem(plan: Plan, store: Store) -> str | None:
    """Why the plan's signature is not valid for this database's key, or None."""
    from inspectorctl.remediate.keys import ApprovalError, approval_key

    if not plan.signature:
        return (f"plan {plan.plan_id} is not signed: only plans made by `inspectorctl plan` "
                f"with the database {store.path} are accepted; make a new plan")
    try:
        key = approval_key(store, create=False)
    except ApprovalError as e:
        return f"plan {plan.plan_id}: its signature cannot be checked: {e}"
    if not hmac.compare_digest(plan.signature, plan_signature(key, plan.digest)):
        return (f"plan {plan.plan_id} has an invalid signature: it was not made by "
                f"`inspectorctl plan` with the database {store.path} (or it was edited and "
                "its digest recomputed); make a new plan")
    return None


IDENTITIES_KEY = "identities"


def run_identities(store: Store, run_id: str | None) -> dict[str, PlannedIdentity]:
    """The identity of every host the run assessed, as it recorded them."""
    if run_id is None:
        return {}
    run = store.run(run_id)
    if run is None:
        return {}
    raw = run.targets.get(IDENTITIES_KEY) or {}
    out: dict[str, PlannedIdentity] = {}
    if isinstance(raw, dict):
        for host, ident in raw.items():
            if isinstance(ident, dict):
                try:
                    out[str(host)] = PlannedIdentity.model_validate(ident)
                except ValueError:
                    continue
    return out
