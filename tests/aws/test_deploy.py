"""ssm-docs deploy and plan pinning against botocore Stubber."""

from __future__ import annotations

import pytest

from inspectorctl.aws.deploy import DeployAction, DeployError, deploy, pinned
from inspectorctl.aws.documents import DocumentName, load_document
from tests.aws.stubs import StubbedFactory

DOC = load_document(DocumentName.APPLY_PLAYBOOK.value)
NAME = DOC.name
TAGS = [{"Key": "inspectorctl:sha256", "Value": DOC.sha256},
        {"Key": "inspectorctl:managed-by", "Value": "inspectorctl"}]


def test_changed_content_becomes_the_new_default_version() -> None:
    f = StubbedFactory()
    ssm = f.stub("ssm")
    ssm.add_response("describe_document", {"Document": {"Name": NAME, "DefaultVersion": "3"}},
                     {"Name": NAME})
    ssm.add_response("get_document", {"Name": NAME, "Content": "old: content"},
                     {"Name": NAME, "DocumentVersion": "3", "DocumentFormat": "YAML"})
    ssm.add_response("update_document", {"DocumentDescription": {"DocumentVersion": "4"}},
                     {"Content": DOC.content, "Name": NAME, "DocumentVersion": "$LATEST",
                      "DocumentFormat": "YAML"})
    ssm.add_response("update_document_default_version", {},
                     {"Name": NAME, "DocumentVersion": "4"})
    ssm.add_response("add_tags_to_resource", {},
                     {"ResourceType": "Document", "ResourceId": NAME, "Tags": TAGS})
    with f.verified():
        d = deploy(f.client("ssm"), DOC)
    assert (d.action, d.version) == (DeployAction.UPDATED, "4")


def test_content_already_held_by_an_older_version_is_made_default_again() -> None:
    f = StubbedFactory()
    ssm = f.stub("ssm")
    ssm.add_response("describe_document", {"Document": {"Name": NAME, "DefaultVersion": "3"}},
                     {"Name": NAME})
    ssm.add_response("get_document", {"Name": NAME, "Content": "other"},
                     {"Name": NAME, "DocumentVersion": "3", "DocumentFormat": "YAML"})
    ssm.add_client_error("update_document", "DuplicateDocumentContent", "same content")
    ssm.add_response("list_document_versions", {"DocumentVersions": [
        {"Name": NAME, "DocumentVersion": "3"}, {"Name": NAME, "DocumentVersion": "2"}]},
        {"Name": NAME, "MaxResults": 50})
    ssm.add_response("get_document", {"Name": NAME, "Content": "other"},
                     {"Name": NAME, "DocumentVersion": "3", "DocumentFormat": "YAML"})
    ssm.add_response("get_document", {"Name": NAME, "Content": DOC.content},
                     {"Name": NAME, "DocumentVersion": "2", "DocumentFormat": "YAML"})
    ssm.add_response("update_document_default_version", {},
                     {"Name": NAME, "DocumentVersion": "2"})
    ssm.add_response("add_tags_to_resource", {}, None)
    with f.verified():
        d = deploy(f.client("ssm"), DOC)
    assert (d.action, d.version) == (DeployAction.DEFAULT_RESET, "2")


def test_pinned_version_refuses_a_changed_or_missing_document() -> None:
    f = StubbedFactory()
    ssm = f.stub("ssm")
    ssm.add_response("describe_document", {"Document": {"Name": NAME, "DefaultVersion": "2"}},
                     {"Name": NAME})
    ssm.add_response("get_document", {"Name": NAME, "Content": DOC.content},
                     {"Name": NAME, "DocumentVersion": "2", "DocumentFormat": "YAML"})
    ssm.add_response("describe_document", {"Document": {"Name": NAME, "DefaultVersion": "5"}},
                     {"Name": NAME})
    ssm.add_response("get_document", {"Name": NAME, "Content": DOC.content + "# changed\n"},
                     {"Name": NAME, "DocumentVersion": "5", "DocumentFormat": "YAML"})
    ssm.add_client_error("describe_document", "InvalidDocument", "gone")
    with f.verified():
        assert pinned(f.client("ssm"), DOC) == "2"
        with pytest.raises(DeployError, match=r"default version \(5\) differs"):
            pinned(f.client("ssm"), DOC)
        with pytest.raises(DeployError, match="is not deployed"):
            pinned(f.client("ssm"), DOC)
