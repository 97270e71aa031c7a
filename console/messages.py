"""``Dirty``: what changed since a view last looked; ``Link``: whether the executor is reachable.

Live changes are not forwarded one by one. The app folds every batch from the backend into a
``Dirty`` (sets of ids, flags), hands the fold to the views at most a few times a second, and
each view folds it into its own until it is visible and can refresh — so 50 runs a second
cost a handful of small refreshes, and a hidden view costs nothing until it is shown.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from executor import Change

from .backend import Kind

#: More changed runs than this and a view reloads its window instead of patching rows.
RELOAD_ABOVE = 2000


@dataclass
class Dirty:
    runs: set[str] = field(default_factory=set)
    step_runs: set[str] = field(default_factory=set)
    events: set[str] = field(default_factory=set)
    functions: bool = False
    apps: bool = False
    waits: bool = False
    logs: bool = False
    reload: bool = False

    def add(self, changes: Iterable[Change]) -> None:
        for change in changes:
            match change.kind:
                case "run":
                    self.runs.add(change.id)
                    self.waits = True
                case "step":
                    if change.run_id:
                        self.step_runs.add(change.run_id)
                    self.waits = True
                case "event":
                    self.events.add(change.id)
                case "wait":
                    self.waits = True
                    if change.run_id:
                        self.step_runs.add(change.run_id)
                case "function":
                    self.functions = True
                case "app":
                    self.apps = True
                case Kind.LOG:
                    self.logs = True
                case Kind.RELOAD:
                    self.reload = True
        if len(self.runs) > RELOAD_ABOVE:
            self.reload = True
            self.runs.clear()

    def merge(self, other: "Dirty") -> None:
        self.runs |= other.runs
        self.step_runs |= other.step_runs
        self.events |= other.events
        self.functions |= other.functions
        self.apps |= other.apps
        self.waits |= other.waits
        self.logs |= other.logs
        self.reload |= other.reload
        if len(self.runs) > RELOAD_ABOVE:
            self.reload = True
            self.runs.clear()

    def take(self) -> "Dirty":
        """Hand over what is pending and start empty."""
        taken = replace(self)
        self.runs, self.step_runs, self.events = set(), set(), set()
        self.functions = self.apps = self.waits = self.logs = self.reload = False
        return taken

    def __bool__(self) -> bool:
        return bool(self.runs or self.step_runs or self.events or self.functions or self.apps or self.waits
                    or self.logs or self.reload)


@dataclass(frozen=True)
class Link:
    """Whether the console is connected to its executor, and if not, since when and when the
    backend tries again. Views show their data as stale while it is down."""

    connected: bool = True
    since_ms: int | None = None       # when it was lost, on the backend's clock
    retry_at: float | None = None     # time.monotonic() of the next attempt
    error: str = ""

    def retry_in(self) -> int:
        """Whole seconds until the next attempt (0: under way)."""
        return max(0, math.ceil(self.retry_at - time.monotonic())) if self.retry_at is not None else 0
