"""Fault injection of the sandbox CRM: what the next matching requests (or records) should suffer.

Set through ``POST /admin/faults`` or the ``faults=`` argument of :class:`sandbox.crm_api.CrmSandbox`:
``{"faults": [{"kind": "429"|"500"|"slow"|"drop", "times", "match", "retry_after", "seconds",
"when"}], "record_errors": {external key: message}}``. Thread-safe: the server is threaded.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Fault:
    """An injected failure: ``kind`` 429 | 500 | slow | drop, for the next ``times`` matching requests."""

    kind: str
    times: int = 1
    match: str = ""  # substring of the request path; empty = any API request
    retry_after: float = 1.0  # whole seconds on the wire (Retry-After is an integer)
    seconds: float = 2.0
    when: str = "after"  # slow: delay the response after the work is done (client times out, retries)


@dataclass
class Faults:
    pending: list[Fault] = field(default_factory=list)
    record_errors: dict[str, str] = field(default_factory=dict)  # external key -> message
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, spec: dict[str, Any]) -> None:
        with self.lock:
            for f in spec.get("faults", []):
                self.pending.append(Fault(**{**f, "kind": str(f["kind"])}))
            errs = spec.get("record_errors") or {}
            if isinstance(errs, list):
                errs = {k: "injected record error" for k in errs}
            self.record_errors.update(errs)

    def take(self, path: str) -> Fault | None:
        with self.lock:
            for f in self.pending:
                if f.times > 0 and f.match in path:
                    f.times -= 1
                    if f.times == 0:
                        self.pending.remove(f)
                    return f
        return None

    def clear(self) -> None:
        with self.lock:
            self.pending.clear()
            self.record_errors.clear()

    def as_dict(self) -> dict[str, Any]:
        with self.lock:
            return {"faults": [f.__dict__ for f in self.pending], "record_errors": dict(self.record_errors)}
