"""Orchestration of an assessment: targets -> collect -> evaluate -> store.

Options travel as one ``AssessOptions`` object; the CLI builds it from flags or a template.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from inspectorctl.collect.interface import CollectionFailure, HostResult, ProgressCallback, Targets
from inspectorctl.errors import InputError
from inspectorctl.models.common import Frozen, Severity, Status
from inspectorctl.models.finding import RuleResult, RunCounts, RunRecord
from inspectorctl.models.rule import FRAMEWORKS, RulePack
from inspectorctl.models.snapshot import HostSnapshot
from inspectorctl.models.template import AssessmentTemplate
from inspectorctl.rules.engine import Selection, evaluate_host
from inspectorctl.rules.facts import probe_request
from inspectorctl.rules.loader import DEFAULT_PACKS, load_packs
from inspectorctl.store.db import Store, now
from inspectorctl.yamlfile import load_model


class AssessOptions(Frozen):
    packs: tuple[str, ...] = DEFAULT_PACKS
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    framework: str | None = None
    tailoring: dict[str, Any] = Field(default_factory=dict)
    targets: Targets = Field(default_factory=Targets)
    transport: str = "ansible"
    from_snapshots: Path | None = None
    template: str | None = None
    walk_max_seconds: float = 20.0


@dataclass
class AssessmentResult:
    run: RunRecord
    results: list[RuleResult]
    failures: list[CollectionFailure]
    snapshots: list[HostSnapshot]
    selection: Selection
    timings: dict[str, float] = field(default_factory=dict)

    def fails_at(self, severity: Severity) -> list[RuleResult]:
        return [r for r in self.results
                if r.status is Status.FAIL and r.severity.rank >= severity.rank]


def options_from_template(path: Path, **overrides: Any) -> AssessOptions:
    tpl = load_model(path, AssessmentTemplate, "template")
    tpl = tpl.model_copy(update={"source": str(path)})
    inv = tpl.inventory_path()
    if inv is not None and not inv.is_file():
        raise InputError(f"{path}: targets.inventory: no such inventory file {inv}")
    opts = AssessOptions(
        packs=tuple(tpl.packs),
        include=tuple(tpl.rules.include),
        exclude=tuple(tpl.rules.exclude),
        framework=tpl.framework,
        tailoring=dict(tpl.tailoring),
        targets=Targets(inventory=inv, limit=tpl.targets.limit, become=tpl.targets.become,
                        forks=tpl.targets.forks),
        transport=tpl.targets.transport,
        template=tpl.name,
    )
    return opts.model_copy(update={k: v for k, v in overrides.items() if v is not None})


def select(options: AssessOptions, packs: Sequence[RulePack] | None = None) -> Selection:
    if options.framework is not None and options.framework not in FRAMEWORKS:
        raise InputError(
            f"unknown framework {options.framework!r}; valid: {', '.join(FRAMEWORKS)}"
        )
    packs = list(packs) if packs is not None else load_packs(options.packs)
    known = {v for p in packs for v in p.variables} | {
        f"{p.id}.{v}" for p in packs for v in p.variables}
    unknown = sorted(set(options.tailoring) - known)
    if unknown:
        raise InputError(
            f"unknown tailoring variable(s) {', '.join(unknown)}; the selected packs define: "
            f"{', '.join(sorted(known)) or 'none'}"
        )
    sel = Selection(packs, options.tailoring, options.include, options.exclude,
                    options.framework)
    if not len(sel):
        raise InputError("no rule matches the selection (check --pack, --rule, --exclude "
                         "and --framework)")
    return sel


def iter_snapshots(directory: Path) -> Iterator[HostSnapshot]:
    """Saved snapshots (``*.json``), one at a time; a bad file is an InputError naming it."""
    if not directory.is_dir():
        raise InputError(f"{directory}: not a directory of saved snapshots")
    files = sorted(directory.glob("*.json"))
    if not files:
        raise InputError(f"{directory}: no snapshot files (*.json) in it; create them with "
                         "`inspectorctl collect --out DIR`")
    for f in files:
        try:
            yield HostSnapshot.model_validate_json(f.read_bytes())
        except ValidationError as e:
            err = e.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise InputError(f"{f}: not a valid snapshot: {loc}: {err['msg']}") from e
        except OSError as e:
            raise InputError(f"{f}: cannot read: {e}") from e


def collect(
    options: AssessOptions, selection: Selection, progress: ProgressCallback | None = None
) -> list[HostResult]:
    from inspectorctl.collect import get_collector

    request = probe_request(selection.rule_list, walk_max_seconds=options.walk_max_seconds)
    collector = get_collector(options.transport)
    return list(collector.collect(request, options.targets, progress))


def save_snapshots(results: Sequence[HostResult], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for r in results:
        if isinstance(r, HostSnapshot):
            safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in r.host.name)
            p = out / f"{safe}.json"
            tmp = p.with_suffix(".json.tmp")
            tmp.write_text(r.model_dump_json(indent=None), encoding="utf-8")
            tmp.replace(p)
            written.append(p)
    return written


def run_assessment(
    options: AssessOptions,
    store: Store | None,
    progress: ProgressCallback | None = None,
    on_collected: Callable[[], None] | None = None,
) -> AssessmentResult:
    """Collect (or read saved snapshots), evaluate, and record one run in ``store``."""
    t0 = time.perf_counter()
    selection = select(options)
    t_load = time.perf_counter()
    started = now()
    if options.from_snapshots is not None:
        host_results: list[HostResult] = list(iter_snapshots(options.from_snapshots))
    else:
        host_results = collect(options, selection, progress)
    if on_collected is not None:
        on_collected()
    t_collect = time.perf_counter()
    results: list[RuleResult] = []
    snapshots: list[HostSnapshot] = []
    failures: list[CollectionFailure] = []
    for hr in host_results:
        results.extend(evaluate_host(hr, selection))
        if isinstance(hr, CollectionFailure):
            failures.append(hr)
        else:
            snapshots.append(hr)
    t_eval = time.perf_counter()
    run = RunRecord(
        id=new_run_id(),
        template=options.template,
        started_at=started,
        ended_at=now(),
        targets=_targets_json(options),
        packs=[p.id for p in selection.packs],
        counts=RunCounts(hosts=len(host_results), hosts_failed=len(failures),
                         rules=len(selection)),
    )
    if store is not None:
        run = store.record_run(run, results)
    else:
        from inspectorctl.store.db import _count

        run = run.model_copy(update={"counts": _count(results, run.counts)})
    t_end = time.perf_counter()
    timings = {
        "load_rules": t_load - t0,
        "collect": t_collect - t_load,
        "probe_max": max((s.probe_seconds for s in snapshots), default=0.0),
        "evaluate": t_eval - t_collect,
        "store": t_end - t_eval,
        "total": t_end - t0,
    }
    return AssessmentResult(run, results, failures, snapshots, selection, timings)


def new_run_id() -> str:
    return "r-" + time.strftime("%Y%m%d%H%M%S", time.gmtime()) + uuid.uuid4().hex[:4]


def _targets_json(options: AssessOptions) -> dict[str, Any]:
    t = options.targets
    d: dict[str, Any] = {"transport": options.transport}
    if options.from_snapshots is not None:
        d["snapshots"] = str(options.from_snapshots)
    else:
        d["inventory"] = str(t.inventory) if t.inventory else "localhost"
        if t.limit:
            d["limit"] = t.limit
        if t.become:
            d["become"] = True
    return d
