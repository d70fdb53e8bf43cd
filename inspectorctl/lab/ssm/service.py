"""The SSM API of the lab: documents, Run Command and managed instances, in memory.

:class:`SsmService` answers one operation at a time (``handle(operation, params)``) with the
JSON body SSM would send, or raises :class:`ApiError` with the error code SSM's model names. A
scheduler thread delivers each command's invocations to the fleet under MaxConcurrency and
MaxErrors, applies the delivery timeout (TimeoutSeconds) and cancellation, and a pool of
workers runs the invocations' steps (see ``agent``).

Statuses follow SSM's documentation of Run Command statuses: an invocation is Pending, Delayed
(its instance is not connected), InProgress, then Success, Failed, TimedOut (StatusDetails
``Delivery Timed Out`` or ``Execution Timed Out``), Cancelled (``Canceled``, or ``Terminated``
when MaxErrors stopped it before it started) or Failed ``Undeliverable`` (its instance is gone).
A command is Success when every invocation is, Failed ``Incomplete`` when some are not but the
errors stayed within MaxErrors, Failed ``Failed`` when they did not, Cancelled ``Canceled``
after CancelCommand, and mirrors its invocation when it had one target.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import yaml

from inspectorctl.lab.ssm.agent import (
    AGENT_VERSION,
    Fleet,
    ManagedInstance,
    StepContext,
    StepResult,
    _plugin_dir,
)
from inspectorctl.lab.ssm.documents import (
    DOWNLOAD_CONTENT,
    CommandDocument,
    DocumentFormat,
    ParamType,
    content_hash,
    env_vars,
    parse_command,
    precondition_holds,
    resolve_parameters,
    substitute,
)
from inspectorctl.lab.ssm.errors import ApiError

log = logging.getLogger(__name__)

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
#: SSM's output limits
PLUGIN_OUTPUT_LIMIT = 2500
STDOUT_LIMIT = 24000
STDERR_LIMIT = 8000
DEFAULT_DELIVERY_TIMEOUT = 3600
DEFAULT_MAX_CONCURRENCY = "50"
DEFAULT_MAX_ERRORS = "0"
MAX_TAGS = 50
MAX_DOCUMENT_VERSIONS = 1000
MAX_TARGET_KEYS = 5
#: the scheduler looks at the commands at most this often (seconds)
SCHEDULER_MIN_INTERVAL = 0.05
TERMINAL = frozenset({"Success", "Failed", "TimedOut", "Cancelled"})
ERROR_DETAILS = frozenset({"Failed", "Execution Timed Out"})
RESERVED_DOCUMENT_PREFIXES = ("AWS-", "AWSEC2-", "AWSConfigRemediation-", "AWSSupport-", "Amazon")


def _now() -> float:
    return time.time()


def _iso(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{int(ts * 1000) % 1000:03d}Z"
    )


def truncate_output(stdout: str, stderr: str, capacity: int = PLUGIN_OUTPUT_LIMIT) -> str:
    """A plugin's combined output as the agent reports it in ``Output`` (at most
    ``capacity`` characters): stdout, then stderr under an ERROR title, the longer part cut
    with a ``---Output truncated---`` / ``---Error truncated----`` note."""
    trunc_out, trunc_err = "\n---Output truncated---", "\n---Error truncated----"
    title = "\n----------ERROR-------\n" if stderr else ""
    space = capacity - len(title)
    if len(stdout) + len(stderr) < space:
        return stdout + title + stderr
    if len(stdout) > space // 2 and len(stderr) > space // 2:
        size = (space - len(trunc_err) - len(trunc_out)) // 2
        return stdout[:size] + trunc_out + title + stderr[:size] + trunc_err
    if len(stdout) < space // 2:
        size = space - len(trunc_err) - len(stdout)
        return stdout + title + stderr[:size] + trunc_err
    size = space - len(trunc_out) - len(stderr)
    return stdout[:size] + trunc_out + title + stderr


def _count(spec: str, total: int, *, at_least_one: bool) -> int:
    """MaxConcurrency / MaxErrors as a number of targets (percentages of ``total``)."""
    if spec.endswith("%"):
        share = int(spec[:-1]) * total / 100
        value = math.ceil(share) if at_least_one else math.floor(share)
        return max(1, value) if at_least_one else value
    return int(spec)


# -- tokens ----------------------------------------------------------------------------------


def _token(kind: str, offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([kind, offset]).encode()).decode()


def _offset(kind: str, token: str | None) -> int:
    if not token:
        return 0
    try:
        got = json.loads(base64.urlsafe_b64decode(token.encode()))
        if isinstance(got, list) and got[0] == kind and isinstance(got[1], int) and got[1] >= 0:
            return int(got[1])
    except (ValueError, TypeError, IndexError):
        pass
    raise ApiError("InvalidNextToken", "The specified token isn't valid.")


def _page(
    kind: str, items: list[Any], params: dict[str, Any], default: int = 50
) -> tuple[list[Any], dict[str, Any]]:
    start = _offset(kind, params.get("NextToken"))
    size = params.get("MaxResults") or default
    chunk = items[start : start + size]
    extra = {"NextToken": _token(kind, start + size)} if start + size < len(items) else {}
    return chunk, extra


# -- state -----------------------------------------------------------------------------------


@dataclass
class DocVersion:
    version: int
    content: str
    fmt: DocumentFormat
    hash: str
    created: float
    parsed: CommandDocument
    version_name: str | None = None


@dataclass
class Document:
    name: str
    owner: str
    created: float
    target_type: str | None
    display_name: str | None
    versions: dict[int, DocVersion]
    default_version: int
    latest_version: int


@dataclass
class Plugin:
    name: str
    action: str
    status: str = "Pending"
    details: str = "Pending"
    code: int = -1
    stdout: str = ""
    stderr: str = ""
    started: float | None = None
    finished: float | None = None
    stdout_url: str = ""
    stderr_url: str = ""


@dataclass
class Invocation:
    instance_id: str
    instance_name: str
    plugins: list[Plugin]
    status: str = "Pending"
    details: str = "Pending"
    #: the service has the invocation (GetCommandInvocation/ListCommandInvocations see it)
    visible: bool = False
    submitted: bool = False
    started: float | None = None
    finished: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass
class Command:
    command_id: str
    document_name: str
    document_version: str
    document: CommandDocument
    params: dict[str, str | list[str]]
    given_params: dict[str, list[str]]
    comment: str
    instance_ids: list[str]
    targets: list[dict[str, Any]]
    requested: float
    timeout_seconds: int
    max_concurrency: str
    max_errors: str
    concurrency: int
    error_limit: int
    bucket: str
    prefix: str
    region: str
    extra: dict[str, Any]
    invocations: dict[str, Invocation]
    status: str = "Pending"
    details: str = "Pending"
    cancel_requested: bool = False
    done: bool = False
    #: invocations not yet started nor ended, in order (what the scheduler looks at)
    waiting: list[Invocation] = field(default_factory=list)
    all_visible: bool = False

    def count(self, predicate: Callable[[Invocation], bool]) -> int:
        return sum(1 for inv in self.invocations.values() if predicate(inv))

    @property
    def errors(self) -> int:
        return self.count(lambda i: i.details in ERROR_DETAILS)


AWS_RUN_SHELL_SCRIPT = json.dumps(
    {
        "schemaVersion": "2.2",
        "description": "Run a shell script (the lab's copy of the AWS-managed document).",
        "parameters": {
            "commands": {"type": "StringList", "description": "(Required) Commands to run."},
            "workingDirectory": {
                "type": "String",
                "default": "",
                "description": "(Optional) The path to the working directory.",
            },
            "executionTimeout": {
                "type": "String",
                "default": "3600",
                "description": "(Optional) Seconds the commands may run (max 172800).",
                "allowedPattern": "([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})"
                "|(172[0-7][0-9]{2})|(172800)",
            },
        },
        "mainSteps": [
            {
                "action": "aws:runShellScript",
                "name": "runShellScript",
                "precondition": {"StringEquals": ["platformType", "Linux"]},
                "inputs": {
                    "runCommand": "{{ commands }}",
                    "workingDirectory": "{{ workingDirectory }}",
                    "timeoutSeconds": "{{ executionTimeout }}",
                },
            }
        ],
    },
    indent=2,
)


class SsmService:
    """The lab's SSM: call :meth:`handle` for each request; :meth:`close` stops the agent."""

    def __init__(
        self,
        fleet: Fleet,
        *,
        s3_client: Callable[[], Any] | None = None,
        s3_url: str = "",
        workers: int = 64,
        delivery_latency: float = 0.0,
    ) -> None:
        self.fleet = fleet
        self._s3_factory = s3_client
        self._s3: Any = None
        self._s3_lock = threading.Lock()
        self.s3_url = s3_url.rstrip("/")
        self.delivery_latency = delivery_latency
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self.documents: dict[str, Document] = {}
        self.tags: dict[tuple[str, str], dict[str, str]] = {}
        self.commands: dict[str, Command] = {}
        self._order: list[str] = []
        self._closed = False
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ssm-agent")
        self._create_managed_document("AWS-RunShellScript", AWS_RUN_SHELL_SCRIPT)
        self._thread = threading.Thread(target=self._schedule, name="ssm-scheduler", daemon=True)
        self._thread.start()

    # -- plumbing ------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for cmd in self.commands.values():
                for inv in cmd.invocations.values():
                    inv.cancel.set()
            self._wake.notify_all()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def s3(self) -> Any:
        """The S3 client of the agent (made once, on first use), or None without S3."""
        with self._s3_lock:
            if self._s3 is None and self._s3_factory is not None:
                self._s3 = self._s3_factory()
            return self._s3

    def handle(self, operation: str, params: dict[str, Any], region: str) -> dict[str, Any]:
        handler = getattr(self, f"op_{operation}", None)
        if handler is None:
            raise ApiError(
                "UnknownOperationException",
                f"{operation} is not imitated by the lab's SSM endpoint; it serves: "
                + ", ".join(sorted(self.operations())),
            )
        result: dict[str, Any] = handler(params, region)
        return result

    @classmethod
    def operations(cls) -> list[str]:
        return [name[3:] for name in dir(cls) if name.startswith("op_")]

    def _instances(self, fresh: bool = False) -> dict[str, ManagedInstance]:
        return {i.instance_id: i for i in self.fleet.instances(fresh)}

    def _instance_tags(self, inst: ManagedInstance) -> dict[str, str]:
        with self._lock:
            return {**inst.tags, **self.tags.get(("ManagedInstance", inst.instance_id), {})}

    # -- managed instances -----------------------------------------------------------------

    def op_DescribeInstanceInformation(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        instances = sorted(self.fleet.instances(fresh=True), key=lambda i: i.instance_id)
        filters: list[tuple[str, list[str]]] = []
        for f in p.get("InstanceInformationFilterList") or []:
            filters.append((f["key"], f["valueSet"]))
        for f in p.get("Filters") or []:
            filters.append((f["Key"], f["Values"]))
        for key, values in filters:
            instances = [i for i in instances if self._matches_filter(i, key, values)]
        page, extra = _page("instances", instances, p, default=50)
        return {"InstanceInformationList": [self._info(i) for i in page], **extra}

    def _matches_filter(self, inst: ManagedInstance, key: str, values: list[str]) -> bool:
        info = self._info(inst)
        if key == "InstanceIds":
            for v in values:
                if not re.fullmatch(r"(i-(\w{8}|\w{17}))|(mi-\w{17})", v):
                    raise ApiError(
                        "InvalidInstanceInformationFilterValue",
                        f"{v} is not a valid instance id",
                    )
            return inst.instance_id in values
        simple = {
            "AgentVersion": "AgentVersion",
            "PingStatus": "PingStatus",
            "PlatformTypes": "PlatformType",
            "ResourceType": "ResourceType",
            "AssociationStatus": "AssociationStatus",
        }
        if key in simple:
            if key == "PingStatus":
                bad = [v for v in values if v not in ("Online", "ConnectionLost", "Inactive")]
                if bad:
                    raise ApiError(
                        "InvalidInstanceInformationFilterValue",
                        f"PingStatus {bad[0]!r}: one of Online, ConnectionLost, Inactive",
                    )
            return info.get(simple[key]) in values
        if key in ("ActivationIds", "IamRole"):
            return info.get(key.rstrip("s")) in values
        tags = self._instance_tags(inst)
        if key == "tag-key":
            return any(v in tags for v in values)
        if key.startswith("tag:") and len(key) > 4:
            return tags.get(key[4:]) in values
        raise ApiError(
            "InvalidFilterKey",
            f"filter key {key!r}: valid keys are InstanceIds, AgentVersion, PingStatus, "
            "PlatformTypes, ActivationIds, IamRole, ResourceType, AssociationStatus, tag-key "
            "and tag:KEY",
        )

    def _info(self, inst: ManagedInstance) -> dict[str, Any]:
        return {
            "InstanceId": inst.instance_id,
            "PingStatus": "Online" if inst.online else "ConnectionLost",
            "LastPingDateTime": inst.last_ping,
            "AgentVersion": AGENT_VERSION,
            "IsLatestVersion": True,
            "PlatformType": "Linux",
            "PlatformName": inst.platform_name,
            "PlatformVersion": inst.platform_version,
            "IamRole": "inspectorctl-lab",
            "RegistrationDate": inst.registered,
            "ResourceType": "ManagedInstance",
            "Name": inst.name,
            "IPAddress": inst.ip,
            "ComputerName": inst.name,
            "SourceId": inst.instance_id,
            "SourceType": "AWS::SSM::ManagedInstance",
        }

    # -- tags ------------------------------------------------------------------------------------

    def _tag_target(self, p: dict[str, Any]) -> tuple[str, str]:
        rtype, rid = p["ResourceType"], p["ResourceId"]
        if rtype == "ManagedInstance":
            if rid not in self._instances(fresh=True):
                raise ApiError("InvalidResourceId", f"{rid} is not a managed instance")
        elif rtype == "Document":
            self._document(rid, error="InvalidResourceId")
        else:
            raise ApiError(
                "InvalidResourceType",
                f"{rtype}: the lab endpoint keeps tags of ManagedInstance and Document only",
            )
        return rtype, rid

    def op_AddTagsToResource(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        with self._lock:
            target = self._tag_target(p)
            current = dict(self.tags.get(target, {}))
            for tag in p["Tags"]:
                current[tag["Key"]] = tag["Value"]
            base = {}
            if target[0] == "ManagedInstance":
                base = self._instances(fresh=True)[target[1]].tags
            if len({**base, **current}) > MAX_TAGS:
                raise ApiError("TooManyTagsError", f"a resource has at most {MAX_TAGS} tags")
            self.tags[target] = current
        return {}

    def op_RemoveTagsFromResource(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        with self._lock:
            target = self._tag_target(p)
            current = self.tags.get(target, {})
            for key in p["TagKeys"]:
                current.pop(key, None)
        return {}

    def op_ListTagsForResource(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        with self._lock:
            target = self._tag_target(p)
            tags = dict(self.tags.get(target, {}))
            if target[0] == "ManagedInstance":
                tags = {**self._instances(fresh=True)[target[1]].tags, **tags}
        return {"TagList": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}

    # -- documents -------------------------------------------------------------------------------

    def _document(self, name: str, error: str = "InvalidDocument") -> Document:
        if name.startswith("arn:"):
            name = name.rsplit("/", 1)[-1]
        doc = self.documents.get(name)
        if doc is None:
            raise ApiError(error, f"Document with name {name} does not exist.")
        return doc

    def _version(
        self, doc: Document, version: str | None, version_name: str | None = None
    ) -> DocVersion:
        if version_name:
            for v in doc.versions.values():
                if v.version_name == version_name:
                    return v
            raise ApiError("InvalidDocumentVersion", f"no version named {version_name}")
        if version in (None, "", "$DEFAULT"):
            return doc.versions[doc.default_version]
        if version == "$LATEST":
            return doc.versions[doc.latest_version]
        assert version is not None
        try:
            return doc.versions[int(version)]
        except (ValueError, KeyError):
            raise ApiError(
                "InvalidDocumentVersion",
                f"Document {doc.name} has no version {version} (versions: "
                f"{', '.join(str(v) for v in sorted(doc.versions))})",
            ) from None

    def _create_managed_document(self, name: str, content: str) -> None:
        parsed = parse_command(content, DocumentFormat.JSON)
        now = _now()
        version = DocVersion(1, content, DocumentFormat.JSON, content_hash(content), now, parsed)
        self.documents[name] = Document(
            name, "Amazon", now, "/AWS::EC2::Instance", None, {1: version}, 1, 1
        )

    @staticmethod
    def _format(p: dict[str, Any]) -> DocumentFormat:
        fmt = p.get("DocumentFormat") or "JSON"
        if fmt == "TEXT":
            raise ApiError("InvalidDocumentContent", "TEXT documents are not Command documents")
        return DocumentFormat(fmt)

    def op_CreateDocument(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        name = p["Name"]
        if name.startswith(RESERVED_DOCUMENT_PREFIXES) or name.lower().startswith("amzn"):
            raise ApiError(
                "ValidationException",
                f"document name {name!r}: names starting with AWS-, Amazon or amzn are reserved",
            )
        dtype = p.get("DocumentType") or "Command"
        if dtype != "Command":
            raise ApiError(
                "InvalidDocumentContent",
                f"DocumentType {dtype}: the lab endpoint keeps Command documents only",
            )
        if p.get("Attachments") or p.get("Requires"):
            raise ApiError(
                "InvalidDocumentContent", "attachments and Requires are not imitated by the lab"
            )
        fmt = self._format(p)
        parsed = parse_command(p["Content"], fmt)
        tags = {t["Key"]: t["Value"] for t in p.get("Tags") or []}
        if len(tags) > MAX_TAGS:
            raise ApiError("ValidationException", f"a document has at most {MAX_TAGS} tags")
        with self._lock:
            if name in self.documents:
                raise ApiError("DocumentAlreadyExists", "The specified document already exists.")
            now = _now()
            version = DocVersion(
                1, p["Content"], fmt, content_hash(p["Content"]), now, parsed, p.get("VersionName")
            )
            doc = Document(
                name, ACCOUNT_ID, now, p.get("TargetType"), p.get("DisplayName"), {1: version}, 1, 1
            )
            self.documents[name] = doc
            if tags:
                self.tags[("Document", name)] = tags
            return {"DocumentDescription": self._description(doc, version, region)}

    def op_UpdateDocument(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        fmt = self._format(p)
        with self._lock:
            doc = self._document(p["Name"])
            if doc.owner != ACCOUNT_ID:
                raise ApiError("InvalidDocumentOperation", f"{doc.name} is not yours to update")
            wanted = p.get("DocumentVersion")
            if wanted not in (None, "$LATEST", str(doc.latest_version)):
                raise ApiError(
                    "InvalidDocumentVersion",
                    f"only the latest version ({doc.latest_version}) can be updated",
                )
            parsed = parse_command(p["Content"], fmt)
            digest = content_hash(p["Content"])
            if doc.versions[doc.latest_version].hash == digest:
                raise ApiError(
                    "DuplicateDocumentContent",
                    "The content of the document matches its latest version.",
                )
            name = p.get("VersionName")
            if name and any(v.version_name == name for v in doc.versions.values()):
                raise ApiError("DuplicateDocumentVersionName", f"version name {name} is taken")
            if len(doc.versions) >= MAX_DOCUMENT_VERSIONS:
                raise ApiError(
                    "DocumentVersionLimitExceeded",
                    f"a document has at most {MAX_DOCUMENT_VERSIONS} versions",
                )
            number = doc.latest_version + 1
            version = DocVersion(number, p["Content"], fmt, digest, _now(), parsed, name)
            doc.versions[number] = version
            doc.latest_version = number
            if p.get("TargetType"):
                doc.target_type = p["TargetType"]
            if p.get("DisplayName"):
                doc.display_name = p["DisplayName"]
            return {"DocumentDescription": self._description(doc, version, region)}

    def op_UpdateDocumentDefaultVersion(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        with self._lock:
            doc = self._document(p["Name"])
            version = self._version(doc, p["DocumentVersion"])
            doc.default_version = version.version
            out: dict[str, Any] = {"Name": doc.name, "DefaultVersion": str(version.version)}
            if version.version_name:
                out["DefaultVersionName"] = version.version_name
            return {"Description": out}

    def op_DescribeDocument(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        with self._lock:
            doc = self._document(p["Name"])
            version = self._version(doc, p.get("DocumentVersion"), p.get("VersionName"))
            return {"Document": self._description(doc, version, region)}

    def op_GetDocument(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        with self._lock:
            doc = self._document(p["Name"])
            version = self._version(doc, p.get("DocumentVersion"), p.get("VersionName"))
            wanted = DocumentFormat(p.get("DocumentFormat") or version.fmt.value)
            content = version.content
            if wanted is not version.fmt:
                data = (
                    json.loads(content)
                    if version.fmt is DocumentFormat.JSON
                    else yaml.safe_load(content)
                )
                content = (
                    json.dumps(data, indent=2)
                    if wanted is DocumentFormat.JSON
                    else yaml.safe_dump(data, sort_keys=False)
                )
            out: dict[str, Any] = {
                "Name": doc.name,
                "CreatedDate": version.created,
                "DocumentVersion": str(version.version),
                "Status": "Active",
                "Content": content,
                "DocumentType": "Command",
                "DocumentFormat": wanted.value,
            }
            if version.version_name:
                out["VersionName"] = version.version_name
            if doc.display_name:
                out["DisplayName"] = doc.display_name
            return out

    def op_ListDocuments(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        with self._lock:
            docs = sorted(self.documents.values(), key=lambda d: d.name)
            filters: list[tuple[str, list[str]]] = [
                (f["key"], [f["value"]]) for f in p.get("DocumentFilterList") or []
            ]
            filters += [(f["Key"], f.get("Values") or []) for f in p.get("Filters") or []]
            for key, values in filters:
                docs = [d for d in docs if self._doc_matches(d, key, values)]
            page, extra = _page("documents", docs, p, default=50)
            items = []
            for doc in page:
                version = doc.versions[doc.default_version]
                item: dict[str, Any] = {
                    "Name": doc.name,
                    "CreatedDate": doc.created,
                    "Owner": doc.owner,
                    "PlatformTypes": list(version.parsed.platform_types),
                    "DocumentVersion": str(version.version),
                    "DocumentType": "Command",
                    "SchemaVersion": version.parsed.schema_version,
                    "DocumentFormat": version.fmt.value,
                    "Tags": self._tag_list(("Document", doc.name)),
                }
                if doc.target_type:
                    item["TargetType"] = doc.target_type
                if version.version_name:
                    item["VersionName"] = version.version_name
                if doc.display_name:
                    item["DisplayName"] = doc.display_name
                items.append(item)
            return {"DocumentIdentifiers": items, **extra}

    def _doc_matches(self, doc: Document, key: str, values: list[str]) -> bool:
        if key == "Name":
            return any(doc.name.startswith(v) for v in values)
        if key == "Owner":
            owner = "Amazon" if doc.owner == "Amazon" else "Self"
            return any(
                v in (owner, doc.owner, "All") or (v == "Private" and owner == "Self")
                for v in values
            )
        if key == "DocumentType":
            return "Command" in values
        if key == "PlatformTypes":
            return "Linux" in values or "MacOS" in values
        if key == "SearchKeyword":
            return any(v.lower() in doc.name.lower() for v in values)
        tags = self.tags.get(("Document", doc.name), {})
        if key.startswith("tag:"):
            return tags.get(key[4:]) in values if values else key[4:] in tags
        if key == "tag-key":
            return any(v in tags for v in values)
        raise ApiError(
            "InvalidFilterKey",
            f"filter key {key!r}: valid keys are Name, Owner, DocumentType, PlatformTypes, "
            "SearchKeyword, tag-key and tag:KEY",
        )

    def op_ListDocumentVersions(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        with self._lock:
            doc = self._document(p["Name"])
            versions = [doc.versions[n] for n in sorted(doc.versions)]
            page, extra = _page(f"versions:{doc.name}", versions, p, default=50)
            items = []
            for v in page:
                item: dict[str, Any] = {
                    "Name": doc.name,
                    "DocumentVersion": str(v.version),
                    "CreatedDate": v.created,
                    "IsDefaultVersion": v.version == doc.default_version,
                    "DocumentFormat": v.fmt.value,
                    "Status": "Active",
                }
                if v.version_name:
                    item["VersionName"] = v.version_name
                items.append(item)
            return {"DocumentVersions": items, **extra}

    def op_DeleteDocument(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        with self._lock:
            doc = self._document(p["Name"])
            if doc.owner != ACCOUNT_ID:
                raise ApiError("InvalidDocumentOperation", f"{doc.name} is not yours to delete")
            if p.get("DocumentVersion") or p.get("VersionName"):
                version = self._version(doc, p.get("DocumentVersion"), p.get("VersionName"))
                if version.version == doc.default_version:
                    raise ApiError(
                        "InvalidDocumentOperation",
                        "the default version cannot be deleted; delete the document or make "
                        "another version the default first",
                    )
                del doc.versions[version.version]
                doc.latest_version = max(doc.versions)
                return {}
            del self.documents[doc.name]
            self.tags.pop(("Document", doc.name), None)
        return {}

    def _tag_list(self, target: tuple[str, str]) -> list[dict[str, str]]:
        return [{"Key": k, "Value": v} for k, v in sorted(self.tags.get(target, {}).items())]

    def _description(self, doc: Document, version: DocVersion, region: str) -> dict[str, Any]:
        params = []
        for spec in version.parsed.parameters.values():
            item: dict[str, Any] = {
                "Name": spec.name,
                "Type": "StringList"
                if spec.type in (ParamType.STRING_LIST, ParamType.MAP_LIST)
                else "String",
                "Description": spec.description,
            }
            if spec.has_default:
                default = spec.default
                item["DefaultValue"] = default if isinstance(default, str) else json.dumps(default)
            params.append(item)
        out: dict[str, Any] = {
            "Hash": version.hash,
            "HashType": "Sha256",
            "Name": doc.name,
            "Owner": doc.owner,
            "CreatedDate": version.created,
            "Status": "Active",
            "DocumentVersion": str(version.version),
            "Description": version.parsed.description,
            "Parameters": params,
            "PlatformTypes": list(version.parsed.platform_types),
            "DocumentType": "Command",
            "SchemaVersion": version.parsed.schema_version,
            "LatestVersion": str(doc.latest_version),
            "DefaultVersion": str(doc.default_version),
            "DocumentFormat": version.fmt.value,
            "Tags": self._tag_list(("Document", doc.name)),
        }
        if doc.target_type:
            out["TargetType"] = doc.target_type
        if version.version_name:
            out["VersionName"] = version.version_name
        if doc.display_name:
            out["DisplayName"] = doc.display_name
        return out

    # -- Run Command ---------------------------------------------------------------------------

    def _resolve_targets(self, targets: list[dict[str, Any]]) -> list[ManagedInstance]:
        if len(targets) > MAX_TARGET_KEYS:
            raise ApiError("ValidationException", f"at most {MAX_TARGET_KEYS} Targets")
        instances = sorted(self.fleet.instances(fresh=True), key=lambda i: i.instance_id)
        for target in targets:
            key, values = target.get("Key", ""), target.get("Values") or []
            if not values:
                raise ApiError("InvalidParameters", f"target {key} has no values")
            if key == "InstanceIds":
                if values == ["*"]:
                    continue
                instances = [i for i in instances if i.instance_id in values]
            elif key == "tag-key":
                instances = [
                    i for i in instances if any(v in self._instance_tags(i) for v in values)
                ]
            elif key.startswith("tag:") and len(key) > 4:
                instances = [i for i in instances if self._instance_tags(i).get(key[4:]) in values]
            else:
                raise ApiError(
                    "InvalidParameters",
                    f"target key {key!r}: the lab endpoint targets by InstanceIds, tag:KEY and "
                    "tag-key (resource groups are not imitated)",
                )
        return instances

    def op_SendCommand(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        ids = p.get("InstanceIds") or []
        targets = p.get("Targets") or []
        if bool(ids) == bool(targets):
            raise ApiError(
                "ValidationException",
                "give either InstanceIds or Targets (exactly one of them)",
            )
        if len(ids) != len(set(ids)):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise ApiError("DuplicateInstanceId", f"duplicate instance ids: {', '.join(dup)}")
        wanted = {
            "NotificationConfig": bool((p.get("NotificationConfig") or {}).get("NotificationArn")),
            "CloudWatchOutputConfig": bool(
                (p.get("CloudWatchOutputConfig") or {}).get("CloudWatchOutputEnabled")
            ),
            "AlarmConfiguration": bool((p.get("AlarmConfiguration") or {}).get("Alarms")),
        }
        for key, asked in wanted.items():
            if asked:
                raise ApiError(
                    "ValidationException", f"{key} is not imitated by the lab's SSM endpoint"
                )
        with self._lock:
            doc = self._document(p["DocumentName"])
            version = self._version(doc, p.get("DocumentVersion"))
            wanted_hash = p.get("DocumentHash")
            if wanted_hash:
                if p.get("DocumentHashType", "Sha256") != "Sha256":
                    raise ApiError("InvalidDocument", "only Sha256 document hashes are kept")
                if wanted_hash != version.hash:
                    raise ApiError(
                        "InvalidDocument",
                        f"DocumentHash {wanted_hash} does not match version {version.version} "
                        f"of {doc.name} ({version.hash})",
                    )
        given = p.get("Parameters") or {}
        resolved = resolve_parameters(version.parsed, given)
        known = self._instances(fresh=True)
        if ids:
            unknown = [i for i in ids if i not in known]
            if unknown:
                raise ApiError(
                    "InvalidInstanceId",
                    f"Instances [[{', '.join(unknown)}]] not in a valid state for account "
                    f"{ACCOUNT_ID}: not managed instances of this lab",
                )
            chosen = [known[i] for i in ids]
        else:
            chosen = self._resolve_targets(targets)
        bucket = p.get("OutputS3BucketName", "")
        prefix = p.get("OutputS3KeyPrefix", "")
        if prefix and not bucket:
            raise ApiError("InvalidOutputFolder", "OutputS3KeyPrefix needs OutputS3BucketName")
        if bucket:
            s3 = self.s3()
            if s3 is None:
                raise ApiError("InvalidOutputFolder", "the endpoint has no S3 storage")
        max_conc = p.get("MaxConcurrency") or DEFAULT_MAX_CONCURRENCY
        max_err = p.get("MaxErrors") or DEFAULT_MAX_ERRORS
        total = len(chosen)
        now = _now()
        steps = version.parsed.steps
        command = Command(
            command_id=str(uuid.uuid4()),
            document_name=doc.name,
            document_version=str(version.version),
            document=version.parsed,
            params=resolved,
            given_params=given,
            comment=p.get("Comment", ""),
            instance_ids=list(ids),
            targets=list(targets),
            requested=now,
            timeout_seconds=p.get("TimeoutSeconds") or DEFAULT_DELIVERY_TIMEOUT,
            max_concurrency=max_conc,
            max_errors=max_err,
            concurrency=_count(max_conc, total, at_least_one=True),
            error_limit=_count(max_err, total, at_least_one=False),
            bucket=bucket,
            prefix=prefix,
            region=p.get("OutputS3Region") or region,
            extra={k: p[k] for k in ("ServiceRoleArn",) if p.get(k)},
            invocations={
                i.instance_id: Invocation(
                    i.instance_id, i.name, [Plugin(s.name, s.action) for s in steps]
                )
                for i in chosen
            },
        )
        command.waiting = list(command.invocations.values())
        with self._lock:
            self.commands[command.command_id] = command
            self._order.append(command.command_id)
            if not chosen:
                command.status, command.details = "Success", "No Instances In Tag"
                command.done = True
            self._wake.notify_all()
            return {"Command": self._command_json(command)}

    def _command_json(self, c: Command) -> dict[str, Any]:
        out: dict[str, Any] = {
            "CommandId": c.command_id,
            "DocumentName": c.document_name,
            "DocumentVersion": c.document_version,
            "Comment": c.comment,
            "ExpiresAfter": c.requested + c.timeout_seconds,
            "Parameters": c.given_params,
            "InstanceIds": c.instance_ids,
            "Targets": c.targets,
            "RequestedDateTime": c.requested,
            "Status": c.status,
            "StatusDetails": c.details,
            "OutputS3Region": c.region,
            "OutputS3BucketName": c.bucket,
            "OutputS3KeyPrefix": c.prefix,
            "MaxConcurrency": c.max_concurrency,
            "MaxErrors": c.max_errors,
            "TargetCount": len(c.invocations),
            "CompletedCount": c.count(lambda i: i.terminal),
            "ErrorCount": c.errors,
            "DeliveryTimedOutCount": c.count(lambda i: i.details == "Delivery Timed Out"),
            "TimeoutSeconds": c.timeout_seconds,
        }
        if c.extra.get("ServiceRoleArn"):
            out["ServiceRole"] = c.extra["ServiceRoleArn"]
        if not c.bucket:
            for key in ("OutputS3BucketName", "OutputS3KeyPrefix"):
                out.pop(key)
        return out

    def _command(self, command_id: str) -> Command:
        command = self.commands.get(command_id)
        if command is None:
            raise ApiError("InvalidCommandId", f"command {command_id} does not exist")
        return command

    def _check_instance_id(self, instance_id: str) -> None:
        if not re.fullmatch(r"(i-(\w{8}|\w{17}))|(mi-\w{17})", instance_id):
            raise ApiError("InvalidInstanceId", f"{instance_id} is not an instance id")

    def op_ListCommands(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        with self._lock:
            if p.get("CommandId"):
                commands = [self._command(p["CommandId"])]
            else:
                commands = [self.commands[c] for c in reversed(self._order)]
            if p.get("InstanceId"):
                self._check_instance_id(p["InstanceId"])
                commands = [c for c in commands if p["InstanceId"] in c.invocations]
            for f in p.get("Filters") or []:
                commands = [c for c in commands if self._command_matches(c, f["key"], f["value"])]
            page, extra = _page("commands", commands, p, default=50)
            return {"Commands": [self._command_json(c) for c in page], **extra}

    @staticmethod
    def _filter_time(value: str) -> float:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise ApiError(
                "ValidationException", f"{value!r} is not an ISO 8601 time (2026-12-01T10:00:00Z)"
            ) from None

    def _command_matches(self, c: Command, key: str, value: str) -> bool:
        if key == "InvokedAfter":
            return c.requested >= self._filter_time(value)
        if key == "InvokedBefore":
            return c.requested <= self._filter_time(value)
        if key == "Status":
            return c.status == value
        if key == "DocumentName":
            return c.document_name == value
        if key == "ExecutionStage":
            if value not in ("Executing", "Complete"):
                raise ApiError("ValidationException", "ExecutionStage is Executing or Complete")
            return c.done == (value == "Complete")
        raise ApiError("InvalidFilterKey", f"filter key {key!r}")

    def op_ListCommandInvocations(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        with self._lock:
            if p.get("CommandId"):
                commands = [self._command(p["CommandId"])]
            else:
                commands = [self.commands[c] for c in reversed(self._order)]
            pairs = [(c, inv) for c in commands for inv in c.invocations.values() if inv.visible]
            if p.get("InstanceId"):
                self._check_instance_id(p["InstanceId"])
                pairs = [(c, i) for c, i in pairs if i.instance_id == p["InstanceId"]]
            for f in p.get("Filters") or []:
                key, value = f["key"], f["value"]
                if key in ("InvokedAfter", "InvokedBefore", "DocumentName"):
                    pairs = [(c, i) for c, i in pairs if self._command_matches(c, key, value)]
                elif key == "Status":
                    pairs = [(c, i) for c, i in pairs if i.status == value]
                elif key == "ExecutionStage":
                    if value not in ("Executing", "Complete"):
                        raise ApiError(
                            "ValidationException", "ExecutionStage is Executing or Complete"
                        )
                    pairs = [(c, i) for c, i in pairs if i.terminal == (value == "Complete")]
                else:
                    raise ApiError("InvalidFilterKey", f"filter key {key!r}")
            page, extra = _page("invocations", pairs, p, default=50)
            details = bool(p.get("Details"))
            return {
                "CommandInvocations": [self._invocation_json(c, i, details) for c, i in page],
                **extra,
            }

    def _invocation_json(self, c: Command, inv: Invocation, details: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "CommandId": c.command_id,
            "InstanceId": inv.instance_id,
            "InstanceName": inv.instance_name,
            "Comment": c.comment,
            "DocumentName": c.document_name,
            "DocumentVersion": c.document_version,
            "RequestedDateTime": c.requested,
            "Status": inv.status,
            "StatusDetails": inv.details,
            "TraceOutput": "",
            "StandardOutputUrl": inv.plugins[0].stdout_url if len(inv.plugins) == 1 else "",
            "StandardErrorUrl": inv.plugins[0].stderr_url if len(inv.plugins) == 1 else "",
            "CommandPlugins": [self._plugin_json(c, pl) for pl in inv.plugins] if details else [],
        }
        if c.extra.get("ServiceRoleArn"):
            out["ServiceRole"] = c.extra["ServiceRoleArn"]
        return out

    def _plugin_json(self, c: Command, pl: Plugin) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Name": pl.name,
            "Status": pl.status if pl.status != "Delayed" else "Pending",
            "StatusDetails": pl.details,
            "ResponseCode": pl.code,
            "Output": truncate_output(pl.stdout, pl.stderr),
            "StandardOutputUrl": pl.stdout_url,
            "StandardErrorUrl": pl.stderr_url,
            "OutputS3Region": c.region,
        }
        if pl.started is not None:
            out["ResponseStartDateTime"] = pl.started
        if pl.finished is not None:
            out["ResponseFinishDateTime"] = pl.finished
        if c.bucket:
            out["OutputS3BucketName"] = c.bucket
            out["OutputS3KeyPrefix"] = c.prefix
        return out

    def op_GetCommandInvocation(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        with self._lock:
            self._check_instance_id(p["InstanceId"])
            c = self._command(p["CommandId"])
            inv = c.invocations.get(p["InstanceId"])
            if inv is None or not inv.visible:
                raise ApiError(
                    "InvocationDoesNotExist",
                    "The command ID and instance ID you specified did not match any "
                    "invocations. Verify the command ID and the instance ID and try again.",
                )
            name = p.get("PluginName")
            if name is None:
                if len(inv.plugins) != 1:
                    raise ApiError(
                        "InvalidPluginName",
                        f"the document has {len(inv.plugins)} steps: name one with PluginName "
                        f"({', '.join(pl.name for pl in inv.plugins)})",
                    )
                plugin = inv.plugins[0]
                status, details = inv.status, inv.details
            else:
                found = [pl for pl in inv.plugins if pl.name == name]
                if not found:
                    raise ApiError(
                        "InvalidPluginName",
                        f"no step named {name}; steps: {', '.join(pl.name for pl in inv.plugins)}",
                    )
                plugin = found[0]
                status, details = plugin.status, plugin.details
            out: dict[str, Any] = {
                "CommandId": c.command_id,
                "InstanceId": inv.instance_id,
                "Comment": c.comment,
                "DocumentName": c.document_name,
                "DocumentVersion": c.document_version,
                "PluginName": plugin.name,
                "ResponseCode": plugin.code,
                "Status": status,
                "StatusDetails": details,
                "StandardOutputContent": plugin.stdout[:STDOUT_LIMIT],
                "StandardOutputUrl": plugin.stdout_url,
                "StandardErrorContent": plugin.stderr[:STDERR_LIMIT],
                "StandardErrorUrl": plugin.stderr_url,
            }
            if plugin.started is not None:
                out["ExecutionStartDateTime"] = _iso(plugin.started)
                end = plugin.finished if plugin.finished is not None else _now()
                out["ExecutionElapsedTime"] = f"PT{end - plugin.started:.3f}S"
            if plugin.finished is not None:
                out["ExecutionEndDateTime"] = _iso(plugin.finished)
            return out

    def op_CancelCommand(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        ids = p.get("InstanceIds") or []
        if len(ids) != len(set(ids)):
            raise ApiError("DuplicateInstanceId", "duplicate instance ids")
        with self._lock:
            c = self._command(p["CommandId"])
            for i in ids:
                self._check_instance_id(i)
                if i not in c.invocations:
                    raise ApiError("InvalidInstanceId", f"{i} is not a target of {c.command_id}")
            chosen = [c.invocations[i] for i in ids] if ids else list(c.invocations.values())
            if not ids:
                c.cancel_requested = True
            for inv in chosen:
                if inv.terminal:
                    continue
                inv.cancel.set()
                if inv.submitted and inv.status == "InProgress":
                    inv.status, inv.details = "Cancelling", "Cancelling"
            self._update(c)
            self._wake.notify_all()
        return {}

    # -- scheduler -------------------------------------------------------------------------------

    def _schedule(self) -> None:
        last = 0.0
        while True:
            with self._lock:
                if self._closed:
                    return
                # a burst of completions wakes the scheduler once, not once each
                pause = SCHEDULER_MIN_INTERVAL - (time.monotonic() - last)
                if pause > 0:
                    self._wake.wait(timeout=pause)
                last = time.monotonic()
                active = [c for c in self.commands.values() if not c.done]
                try:
                    instances: dict[str, ManagedInstance] = {}
                    if any(c.waiting for c in active):
                        self._lock.release()
                        try:
                            instances = self._instances()
                        finally:
                            self._lock.acquire()
                    for c in active:
                        self._tick(c, instances)
                except Exception:  # the lab's state unreadable for a moment: try again
                    log.exception("the scheduler could not look at the fleet")
                self._wake.wait(timeout=0.25)

    def _tick(self, c: Command, instances: dict[str, ManagedInstance]) -> None:
        now = _now()
        if not c.all_visible and now - c.requested >= self.delivery_latency:
            for inv in c.invocations.values():
                inv.visible = True
            c.all_visible = True
        if not c.all_visible:
            return
        running = c.count(lambda i: i.submitted and not i.terminal) if c.waiting else 0
        errors = c.errors if c.waiting else 0
        still: list[Invocation] = []
        for inv in c.waiting:
            if inv.terminal:
                continue
            if inv.cancel.is_set() or c.cancel_requested:
                self._finish(inv, "Cancelled", "Canceled")
            elif errors > c.error_limit:
                self._finish(inv, "Cancelled", "Terminated")
            elif now - c.requested > c.timeout_seconds:
                self._finish(inv, "TimedOut", "Delivery Timed Out")
            elif running < c.concurrency:
                inst = instances.get(inv.instance_id)
                if inst is None:
                    self._finish(inv, "Failed", "Undeliverable")
                elif not inst.online:
                    inv.status, inv.details = "Delayed", "Delayed"
                    still.append(inv)
                else:
                    inv.submitted = True
                    inv.status, inv.details = "InProgress", "In Progress"
                    inv.started = now
                    running += 1
                    self._pool.submit(self._run_invocation, c, inv, inst)
            else:
                still.append(inv)
        c.waiting = still
        self._update(c)

    def _finish(self, inv: Invocation, status: str, details: str) -> None:
        inv.status, inv.details = status, details
        inv.finished = _now()
        for pl in inv.plugins:
            if pl.status not in TERMINAL:
                pl.status = status if status in TERMINAL else "Failed"
                pl.details = details

    def _update(self, c: Command) -> None:
        invs = list(c.invocations.values())
        if c.done or not invs:
            return
        if not all(i.terminal for i in invs):
            if c.cancel_requested:
                c.status, c.details = "Cancelling", "Cancelling"
            elif any(i.status not in ("Pending",) for i in invs):
                c.status, c.details = "InProgress", "In Progress"
            return
        c.done = True
        if c.cancel_requested and any(i.status == "Cancelled" for i in invs):
            c.status, c.details = "Cancelled", "Canceled"
        elif len(invs) == 1:
            c.status, c.details = invs[0].status, invs[0].details
        elif c.errors > c.error_limit:
            c.status, c.details = "Failed", "Failed"
        elif all(i.status == "Success" for i in invs):
            c.status, c.details = "Success", "Success"
        else:
            c.status, c.details = "Failed", "Incomplete"

    # -- the agent -------------------------------------------------------------------------------

    def _run_invocation(self, c: Command, inv: Invocation, inst: ManagedInstance) -> None:
        try:
            self._run_steps(c, inv, inst)
        except Exception as e:  # a bug of the lab agent: the invocation fails, saying so
            with self._lock:
                for pl in inv.plugins:
                    if pl.status not in TERMINAL:
                        pl.status, pl.details, pl.code = "Failed", "Failed", -1
                        pl.stderr += f"\nthe lab agent failed: {type(e).__name__}: {e}"
                self._finish(inv, "Failed", "Failed")
        with self._lock:
            self._update(c)
            self._wake.notify_all()

    def _run_steps(self, c: Command, inv: Invocation, inst: ManagedInstance) -> None:
        env = {
            "AWS_SSM_INSTANCE_ID": inst.instance_id,
            "AWS_SSM_REGION_NAME": c.region,
            **env_vars(c.document, c.params),
        }
        outcomes: list[StepResult] = []
        for step, pl in zip(c.document.steps, inv.plugins, strict=True):
            if inv.cancel.is_set():
                break
            holds, why = precondition_holds(step)
            if not holds:
                now = _now()
                with self._lock:
                    pl.status, pl.details, pl.code = "Success", "Skipped", 0
                    pl.stdout = f"Step execution skipped due to unsatisfied preconditions: {why}"
                    pl.started = pl.finished = now
                continue
            with self._lock:
                pl.status, pl.details, pl.started = "InProgress", "In Progress", _now()
            inputs = substitute(step.inputs, c.params)
            ctx = StepContext(
                instance=inst,
                command_id=c.command_id,
                step=type(step)(step.name, step.action, inputs, step.precondition),
                env=env,
                cancel=inv.cancel,
                s3=self.s3() if step.action == DOWNLOAD_CONTENT else None,
            )
            result = self.fleet.run_step(ctx)
            if result.lost:
                result = self._lost(ctx, result, pl.started or _now())
            urls = self._upload(c, inv, pl, result)
            with self._lock:
                pl.code = result.exit_code
                pl.stdout, pl.stderr = result.stdout, result.stderr
                pl.finished = _now()
                pl.stdout_url, pl.stderr_url = urls
                pl.status = result.status
                pl.details = {
                    "Success": "Success",
                    "Failed": "Failed",
                    "TimedOut": "Execution Timed Out",
                    "Cancelled": "Canceled",
                }[result.status]
            outcomes.append(result)
            on_failure = step.inputs.get("onFailure") if isinstance(step.inputs, dict) else None
            if result.status != "Success" and (
                on_failure == "exit" or result.status == "Cancelled"
            ):
                break
        with self._lock:
            statuses = {o.status for o in outcomes}
            if inv.cancel.is_set() or "Cancelled" in statuses:
                self._finish(inv, "Cancelled", "Canceled")
            elif "TimedOut" in statuses:
                self._finish(inv, "TimedOut", "Execution Timed Out")
            elif "Failed" in statuses:
                self._finish(inv, "Failed", "Failed")
            else:
                self._finish(inv, "Success", "Success")

    def _lost(self, ctx: StepContext, result: StepResult, started: float) -> StepResult:
        """The instance stopped while the step ran: like SSM, which hears nothing more from
        the agent, the invocation stays InProgress until its execution timeout."""
        try:
            timeout = float(ctx.step.inputs.get("timeoutSeconds", 3600))
        except (TypeError, ValueError):
            timeout = 3600.0
        remaining = started + timeout - _now()
        if remaining > 0 and ctx.cancel.wait(remaining):
            return StepResult("Cancelled", -1, "", "")
        return StepResult("TimedOut", -1, "", "")

    def _upload(
        self, c: Command, inv: Invocation, pl: Plugin, result: StepResult
    ) -> tuple[str, str]:
        if not c.bucket:
            return "", ""
        s3 = self.s3()
        parts = [c.prefix.strip("/")] if c.prefix.strip("/") else []
        base = "/".join([*parts, c.command_id, inv.instance_id, _plugin_dir(pl.action), pl.name])
        urls = ["", ""]
        for i, (stream, text) in enumerate((("stdout", result.stdout), ("stderr", result.stderr))):
            if stream == "stderr" and not text:
                continue
            key = f"{base}/{stream}"
            try:
                s3.put_object(Bucket=c.bucket, Key=key, Body=text.encode("utf-8"))
            except Exception as e:  # the step keeps its status; the failure is in stderr
                result.stderr += f"\nfailed to upload output to s3://{c.bucket}/{key}: {e}"
                continue
            urls[i] = f"{self.s3_url}/{c.bucket}/{key}"
        return urls[0], urls[1]
