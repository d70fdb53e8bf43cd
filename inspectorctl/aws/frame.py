"""The framing inspectorctl's SSM documents print their result in, and reading it back.

``INSPECTORCTL-FRAME/1 <length> <sha256>\n`` + gzip+base64 payload + ``\nINSPECTORCTL-END``: the
controller can tell a whole payload from one cut by Run Command's output limits (24,000
characters through GetCommandInvocation) or altered on the way, and never parses either.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import zlib

from inspectorctl.aws.runcommand import STDOUT_LIMIT

FRAME_HEADER = re.compile(rb"^INSPECTORCTL-FRAME/1 (\d{1,10}) ([0-9a-f]{64})\r?\n")
FRAME_END = b"INSPECTORCTL-END"
#: a snapshot larger than this (decompressed) is refused
MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024
OUTPUT_S3_HINT = ("rerun with --output-s3 s3://BUCKET/PREFIX so the agent writes the whole "
                  "output to S3")


class FrameError(ValueError):
    """The framed output is truncated or corrupt (the message says which, and what to do)."""


def unframe_gzip(raw: bytes, *, from_s3: bool, document: str = "InspectorCtl-Collect"
                 ) -> bytes:
    """The gzip payload of one frame, checked whole and intact (``FrameError`` otherwise)."""
    m = FRAME_HEADER.match(raw)
    hint = "" if from_s3 else f"; {OUTPUT_S3_HINT}"
    if m is None:
        head = raw[:60].decode("utf-8", "replace").strip()
        raise FrameError(f"output is not an inspectorctl frame (starts {head!r}); the "
                         f"{document} document deployed may be another version: "
                         "redeploy it with `inspectorctl ssm-docs deploy`")
    length, digest = int(m.group(1)), m.group(2).decode("ascii")
    body = raw[m.end():]
    payload = body[:length]
    rest = body[length:].strip()
    if len(payload) < length or rest != FRAME_END:
        cut = (f" (Run Command keeps the first {STDOUT_LIMIT} characters of stdout)"
               if not from_s3 and len(raw) >= STDOUT_LIMIT - 64 else "")
        raise FrameError(f"output is truncated: {len(payload)} of {length} payload "
                         f"characters arrived{cut}{hint}")
    if hashlib.sha256(payload).hexdigest() != digest:
        raise FrameError(f"output is corrupt: the payload's sha256 differs from the frame's "
                         f"header{hint}")
    try:
        return base64.b64decode(payload, validate=True)
    except binascii.Error as e:
        raise FrameError(f"output is corrupt: cannot decode the payload ({e}){hint}") from e


def gunzip(compressed: bytes) -> bytes:
    """The payload of ``unframe_gzip`` decompressed, at most MAX_SNAPSHOT_BYTES."""
    try:
        d = zlib.decompressobj(wbits=31)
        data = d.decompress(compressed, MAX_SNAPSHOT_BYTES)
    except zlib.error as e:
        raise FrameError(f"output is corrupt: cannot decompress the payload ({e})") from e
    if d.unconsumed_tail:
        raise FrameError(f"payload larger than {MAX_SNAPSHOT_BYTES} bytes once decompressed; "
                         "refused")
    return data


def unframe(raw: bytes, *, from_s3: bool, document: str = "InspectorCtl-Collect") -> bytes:
    """The JSON inside one frame; ``FrameError`` when it is not whole and intact."""
    return gunzip(unframe_gzip(raw, from_s3=from_s3, document=document))
