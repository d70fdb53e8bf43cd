"""``ssm-docs deploy``: put the shipped documents in an account and region, idempotently.

For each document: DescribeDocument; absent -> CreateDocument (YAML, tagged); present -> the
default version's content (GetDocument) is compared by sha256 with ours: equal -> nothing to
do; different -> UpdateDocument to a new version (or, when SSM already holds this content as an
older version, that version) and UpdateDocumentDefaultVersion, so what runs by default is what
ships. ``pinned`` says which version of a document holds exactly our content, for plans to pin.
"""

from __future__ import annotations

import enum
import hashlib
from typing import Any

from inspectorctl.aws.documents import Document
from inspectorctl.aws.session import AwsError, describe_client_error
from inspectorctl.models.common import Frozen

TAG_SHA = "inspectorctl:sha256"
TAG_MANAGED = "inspectorctl:managed-by"


class DeployAction(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DEFAULT_RESET = "default-version-reset"


class Deployed(Frozen):
    name: str
    action: DeployAction
    version: str
    sha256: str


class DeployError(AwsError):
    """A document could not be deployed, or the deployed one is not ours."""


def _code(e: Exception) -> str:
    return str((getattr(e, "response", {}) or {}).get("Error", {}).get("Code", ""))


def _sha(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _content(ssm: Any, name: str, version: str) -> str:
    resp = ssm.get_document(Name=name, DocumentVersion=version, DocumentFormat="YAML")
    return str(resp.get("Content") or "")


def _describe(ssm: Any, name: str) -> dict[str, Any] | None:
    import botocore.exceptions

    try:
        return dict(ssm.describe_document(Name=name)["Document"])
    except botocore.exceptions.ClientError as e:
        if _code(e) == "InvalidDocument":
            return None
        raise DeployError(f"{name}: {describe_client_error(e)}") from e


def _version_with(ssm: Any, doc: Document) -> str | None:
    """The version of ``doc.name`` whose content is ours, if any."""
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"Name": doc.name, "MaxResults": 50}
        if token:
            kwargs["NextToken"] = token
        page = ssm.list_document_versions(**kwargs)
        for v in page.get("DocumentVersions", []):
            version = str(v.get("DocumentVersion"))
            if _sha(_content(ssm, doc.name, version)) == doc.sha256:
                return version
        token = page.get("NextToken")
        if not token:
            return None


def deploy(ssm: Any, doc: Document) -> Deployed:
    import botocore.exceptions

    tags = [{"Key": TAG_SHA, "Value": doc.sha256}, {"Key": TAG_MANAGED, "Value": "inspectorctl"}]
    try:
        current = _describe(ssm, doc.name)
        if current is None:
            resp = ssm.create_document(Content=doc.content, Name=doc.name,
                                       DocumentType="Command", DocumentFormat="YAML", Tags=tags)
            version = str(resp["DocumentDescription"].get("DocumentVersion") or "1")
            return Deployed(name=doc.name, action=DeployAction.CREATED, version=version,
                            sha256=doc.sha256)
        default = str(current.get("DefaultVersion") or "1")
        if _sha(_content(ssm, doc.name, default)) == doc.sha256:
            return Deployed(name=doc.name, action=DeployAction.UNCHANGED, version=default,
                            sha256=doc.sha256)
        action = DeployAction.UPDATED
        try:
            resp = ssm.update_document(Content=doc.content, Name=doc.name,
                                       DocumentVersion="$LATEST", DocumentFormat="YAML")
            version = str(resp["DocumentDescription"]["DocumentVersion"])
        except botocore.exceptions.ClientError as e:
            if _code(e) != "DuplicateDocumentContent":
                raise
            found = _version_with(ssm, doc)
            if found is None:
                raise DeployError(f"{doc.name}: SSM says the content exists, but no version "
                                  "holds it") from e
            version, action = found, DeployAction.DEFAULT_RESET
        ssm.update_document_default_version(Name=doc.name, DocumentVersion=version)
        ssm.add_tags_to_resource(ResourceType="Document", ResourceId=doc.name, Tags=tags)
        return Deployed(name=doc.name, action=action, version=version, sha256=doc.sha256)
    except botocore.exceptions.ClientError as e:
        raise DeployError(f"{doc.name}: {describe_client_error(e)}") from e


def pinned(ssm: Any, doc: Document) -> str:
    """The deployed version whose content is exactly ``doc`` (the default one, when it is):
    what a plan pins. A missing or different document is a ``DeployError`` saying to deploy."""
    import botocore.exceptions

    try:
        current = _describe(ssm, doc.name)
        if current is None:
            raise DeployError(f"SSM document {doc.name} is not deployed in this account and "
                              "region: run `inspectorctl ssm-docs deploy`")
        default = str(current.get("DefaultVersion") or "1")
        if _sha(_content(ssm, doc.name, default)) == doc.sha256:
            return default
    except botocore.exceptions.ClientError as e:
        raise DeployError(f"{doc.name}: {describe_client_error(e)}") from e
    raise DeployError(f"SSM document {doc.name}: the default version ({default}) differs from "
                      f"this inspectorctl's (sha256 {doc.sha256[:12]}…): run "
                      "`inspectorctl ssm-docs deploy`")
