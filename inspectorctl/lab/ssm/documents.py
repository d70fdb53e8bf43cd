"""SSM Command documents (schema 2.0 / 2.2) as the endpoint and its agent read them.

What SSM checks when a document is created (the JSON/YAML content, schemaVersion, mainSteps,
parameter declarations), what it checks when a command is sent (every parameter value against
its declaration: type, ``allowedValues``, ``allowedPattern``, ``minChars``/``maxChars``,
``minItems``/``maxItems``; defaults filled in), and the agent's substitution of
``{{ name }}`` in a step's inputs. Values are substituted as text, as the real agent does: the
declaration's ``allowedPattern`` is what keeps a value from becoming shell code.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from inspectorctl.lab.ssm.errors import ApiError

#: SSM's limit on a Command document's content
MAX_DOCUMENT_BYTES = 64 * 1024
MAX_PARAMETERS = 50
MAX_STEPS = 100
#: the actions the lab's agent runs; other ``aws:`` plugins are accepted in documents (SSM
#: accepts them) but a step using one fails on the instance, naming the action
RUN_SHELL_SCRIPT = "aws:runShellScript"
DOWNLOAD_CONTENT = "aws:downloadContent"
LAB_ACTIONS = (RUN_SHELL_SCRIPT, DOWNLOAD_CONTENT)
KNOWN_ACTIONS = frozenset(
    {
        RUN_SHELL_SCRIPT,
        DOWNLOAD_CONTENT,
        "aws:runPowerShellScript",
        "aws:runDocument",
        "aws:configurePackage",
        "aws:softwareInventory",
        "aws:applications",
        "aws:cloudWatch",
        "aws:configureDocker",
        "aws:domainJoin",
        "aws:psModule",
        "aws:refreshAssociation",
        "aws:runDockerAction",
        "aws:updateAgent",
        "aws:updateSsmAgent",
    }
)
#: a step's name is its plugin's name in the API, which botocore models as 4+ characters (a
#: shorter one could not be asked for with GetCommandInvocation's PluginName)
STEP_NAME = re.compile(r"^[a-zA-Z0-9_.-]{4,128}$")
PARAM_NAME = re.compile(r"^[a-zA-Z0-9_]{1,128}$")
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.:-]+)\s*\}\}")
#: the runShellScript default and SSM's maximum execution timeout
DEFAULT_EXECUTION_TIMEOUT = 3600
MAX_EXECUTION_TIMEOUT = 172800


class ParamType(enum.StrEnum):
    STRING = "String"
    STRING_LIST = "StringList"
    BOOLEAN = "Boolean"
    INTEGER = "Integer"
    STRING_MAP = "StringMap"
    MAP_LIST = "MapList"


class DocumentFormat(enum.StrEnum):
    JSON = "JSON"
    YAML = "YAML"


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: ParamType
    description: str = ""
    default: Any = None
    has_default: bool = False
    allowed_values: tuple[str, ...] | None = None
    allowed_pattern: str | None = None
    min_chars: int | None = None
    max_chars: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    env_var: bool = False


@dataclass(frozen=True)
class Step:
    name: str
    action: str
    inputs: dict[str, Any]
    precondition: dict[str, Any] | None = None


@dataclass(frozen=True)
class CommandDocument:
    schema_version: str
    description: str
    parameters: dict[str, ParamSpec]
    steps: tuple[Step, ...]
    platform_types: tuple[str, ...] = ("Linux", "MacOS")
    extra: dict[str, Any] = field(default_factory=dict)


def content_hash(content: str) -> str:
    """SSM's ``Hash`` of a document version: sha256 of its content, hex."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _invalid(message: str) -> ApiError:
    return ApiError("InvalidDocumentContent", message)


def load_content(content: str, fmt: DocumentFormat) -> dict[str, Any]:
    """The document's content parsed as ``fmt`` says, size checked first."""
    if len(content.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        raise ApiError(
            "MaxDocumentSizeExceeded",
            f"document content is {len(content.encode('utf-8'))} bytes; the limit is "
            f"{MAX_DOCUMENT_BYTES}",
        )
    try:
        if fmt is DocumentFormat.JSON:
            data = json.loads(content)
        else:
            # anchors and aliases could expand a small document into a huge one (and no SSM
            # document needs them)
            if any(isinstance(ev, yaml.AliasEvent) for ev in yaml.parse(content, yaml.SafeLoader)):
                raise _invalid("YAML anchors and aliases are not accepted in documents")
            data = yaml.safe_load(content)
    except RecursionError as e:
        raise _invalid("document content is nested too deeply") from e
    except (ValueError, yaml.YAMLError) as e:
        raise _invalid(f"document content is not valid {fmt.value}: {e}") from e
    if not isinstance(data, dict):
        raise _invalid("document content must be an object with schemaVersion and mainSteps")
    return data


def parse_command(content: str, fmt: DocumentFormat) -> CommandDocument:
    """A Command document, checked as SSM checks it on CreateDocument/UpdateDocument."""
    data = load_content(content, fmt)
    schema = data.get("schemaVersion")
    if not isinstance(schema, str):
        raise ApiError("InvalidDocumentSchemaVersion", "schemaVersion must be a string")
    if schema not in ("2.0", "2.2"):
        raise ApiError(
            "InvalidDocumentSchemaVersion",
            f"schemaVersion {schema!r}: the lab endpoint runs Command documents of schema 2.0 "
            "and 2.2 only (1.2 documents are not imitated)",
        )
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _invalid("description must be a string")
    raw_params = data.get("parameters", {}) or {}
    if not isinstance(raw_params, dict):
        raise _invalid("parameters must be an object of parameter declarations")
    if len(raw_params) > MAX_PARAMETERS:
        raise _invalid(f"a document declares at most {MAX_PARAMETERS} parameters")
    params = {name: _param_spec(name, spec) for name, spec in raw_params.items()}
    raw_steps = data.get("mainSteps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise _invalid("mainSteps must be a non-empty list of steps")
    if len(raw_steps) > MAX_STEPS:
        raise _invalid(f"a document has at most {MAX_STEPS} steps")
    steps = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_steps):
        step = _step(i, raw)
        if step.name in seen:
            raise _invalid(f"mainSteps[{i}]: duplicate step name {step.name!r}")
        seen.add(step.name)
        for ref in _placeholders(step.inputs):
            if ref.startswith("ssm:") or ref.startswith("ssm-secure:"):
                continue
            if ref not in params:
                raise _invalid(
                    f"mainSteps[{i}] ({step.name}): {{{{ {ref} }}}} names no declared parameter"
                )
        steps.append(step)
    extra = {
        k: v
        for k, v in data.items()
        if k not in ("schemaVersion", "description", "parameters", "mainSteps")
    }
    return CommandDocument(schema, description, params, tuple(steps), extra=extra)


def _int_or_none(name: str, key: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _invalid(f"parameter {name}: {key} must be an integer")
    try:
        return int(value)
    except ValueError as e:
        raise _invalid(f"parameter {name}: {key} must be an integer") from e


def _param_spec(name: Any, spec: Any) -> ParamSpec:
    if not isinstance(name, str) or not PARAM_NAME.fullmatch(name):
        raise _invalid(f"parameter name {name!r}: letters, digits and '_' only")
    if not isinstance(spec, dict):
        raise _invalid(f"parameter {name}: its declaration must be an object")
    try:
        ptype = ParamType(str(spec.get("type")))
    except ValueError as e:
        raise _invalid(
            f"parameter {name}: type {spec.get('type')!r} is not one of "
            f"{', '.join(t.value for t in ParamType)}"
        ) from e
    pattern = spec.get("allowedPattern")
    if pattern is not None:
        if not isinstance(pattern, str):
            raise _invalid(f"parameter {name}: allowedPattern must be a string")
        try:
            re.compile(pattern)
        except re.error as e:
            raise _invalid(f"parameter {name}: allowedPattern is not a valid regex: {e}") from e
    allowed = spec.get("allowedValues")
    if allowed is not None:
        if not isinstance(allowed, list) or not all(isinstance(v, str) for v in allowed):
            raise _invalid(f"parameter {name}: allowedValues must be a list of strings")
        allowed = tuple(allowed)
    interpolation = spec.get("interpolationType")
    if interpolation not in (None, "ENV_VAR"):
        raise _invalid(f"parameter {name}: interpolationType must be ENV_VAR")
    if interpolation == "ENV_VAR" and ptype is not ParamType.STRING:
        raise _invalid(f"parameter {name}: interpolationType ENV_VAR applies to String only")
    description = spec.get("description", "")
    return ParamSpec(
        name=name,
        type=ptype,
        description=description if isinstance(description, str) else "",
        default=spec.get("default"),
        has_default="default" in spec,
        allowed_values=allowed,
        allowed_pattern=pattern,
        min_chars=_int_or_none(name, "minChars", spec.get("minChars")),
        max_chars=_int_or_none(name, "maxChars", spec.get("maxChars")),
        min_items=_int_or_none(name, "minItems", spec.get("minItems")),
        max_items=_int_or_none(name, "maxItems", spec.get("maxItems")),
        env_var=interpolation == "ENV_VAR",
    )


def _step(i: int, raw: Any) -> Step:
    if not isinstance(raw, dict):
        raise _invalid(f"mainSteps[{i}] must be an object with action, name and inputs")
    action, name, inputs = raw.get("action"), raw.get("name"), raw.get("inputs", {})
    if not isinstance(action, str) or action not in KNOWN_ACTIONS:
        raise _invalid(f"mainSteps[{i}]: action {action!r} is not an SSM Command plugin")
    if not isinstance(name, str) or not STEP_NAME.fullmatch(name):
        raise _invalid(f"mainSteps[{i}]: name {name!r}: 4-128 letters, digits, '_', '.', '-'")
    if not isinstance(inputs, dict):
        raise _invalid(f"mainSteps[{i}] ({name}): inputs must be an object")
    if action == RUN_SHELL_SCRIPT and "runCommand" not in inputs:
        raise _invalid(f"mainSteps[{i}] ({name}): aws:runShellScript needs inputs.runCommand")
    if action == DOWNLOAD_CONTENT:
        for key in ("sourceType", "sourceInfo"):
            if key not in inputs:
                raise _invalid(f"mainSteps[{i}] ({name}): aws:downloadContent needs inputs.{key}")
    precondition = raw.get("precondition")
    if precondition is not None and not isinstance(precondition, dict):
        raise _invalid(f"mainSteps[{i}] ({name}): precondition must be an object")
    return Step(name=name, action=action, inputs=inputs, precondition=precondition)


def _placeholders(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, str):
        found.update(m.group(1) for m in PLACEHOLDER.finditer(value))
    elif isinstance(value, list):
        for item in value:
            found |= _placeholders(item)
    elif isinstance(value, dict):
        for item in value.values():
            found |= _placeholders(item)
    return found


# -- parameters at SendCommand -----------------------------------------------------------------


def _bad(message: str) -> ApiError:
    return ApiError("InvalidParameters", message)


def _default_values(spec: ParamSpec) -> list[str]:
    value = spec.default
    if isinstance(value, list):
        return [v if isinstance(v, str) else json.dumps(v) for v in value]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, dict):
        return [json.dumps(value)]
    return [str(value)]


def resolve_parameters(
    doc: CommandDocument, given: dict[str, list[str]]
) -> dict[str, str | list[str]]:
    """Every declared parameter's value for one command, or :class:`ApiError`
    ``InvalidParameters`` naming the parameter and the rule it breaks (as SendCommand does)."""
    unknown = sorted(set(given) - set(doc.parameters))
    if unknown:
        raise _bad(
            f"document does not declare parameter(s) {', '.join(unknown)}; it declares: "
            f"{', '.join(sorted(doc.parameters)) or 'none'}"
        )
    resolved: dict[str, str | list[str]] = {}
    for name, spec in doc.parameters.items():
        if name in given:
            values = list(given[name])
        elif spec.has_default:
            values = _default_values(spec)
        else:
            raise _bad(f"parameter {name} is required (it has no default) and was not given")
        for value in values:
            if value.startswith("{{") and re.fullmatch(r"\{\{\s*ssm(-secure)?:.*\}\}", value):
                raise _bad(
                    f"parameter {name}: Parameter Store references ({value}) are not imitated "
                    "by the lab endpoint; pass the value itself"
                )
        if spec.type in (ParamType.STRING_LIST, ParamType.MAP_LIST):
            if spec.min_items is not None and len(values) < spec.min_items:
                raise _bad(f"parameter {name}: fewer than minItems {spec.min_items} values")
            if spec.max_items is not None and len(values) > spec.max_items:
                raise _bad(f"parameter {name}: more than maxItems {spec.max_items} values")
        elif len(values) != 1:
            raise _bad(f"parameter {name} of type {spec.type.value} takes exactly one value")
        for value in values:
            _check_value(spec, value)
        if spec.type is ParamType.STRING_LIST:
            resolved[name] = values
        else:
            resolved[name] = values[0]
    return resolved


def _check_value(spec: ParamSpec, value: str) -> None:
    name = spec.name
    if spec.type is ParamType.BOOLEAN and value not in ("true", "false"):
        raise _bad(f"parameter {name}: {value!r} is not a Boolean (true or false)")
    if spec.type is ParamType.INTEGER and not re.fullmatch(r"-?[0-9]+", value):
        raise _bad(f"parameter {name}: {value!r} is not an Integer")
    if spec.allowed_values is not None and value not in spec.allowed_values:
        raise _bad(
            f"parameter {name}: value {_short(value)} is not one of the allowedValues "
            f"{', '.join(spec.allowed_values)}"
        )
    if spec.allowed_pattern is not None and not re.search(spec.allowed_pattern, value):
        raise _bad(
            f"parameter {name}: value {_short(value)} does not match its allowedPattern "
            f"{spec.allowed_pattern}"
        )
    if spec.min_chars is not None and len(value) < spec.min_chars:
        raise _bad(f"parameter {name}: shorter than minChars {spec.min_chars}")
    if spec.max_chars is not None and len(value) > spec.max_chars:
        raise _bad(f"parameter {name}: longer than maxChars {spec.max_chars}")


def _short(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


# -- substitution on the instance ----------------------------------------------------------


def substitute(value: Any, params: dict[str, str | list[str]]) -> Any:
    """``value`` (a step's inputs) with ``{{ name }}`` replaced by parameter values, as the
    agent does: a string that is exactly one placeholder of a StringList becomes the list;
    anywhere else a value is inserted as text (a list as its JSON)."""
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value.strip())
        if whole and whole.group(1) in params:
            return params[whole.group(1)]

        def one(m: re.Match[str]) -> str:
            got = params.get(m.group(1))
            if got is None:
                return m.group(0)
            return got if isinstance(got, str) else json.dumps(got)

        return PLACEHOLDER.sub(one, value)
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            replaced = substitute(item, params)
            if isinstance(item, str) and isinstance(replaced, list):
                out.extend(replaced)
            else:
                out.append(replaced)
        return out
    if isinstance(value, dict):
        return {k: substitute(v, params) for k, v in value.items()}
    return value


def env_vars(doc: CommandDocument, params: dict[str, str | list[str]]) -> dict[str, str]:
    """``SSM_name`` for every parameter declared ``interpolationType: ENV_VAR``."""
    out = {}
    for name, spec in doc.parameters.items():
        value = params.get(name)
        if spec.env_var and isinstance(value, str):
            out[f"SSM_{name}"] = value
    return out


def precondition_holds(step: Step, platform: str = "Linux") -> tuple[bool, str]:
    """Whether the step's precondition holds on a ``platform`` instance (SSM knows
    ``StringEquals: [platformType, X]``), and the reason when it does not."""
    pre = step.precondition
    if not pre:
        return True, ""
    cond = pre.get("StringEquals")
    if (
        isinstance(cond, list)
        and len(cond) == 2
        and cond[0] == "platformType"
        and isinstance(cond[1], str)
    ):
        if cond[1] == platform:
            return True, ""
        return False, f"[platformType, {cond[1]}] is not satisfied by platformType {platform}"
    return False, f"unsupported precondition {json.dumps(pre)}"


def execution_timeout(inputs: dict[str, Any]) -> int:
    """A runShellScript step's ``timeoutSeconds`` (default 3600), as an int in 1..172800."""
    raw = inputs.get("timeoutSeconds", DEFAULT_EXECUTION_TIMEOUT)
    try:
        value = int(str(raw))
    except ValueError:
        raise ValueError(f"timeoutSeconds {raw!r} is not an integer") from None
    if not 1 <= value <= MAX_EXECUTION_TIMEOUT:
        raise ValueError(f"timeoutSeconds {value} is outside 1..{MAX_EXECUTION_TIMEOUT}")
    return value
