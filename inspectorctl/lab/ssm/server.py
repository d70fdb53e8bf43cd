"""The lab's SSM endpoint over HTTP: AWS's JSON 1.1 protocol on 127.0.0.1, with moto's server
as the S3 beside it.

A request is ``POST /`` with ``X-Amz-Target: AmazonSSM.<Operation>``, a JSON body and a SigV4
``Authorization`` header. The header is parsed (its credential scope must name the ``ssm``
service) but its signature is not verified: any credentials are accepted. The body is checked
against botocore's model of the operation's input; errors are AWS's JSON error shape
(``__type``, ``message``) with the code botocore models, so boto3 raises the modeled
exception.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from inspectorctl.lab.ssm.errors import ApiError, SsmLabError
from inspectorctl.lab.ssm.service import DEFAULT_REGION, SsmService
from inspectorctl.lab.ssm.wire import TARGET_PREFIX, check_input, check_output, operation_names

#: a request body larger than this is refused (SSM's own requests are far smaller)
MAX_BODY_BYTES = 4 * 1024 * 1024
CONTENT_TYPE = "application/x-amz-json-1.1"
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/"
    r"(?P<service>[a-z0-9-]+)/aws4_request,\s*SignedHeaders=(?P<headers>[a-z0-9;-]+),\s*"
    r"Signature=(?P<sig>[0-9a-f]{64})$"
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Credential:
    access_key: str
    region: str


def parse_authorization(header: str | None) -> Credential:
    """The SigV4 ``Authorization`` header's access key and region (signature not verified)."""
    if not header:
        raise ApiError("MissingAuthenticationTokenException", "Missing Authentication Token")
    m = _AUTH.match(header.strip())
    if m is None:
        raise ApiError(
            "IncompleteSignatureException",
            "Authorization header is not AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/ssm/"
            "aws4_request, SignedHeaders=..., Signature=...",
        )
    if m.group("service") != "ssm":
        raise ApiError(
            "InvalidSignatureException",
            f"Credential should be scoped to correct service: 'ssm', not {m.group('service')!r}",
        )
    return Credential(m.group("key"), m.group("region"))


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # one buffered write per response, sent at once: headers and body in separate segments
    # would meet the client's delayed ACK (40 ms a request)
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        # a health check for `lab ssm status` and whoever starts the endpoint
        if self.path == "/ping":
            self._send(200, {"status": "ok", "service": "ssm"}, "application/json")
        else:
            self._send(404, {"__type": "UnknownOperationException", "message": "POST / only"})

    def do_POST(self) -> None:
        request_id = str(uuid.uuid4())
        operation = ""
        try:
            operation, params, region = self._parse()
            body = self.server.service.handle(operation, params, region)
            if self.server.check_responses:
                problems = check_output(operation, body)
                if problems:
                    raise ApiError(
                        "InternalServerError",
                        f"the lab endpoint built a response botocore's model refuses: "
                        f"{'; '.join(problems[:5])}",
                        500,
                    )
            self._send(200, body, request_id=request_id)
        except ApiError as e:
            self._send(e.status, {"__type": e.code, "message": e.message}, request_id=request_id)
        except Exception as e:  # a bug: one 500 for this request, the server goes on
            log.exception("%s failed", operation or "request")
            self._send(
                500,
                {"__type": "InternalServerError", "message": f"{type(e).__name__}: {e}"},
                request_id=request_id,
            )

    def _parse(self) -> tuple[str, dict[str, Any], str]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise ApiError("ValidationException", f"request body over {MAX_BODY_BYTES} bytes", 413)
        raw = self.rfile.read(length) if length else b""
        target = self.headers.get("X-Amz-Target", "")
        prefix, _, operation = target.partition(".")
        if prefix != TARGET_PREFIX or operation not in self.server.known_operations:
            raise ApiError("UnknownOperationException", f"unknown X-Amz-Target {target!r}")
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype not in (CONTENT_TYPE, "application/json"):
            raise ApiError("SerializationException", f"Content-Type must be {CONTENT_TYPE}")
        credential = parse_authorization(self.headers.get("Authorization"))
        try:
            params = json.loads(raw or b"{}")
        except RecursionError as e:
            raise ApiError("SerializationException", "body is nested too deeply") from e
        except ValueError as e:
            raise ApiError("SerializationException", f"body is not JSON: {e}") from e
        if not isinstance(params, dict):
            raise ApiError("SerializationException", "body must be a JSON object")
        problems = check_input(operation, params)
        if problems:
            raise ApiError(
                "ValidationException",
                f"{len(problems)} validation error{'s' if len(problems) > 1 else ''} detected: "
                + "; ".join(problems[:10]),
            )
        return operation, params, credential.region or DEFAULT_REGION

    def _send(
        self,
        status: int,
        body: dict[str, Any],
        ctype: str = CONTENT_TYPE,
        request_id: str | None = None,
    ) -> None:
        data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", request_id or str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], service: SsmService, check: bool) -> None:
        super().__init__(address, _Handler)
        self.service = service
        self.check_responses = check
        self.known_operations = frozenset(operation_names())


class SsmHttpServer:
    """The endpoint in this process: ``start()`` binds 127.0.0.1 (``port`` 0: a free one)."""

    def __init__(
        self, service: SsmService, port: int = 0, *, check_responses: bool = False
    ) -> None:
        self.service = service
        self._port = port
        self._check = check_responses
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise SsmLabError("the SSM endpoint is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        try:
            self._server = _Server(("127.0.0.1", self._port), self.service, self._check)
        except OSError as e:
            raise SsmLabError(f"cannot listen on 127.0.0.1:{self._port}: {e}") from e
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="ssm-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
