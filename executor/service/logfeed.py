"""A server's log lines on its change feed, so a console attached over ``/v1/stream`` sees them too.

``durable-tui serve`` logs to stderr; a console attached from another terminal would otherwise see
none of it — not what the functions log with ``ctx.logger``, not the engine's warnings about a run.
``forward_logs`` adds a handler that publishes each record of the ``durable_tui`` loggers as a
``log`` change shaped like the console's log lines (``ts``, ``level``, ``source``, ``message``), with
the run, function and step a record is tagged with. Hot reload publishes its own log changes, so
its logger is left out here.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from executor.executor import Executor
from executor.feed import Change
from executor.records import ChangeKind

ROOT = "durable_tui"
#: Loggers whose lines reach the feed another way.
SKIP = ("durable_tui.reload",)


class FeedLogHandler(logging.Handler):
    def __init__(self, ex: Executor, level: int = logging.INFO) -> None:
        super().__init__(level)
        self._ex = ex
        self._seq = itertools.count(1)

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(SKIP):
            return
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                message += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
            run_id = getattr(record, "run_id", None)
            data = {"ts": self._ex.clock.now_ms(), "level": record.levelname,
                    "source": record.name.removeprefix(f"{ROOT}."), "message": message, "run_id": run_id,
                    "function_id": getattr(record, "function_id", None), "step_id": getattr(record, "step_id", None)}
            self._ex.feed.publish([Change(ChangeKind.LOG, f"server-{next(self._seq)}", run_id, data=data)])
        except Exception:
            self.handleError(record)


@contextmanager
def forward_logs(ex: Executor) -> Iterator[FeedLogHandler]:
    """Publish the ``durable_tui`` log records (INFO and above) on ``ex``'s feed while inside."""
    handler = FeedLogHandler(ex)
    logger = logging.getLogger(ROOT)
    level = logger.level
    if logger.getEffectiveLevel() > handler.level:
        logger.setLevel(handler.level)      # INFO lines are what a console shows (runs' own logs)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
