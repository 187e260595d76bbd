"""Sandbox servers stand in for real services on this machine only: they bind to loopback, and a
foreground server stops on Ctrl-C or SIGTERM."""

from __future__ import annotations

import ipaddress
import signal


def require_loopback(host: str) -> str:
    """Return ``host`` if it is a loopback address, else refuse: a sandbox must never be reachable."""
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"sandbox servers bind to loopback only (127.0.0.1, ::1, localhost), not {host!r}")
    return host


def stop_on_interrupt() -> None:
    """Make Ctrl-C (SIGINT) and SIGTERM raise KeyboardInterrupt in a foreground server. Installed
    explicitly: a process started from one that ignores SIGINT (``nohup``, a pytest-xdist worker)
    inherits the ignore, and Python then never raises KeyboardInterrupt, so the server would not stop."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
