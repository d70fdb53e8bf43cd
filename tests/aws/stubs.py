"""Clients from the session factory with botocore Stubber attached (parameter validation on)."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.response import StreamingBody
from botocore.stub import Stubber

from inspectorctl.aws.documents import DocumentName, encode_request, load_document
from inspectorctl.aws.session import AwsConfig, SessionFactory
from inspectorctl.models.snapshot import ProbeRequest

REGION = "eu-west-1"


class StubbedFactory(SessionFactory):
    """The real factory (its botocore Config) with one stubbed client per service."""

    def __init__(self, config: AwsConfig | None = None) -> None:
        session = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x",
                                region_name=REGION)
        super().__init__(config or AwsConfig(region=REGION), session)
        self.clients: dict[str, Any] = {}
        self.stubbers: dict[str, Stubber] = {}

    def client(self, service: str) -> Any:
        if service not in self.clients:
            c = super().client(service)
            assert c.meta.config.parameter_validation is not False
            self.clients[service] = c
            self.stubbers[service] = Stubber(c)
            self.stubbers[service].activate()
        return self.clients[service]

    def stub(self, service: str) -> Stubber:
        self.client(service)
        return self.stubbers[service]

    @contextmanager
    def verified(self) -> Iterator[None]:
        yield
        for s in self.stubbers.values():
            s.assert_no_pending_responses()


def body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def instance(iid: str, ping: str = "Online", platform: str = "Linux") -> dict[str, Any]:
    return {"InstanceId": iid, "PingStatus": ping, "PlatformType": platform,
            "PlatformName": "Debian GNU/Linux" if platform == "Linux" else "Windows",
            "ComputerName": f"host-{iid[-4:]}"}


def invocation(cid: str, iid: str, status: str, details: str | None = None) -> dict[str, Any]:
    return {"CommandId": cid, "InstanceId": iid, "DocumentName": DocumentName.COLLECT.value,
            "Status": status, "StatusDetails": details or status}


def run_collect_document(request: ProbeRequest) -> bytes:
    """Run the rendered InspectorCtl-Collect step on this machine (read-only probe) the way
    the agent does, with the request substituted: the frame the agent would print."""
    doc = load_document(DocumentName.COLLECT.value).data()
    script = "\n".join(doc["mainSteps"][0]["inputs"]["runCommand"])
    script = script.replace("{{ request }}", encode_request(request))
    proc = subprocess.run(["sh", "-c", script], capture_output=True, check=True, timeout=120)
    return proc.stdout
