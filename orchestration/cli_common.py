"""What every `kore` command shares: the workdir option, settings resolution, the console, the
top-level error handler and the stdout/stderr split.

Output rule: machine-readable summaries (JSON) go to stdout, human progress and tables to stderr,
so ``kore run --json > run.json`` holds exactly one JSON document.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from kore.config import Settings, get_settings
from kore.errors import EXIT_USAGE, ConfigError, KoreError, as_user_error

# piped output (logs, CI) gets wide tables instead of rich's 80-column default
console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

WorkdirOpt = Annotated[
    Path | None,
    typer.Option("--workdir", "-w", help="Holds warehouse, state, sandbox data, logs (default $KORE_WORKDIR or .)"),
]


def settings_for(workdir: Path | None, flavor: str | None = None, create: bool = False) -> Settings:
    """The settings of a command; a workdir that does not exist is a mistake (a typo would
    otherwise silently start an empty warehouse) unless the command creates one (``create``)."""
    try:
        s = get_settings(workdir)
    except ValueError as exc:  # bad KORE_TARGET / KORE_CRM_FLAVOR
        raise ConfigError(str(exc), "fix the environment variable (see README 'Configuration')") from exc
    if not create and not s.workdir.is_dir():
        raise ConfigError(
            f"workdir {s.workdir} does not exist",
            f"create it (mkdir -p {s.workdir}) or point --workdir / KORE_WORKDIR at the right folder",
        )
    if flavor:
        if flavor not in ("dynamics", "salesforce"):
            raise typer.BadParameter(f"flavor must be 'dynamics' or 'salesforce', not {flavor!r}")
        s = dataclasses.replace(s, crm_flavor=flavor)  # type: ignore[arg-type]
    s.ensure_dirs()
    return s


def require_crm_credentials(credentials: dict[str, str]) -> dict[str, str]:
    """The CRM credentials a pull/push needs, or a one-line error naming the missing variables
    (a client id and some secret: the client secret or another credential of the auth method)."""
    missing = [] if credentials.get("client_id") else ["KORE_CRM_CLIENT_ID"]
    if not {"client_secret", "private_key_file", "password"} & set(credentials):
        missing.append("KORE_CRM_CLIENT_SECRET (or KORE_CRM_PRIVATE_KEY_FILE)")
    if missing:
        raise ConfigError(
            "the CRM credentials are not set: " + ", ".join(missing),
            "export them (README 'Configuration'); they are read from the environment only",
        )
    return credentials


def print_summary(summary: dict) -> None:
    """A command's machine-readable summary: one JSON document on one line of stdout (a
    scheduler's log parser or Airflow's XCom reads the last line)."""
    sys.stdout.write(json.dumps(summary, default=str) + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to stdout meanwhile (library prints, child processes) to stderr,
    so the JSON document printed afterwards is the only thing on stdout."""
    saved_fd = None
    try:
        if sys.stdout.fileno() == 1:
            sys.stdout.flush()
            saved_fd = os.dup(1)
            os.dup2(2, 1)
    except (AttributeError, OSError, ValueError):  # not a real file (tests' captured stdout)
        saved_fd = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        if saved_fd is not None:
            sys.stdout.flush()
            os.dup2(saved_fd, 1)
            os.close(saved_fd)


def require_sandbox() -> None:
    """The sandbox is an optional extra: say how to install it instead of a bare ImportError."""
    import importlib.util

    missing = [m for m in ("faker", "cryptography") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"the sandbox extra is not installed (missing {', '.join(missing)})",
            "install it with ./install.sh or pip install -e '.[sandbox]'",
        )


# ------------------------------------------------------------------------------ error handler


class _Debug:
    """Set by ``kore --debug``: user errors then show their traceback too."""

    on = False


def set_debug(on: bool) -> None:
    _Debug.on = on


def _say(text: str) -> None:
    """One line on stderr, never wrapped (rich would wrap it at the terminal width)."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class KoreGroup(TyperGroup):
    """The `kore` command group with the one top-level error handler.

    Every user mistake ends as one line on stderr and an exit code (1 failure, 2 usage or
    configuration), no traceback: click's usage errors (unknown option, missing variable given as
    an option, bad parameter) and any :class:`kore.errors.KoreError` a stage raises (or library
    error that means one, see :func:`kore.errors.as_user_error`). Anything else is a bug and keeps
    its traceback; ``kore --debug`` shows the traceback for user errors too.
    """

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: Any = None,
        complete_var: Any = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        import typer._click.exceptions as click_exc

        set_debug(False)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_exc.NoArgsIsHelpError as exc:  # `kore` alone: the help, as typer shows it
            from typer import rich_utils

            rich_utils.rich_format_error(exc)
            sys.exit(exc.exit_code)
        except click_exc.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "kore"
            _say(f"Error: {where}: {' '.join(exc.format_message().split())} (see '{where} --help')")
            sys.exit(exc.exit_code)
        except click_exc.ClickException as exc:
            _say(f"Error: {' '.join(exc.format_message().split())}")
            sys.exit(exc.exit_code)
        except Exception as exc:
            err = as_user_error(exc)
            if err is None or _Debug.on:
                raise
            _say(f"Error: {err.one_line()}")
            sys.exit(err.exit_code)
        sys.exit(rv if isinstance(rv, int) else 0)


__all__ = ["EXIT_USAGE", "KoreError", "KoreGroup", "console", "print_summary", "settings_for", "stdout_to_stderr"]
