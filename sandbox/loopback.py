"""Sandbox servers stand in for real services on this machine only: they bind to loopback."""

from __future__ import annotations

import ipaddress


def require_loopback(host: str) -> str:
    """Return ``host`` if it is a loopback address, else refuse: a sandbox must never be reachable."""
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"sandbox servers bind to loopback only (127.0.0.1, ::1, localhost), not {host!r}")
    return host
