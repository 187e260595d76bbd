"""Sandbox servers refuse any address but loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.archtics_api import ArchticsSandbox
from sandbox.crm_api import CrmSandbox
from sandbox.loopback import require_loopback


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_hosts_accepted(host: str) -> None:
    assert require_loopback(host) == host


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.5", "192.168.1.10", "example.com", ""])
def test_other_hosts_refused(host: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="loopback"):
        ArchticsSandbox(tmp_path, tmp_path, host=host)
    with pytest.raises(ValueError, match="loopback"):
        CrmSandbox(tmp_path, "dynamics", host=host)
