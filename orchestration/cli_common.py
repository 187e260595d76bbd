"""What every `kore` command shares: the workdir option, settings resolution, the console."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kore.config import Settings, get_settings

# piped output (logs, CI) gets wide tables instead of rich's 80-column default
console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

WorkdirOpt = Annotated[
    Path | None,
    typer.Option("--workdir", "-w", help="Holds warehouse, state, sandbox data, logs (default $KORE_WORKDIR or .)"),
]


def settings_for(workdir: Path | None, flavor: str | None = None) -> Settings:
    s = get_settings(workdir)
    if flavor:
        if flavor not in ("dynamics", "salesforce"):
            raise typer.BadParameter(f"flavor must be 'dynamics' or 'salesforce', not {flavor!r}")
        s = dataclasses.replace(s, crm_flavor=flavor)  # type: ignore[arg-type]
    s.ensure_dirs()
    return s


def print_summary(summary: dict) -> None:
    console.print_json(json.dumps(summary, default=str))


def require_sandbox() -> None:
    """The sandbox is an optional extra: say how to install it instead of a bare ImportError."""
    import importlib.util

    missing = [m for m in ("faker", "cryptography") if importlib.util.find_spec(m) is None]
    if missing:
        console.print(
            f"[red]The sandbox extra is not installed (missing {', '.join(missing)}).[/] "
            "Install it with ./install.sh or pip install -e '.[sandbox]'."
        )
        raise typer.Exit(2)
