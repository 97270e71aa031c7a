"""The documented limits, overridable per executor (tests use small ones)."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_steps: int = 1000                   # steps per run
    max_step_output_bytes: int = 4 * MiB    # one step's JSON output
    max_run_state_bytes: int = 32 * MiB     # all step outputs of a run plus its event
    max_event_bytes: int = 3 * MiB          # one event, as the open-source Inngest server allows
    max_events_per_send: int = 5000         # events in one send/request
