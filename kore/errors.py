"""User errors: mistakes a person can fix (a wrong option, a missing variable, an unreachable CRM).

Why a small set of types instead of per-command messages: the CLI has one top-level handler
(:mod:`orchestration.errors`) that prints any :class:`KoreError` as one line with the fix and exits
with its code, no traceback (``kore --debug`` shows it). Stages raise these where they detect the
mistake; the handler also recognises a few library errors that mean the same thing
(:func:`as_user_error`: a refused connection, a rejected token).

Exit codes (also documented in docs/scheduling.md): 1 = the run failed (data problems, a remote
system down: retrying later may help); 2 = the command or its configuration is wrong (retrying
will not help until someone fixes it).

Each type also derives from the builtin the code raised before (``ValueError``/``RuntimeError``),
so callers that caught those keep working.
"""

from __future__ import annotations

EXIT_FAILURE = 1
EXIT_USAGE = 2


class KoreError(Exception):
    """A user-facing error: ``str(err)`` says what is wrong, ``fix`` what to do about it."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, fix: str = ""):
        super().__init__(message)
        self.message = message
        self.fix = fix

    def one_line(self) -> str:
        """The message and its fix on one line (newlines in either are folded)."""
        text = self.message + (f" — {self.fix}" if self.fix else "")
        return " ".join(text.split())


class UsageError(KoreError, ValueError):
    """An option or argument the command cannot use (unknown layer, stage, id)."""

    exit_code = EXIT_USAGE


class ConfigError(KoreError, ValueError, RuntimeError):
    """Configuration that cannot work: bad target, missing variables, missing workdir."""

    exit_code = EXIT_USAGE


class CredentialsRejected(KoreError, RuntimeError):
    """A remote system refused the configured credentials (wrong or expired secret)."""

    exit_code = EXIT_USAGE


class Unreachable(KoreError, RuntimeError):
    """A remote system did not answer (down, wrong URL, network): retrying later may help."""


class NotReady(KoreError, RuntimeError):
    """The warehouse is not in a state this stage can run on (e.g. a half-landed export)."""


class RunFailed(KoreError, RuntimeError):
    """The work ran but its outcome is a failure (rows the CRM refused, no check could run)."""


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes/contexts, outermost first (no cycles)."""
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


_AUTH_MARKERS = ("invalid_client", "invalid_grant", "unauthorized_client", "http 401", "http 403")


def as_user_error(exc: BaseException) -> KoreError | None:
    """The user error ``exc`` stands for, or None when it is a bug (then the traceback matters).

    Besides :class:`KoreError` itself: a refused/timed-out connection (requests, urllib3) means
    the remote system is unreachable; a token request the server refused means wrong credentials.
    """
    for e in _chain(exc):
        if isinstance(e, KoreError):
            return e
    for e in _chain(exc):
        if _is_connection_error(e):
            return Unreachable(
                f"cannot reach {_url_of(e) or 'the remote system'} ({type(e).__name__})",
                "check the URL (KORE_CRM_URL / KORE_ARCHTICS_API_URL), the network, and that the service is up",
            )
        text = str(e).lower()
        if "token" in text and any(m in text for m in _AUTH_MARKERS):
            first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
            return CredentialsRejected(
                f"credentials rejected: {first}",
                "check the client id/secret/tenant variables (KORE_CRM_CLIENT_ID, KORE_CRM_CLIENT_SECRET, "
                "KORE_CRM_TENANT or KORE_ARCHTICS_CLIENT_ID/_SECRET)",
            )
    return None


def _is_connection_error(e: BaseException) -> bool:
    try:
        import requests

        if isinstance(e, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
            return True
    except ImportError:  # pragma: no cover - requests is a dependency
        pass
    return isinstance(e, ConnectionRefusedError)


def _url_of(e: BaseException) -> str:
    """The URL of a failed request, without query string (it may carry tokens)."""
    req = getattr(e, "request", None)
    url = str(getattr(req, "url", "") or "")
    return url.split("?", 1)[0]
