"""Run one command and record its wall time and peak RSS: ``_measure.py RESULT.json -- CMD ...``.

Why a separate launcher: on Linux a child's ``ru_maxrss`` starts at its parent's RSS at fork time
(the high-water mark survives ``exec``), so a tool forked straight from the benchmark process (which
holds pandas and the ground truth) would be charged the benchmark's memory too. This launcher is a
bare interpreter (a few MB), so the tool it forks is measured on its own. It imports nothing heavy.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    result, sep, *cmd = sys.argv[1:]
    if sep != "--" or not cmd:
        sys.exit("usage: _measure.py RESULT.json -- CMD ...")
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        except OSError as exc:
            print(f"cannot start {cmd[0]}: {exc}", file=sys.stderr, flush=True)
        os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    with open(result, "w", encoding="utf-8") as fh:
        json.dump({"exit_code": code, "seconds": time.perf_counter() - t0, "peak_rss_mb": usage.ru_maxrss / 1024}, fh)
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
