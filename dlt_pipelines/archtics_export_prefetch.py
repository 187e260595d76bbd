"""Parse the export's part files in a background thread, ahead of dlt's extract and load.

Why: DuckDB loads a group's parquet files on about one core, and the parse (gzip, numpy record
boundaries, pyarrow, the DuckDB checks) runs on about one core too; done one after the other they
leave a core idle most of the time. A thread parses the files in landing order into a small
bounded queue (memory stays bounded: at most ``max_blocks`` parsed blocks wait) while the main
thread writes and loads the previous blocks; the heavy parts of both release the GIL.

Nothing about the guarantees changes: the thread only reads. A block is landed only when dlt's
extract consumes it, in the same load package as before, and a :class:`FileRefused` raised for a
file is re-raised when the extract reaches that file, as the synchronous reader does. A part the
extract asks for again (its group is re-extracted after a refusal) is read again synchronously;
blocks of parts the extract never asks for are dropped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from dlt_pipelines.archtics_common import ReadAhead, StageTimes
from dlt_pipelines.archtics_export_reader import CHUNK_BYTES, Parsed, PartFile, read_part

_END = object()  # the last item of a part that was read without error


class Prefetcher:
    """Parsed blocks of ``parts``, in order, produced by a background thread (a :class:`ReadAhead`)."""

    def __init__(
        self,
        export_dir: Path,
        parts: list[PartFile],
        block: int = CHUNK_BYTES,
        max_blocks: int = 4,
        times: StageTimes | None = None,
    ):
        self.export_dir = export_dir
        self.block = block
        self.times = times if times is not None else StageTimes()  # the consumer's (main thread's)
        self._parse_times = StageTimes()  # the thread's; added to ``times`` by close()
        self._parts = list(parts)
        self._index = {p.path: i for i, p in enumerate(self._parts)}
        self._started = -1  # index of the last part taken from the queue
        # close() waits for the block being parsed, however long it takes (its connection is closed then)
        self._stream = ReadAhead(self._parsed(), max_blocks, "export-prefetch", wait=math.inf)

    def _parsed(self) -> Iterator[tuple]:
        """(part path, parsed block), then (part path, ``_END`` or the error reading it raised), for
        every part in order; runs in the thread, with a DuckDB connection of its own."""
        con = duckdb.connect(config={"threads": 2})
        try:
            for part in self._parts:
                t0 = time.perf_counter()
                try:
                    for parsed in read_part(self.export_dir, part, con, self.block):
                        self._parse_times.add("parse", time.perf_counter() - t0)
                        yield part.path, parsed
                        t0 = time.perf_counter()
                    item: object = _END
                except Exception as exc:  # FileRefused and any reader error: raised in the consumer
                    item = exc
                self._parse_times.add("parse", time.perf_counter() - t0)
                yield part.path, item
        finally:
            con.close()

    def blocks(self, part: PartFile, con: duckdb.DuckDBPyConnection) -> Iterator[Parsed]:
        """The parsed blocks of ``part``; raises what reading it raised (after its last block)."""
        idx = self._index.get(part.path, -1)
        if idx <= self._started:  # asked again (a re-extract) or unknown: read it here
            yield from self.times.iterate("parse_sync", read_part(self.export_dir, part, con, self.block))
            return
        self._started = idx
        while True:
            t0 = time.perf_counter()
            path, item = next(self._stream, (None, None))
            self.times.add("parse_wait", time.perf_counter() - t0)
            if path is None:
                raise RuntimeError("the export's parse thread ended before the extract had all parts")
            if path != part.path:
                continue  # a part whose extract was abandoned or never asked for
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop the thread, drop what it parsed ahead, add its parse seconds to ``times``."""
        self._stream.close()
        for step, seconds in self._parse_times.items():
            self.times.add(step, seconds)
        self._parse_times.clear()

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
