"""OData ``$batch`` bodies (multipart/mixed with change sets), built and parsed.

Dataverse's ``$batch`` packs up to 1,000 HTTP requests into one; a change set inside it is
transactional. Both the push client and the sandbox CRM use this module, so the wire format is
written once. The format: parts separated by ``--<boundary>``; a part is either an
``application/http`` request/response or a nested ``multipart/mixed`` change set.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

CRLF = b"\r\n"
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.I)
_STATUS_TEXT = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 404: "Not Found"}


@dataclass
class Part:
    headers: dict[str, str]
    body: bytes
    children: list[Part] = field(default_factory=list)  # set when the part is itself multipart

    @property
    def is_multipart(self) -> bool:
        return self.headers.get("content-type", "").lower().startswith("multipart/")


@dataclass
class HttpMessage:
    """A request (method, url) or response (status) inside a batch."""

    method: str = ""
    url: str = ""
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_id: str | None = None

    def json(self) -> Any:
        return json.loads(self.body) if self.body.strip() else None


def boundary_of(content_type: str) -> str:
    m = _BOUNDARY.search(content_type or "")
    if not m:
        raise ValueError("multipart content type without a boundary")
    return m.group(1)


def _headers(block: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in block.split(CRLF):
        if b":" in line:
            k, v = line.split(b":", 1)
            out[k.decode().strip().lower()] = v.decode().strip()
    return out


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    data = data.lstrip(CRLF)
    idx = data.find(CRLF + CRLF)
    if idx < 0:
        return data, b""
    return data[:idx], data[idx + 4 :]


def parse_multipart(content_type: str, body: bytes) -> list[Part]:
    """Split a multipart/mixed body into parts (nested change sets parsed too)."""
    body = body.replace(b"\r\n", b"\n").replace(b"\n", CRLF)
    delim = b"--" + boundary_of(content_type).encode()
    chunks = body.split(delim)
    parts: list[Part] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        head, rest = _split_head(chunk)
        if rest.endswith(CRLF):
            rest = rest[:-2]
        p = Part(_headers(head), rest)
        if p.is_multipart:
            p.children = parse_multipart(p.headers["content-type"], rest)
        parts.append(p)
    return parts


def parse_http(part: Part) -> HttpMessage:
    """The HTTP request or response carried by an application/http part."""
    head, body = _split_head(part.body)
    lines = head.split(CRLF)
    first = lines[0].decode()
    msg = HttpMessage(headers=_headers(CRLF.join(lines[1:])), body=body.rstrip(CRLF))
    if first.startswith("HTTP/"):
        msg.status = int(first.split()[1])
    else:
        msg.method, msg.url = first.split()[0], first.split()[1]
    msg.content_id = part.headers.get("content-id")
    return msg


def _http_part(msg: HttpMessage, request: bool) -> bytes:
    out = [b"Content-Type: application/http", b"Content-Transfer-Encoding: binary"]
    if msg.content_id:
        out.append(f"Content-ID: {msg.content_id}".encode())
    out.append(b"")
    if request:
        out.append(f"{msg.method} {msg.url} HTTP/1.1".encode())
    else:
        out.append(f"HTTP/1.1 {msg.status} {_STATUS_TEXT.get(msg.status, 'Error')}".encode())
    for k, v in msg.headers.items():
        out.append(f"{k}: {v}".encode())
    out.append(b"")
    out.append(msg.body)
    return CRLF.join(out)


def build(items: list[HttpMessage | list[HttpMessage]], request: bool = True) -> tuple[str, bytes]:
    """A batch body; a list inside ``items`` becomes one change set. Returns (content type, body)."""
    kind = "batch" if request else "batchresponse"
    b = f"{kind}_{uuid.uuid4().hex}"
    chunks: list[bytes] = []
    for item in items:
        chunks.append(f"--{b}".encode())
        if isinstance(item, list):
            cs = f"{'changeset' if request else 'changesetresponse'}_{uuid.uuid4().hex}"
            inner = [f"Content-Type: multipart/mixed; boundary={cs}".encode(), b""]
            for m in item:
                inner += [f"--{cs}".encode(), _http_part(m, request)]
            inner.append(f"--{cs}--".encode())
            chunks.append(CRLF.join(inner))
        else:
            chunks.append(_http_part(item, request))
    chunks.append(f"--{b}--".encode())
    return f"multipart/mixed; boundary={b}", CRLF.join(chunks) + CRLF
