"""A dbt process that serves several invocations: the child ``dbt_build.session`` keeps warm.

Run as a script (``python dbt_worker.py``) with the project's environment; it reads one JSON request a
line on stdin (``{"args": [...], "project_hash": "..."}``), runs ``dbt <args>`` through dbt's
programmatic ``dbtRunner``, streams dbt's output to stdout and ends each answer with one line that
starts with ``END`` followed by ``{"ok": bool}``.

Why: a ``dbt build`` subprocess spends most of a routine build's time before its first node -- Python
and dbt imports, the adapter, reading the partial-parse file and writing a 3 MB manifest -- and a
routine run starts two (the pre- and post-dedup phases). This process pays that once: it parses the
project once per project hash and hands the parsed manifest to every later invocation
(``dbtRunner(manifest=...)``, dbt's documented way to reuse a parse). Invocations that pass ``--vars``
parse for themselves, since vars can change what the project compiles to.

It holds nothing between invocations: it closes the warehouse file dbt-duckdb opened (dbt leaves an
invocation's last connections open), so other processes (the dedup step) can write it in between. It exits when its stdin
closes, i.e. when the process that started it ends, however it ends.
"""

from __future__ import annotations

import json
import sys
import traceback

END = "\x1eEND"  # record separator + marker: cannot start a line of dbt's output


def _track_duckdb_environments() -> list:
    """Record every warehouse environment dbt-duckdb opens, so each invocation can close them: dbt
    leaves the last connections of an invocation open, and an open DuckDB file is locked against the
    other processes (the dedup step writes the warehouse between the two build phases)."""
    opened: list = []
    try:
        from dbt.adapters.duckdb import environments
    except ImportError:  # another adapter: nothing held between invocations
        return opened
    create = environments.create

    def tracking_create(*args: object, **kwargs: object) -> object:
        env = create(*args, **kwargs)
        opened.append(env)
        return env

    environments.create = tracking_create
    return opened


def _release(opened: list) -> None:
    for env in opened:
        env.close()  # reopened on the next invocation's first connection


def _invoke_parsed(runner: object, args: list[str], base: list[str], run_results: str) -> bool:
    """Run one command over the parsed manifest. ``--no-write-json``: dbt would otherwise rewrite the
    3 MB manifest.json after every build (2-3 s here) although the parse already wrote the same
    project's; the run results, which the caller reads, are written here instead (and a failed
    invocation leaves none behind rather than the previous one's)."""
    from pathlib import Path

    Path(run_results).unlink(missing_ok=True)
    res = runner.invoke([*args, "--no-write-json", *base])  # type: ignore[attr-defined]
    if hasattr(res.result, "write"):
        res.result.write(run_results)
    return bool(res.success)


def main() -> None:
    from dbt.cli.main import dbtRunner

    opened = _track_duckdb_environments()
    manifest, manifest_hash = None, None
    for line in sys.stdin:
        request = json.loads(line)
        args, base = request["args"], request["base"]
        ok = False
        try:
            if "--vars" in args:
                ok = dbtRunner().invoke([*args, *base]).success
            else:
                is_parse = args[:1] == ["parse"]
                if is_parse or manifest is None or manifest_hash != request["project_hash"]:
                    # a parse writes manifest.json (what a caller asking for ``parse`` wants) and is kept
                    parsed = dbtRunner().invoke([*(args if is_parse else ["parse"]), *base])
                    manifest = parsed.result if parsed.success else None
                    manifest_hash = request["project_hash"] if parsed.success else None
                    ok = parsed.success
                    if parsed.exception is not None:  # e.g. arguments dbt refused: say so, not an empty answer
                        print(f"dbt parse failed: {parsed.exception}")
                if manifest is not None and not is_parse:
                    ok = _invoke_parsed(dbtRunner(manifest=manifest), args, base, request["run_results"])
        except Exception:  # noqa: BLE001 - reported to the parent as a failed invocation, with the trace
            traceback.print_exc(file=sys.stdout)
            manifest, manifest_hash = None, None
        _release(opened)
        sys.stdout.write(f"\n{END}{json.dumps({'ok': bool(ok)})}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
