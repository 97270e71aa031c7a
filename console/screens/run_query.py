"""The `/` filters: free text for every list (``TextQuery``), plus ``status:…`` and ``fn:…`` terms
for the Runs view (``RunQuery``).

``status`` and ``fn`` go to the backend (so a rare status is found among 10,000 runs, not only
in the rows on screen); the free text is matched against what the console has loaded: for a
run that is its ids, function, status and step, its output and error, and its event's name and
(while a search is on) its data.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from executor import Run, RunStatus


@dataclass(frozen=True)
class TextQuery:
    """Words that must all appear (case-insensitively) in what a row is searched by."""

    text: str = ""

    @classmethod
    def parse(cls, raw: str) -> "TextQuery":
        return cls(" ".join(raw.split()).lower())

    @property
    def active(self) -> bool:
        return bool(self.text)

    def matches_text(self, haystack: str) -> bool:
        lowered = haystack.lower()
        return all(word in lowered for word in self.text.split())

    def describe(self) -> str:
        return self.text


@dataclass(frozen=True)
class RunQuery(TextQuery):
    status: str | None = None
    function_id: str | None = None

    @classmethod
    def parse(cls, raw: str) -> "RunQuery":
        """``status:failed fn:send-email welcome`` → status Failed, function send-email, text "welcome".
        A status may be abbreviated (``status:fail``); an unknown one is a ``ValueError``."""
        status = function_id = None
        words = []
        for word in raw.split():
            key, sep, value = word.partition(":")
            if sep and key.lower() == "status" and value:
                status = _status(value)
            elif sep and key.lower() in ("fn", "function") and value:
                function_id = value
            else:
                words.append(word)
        return cls(" ".join(words).lower(), status, function_id)

    @property
    def active(self) -> bool:
        return bool(self.text or self.status or self.function_id)

    def matches(self, run: Run, *also: str) -> bool:
        """``also``: more text the run is found by (its event's name and data)."""
        if self.status is not None and run.status != self.status:
            return False
        if self.function_id is not None and run.function_id != self.function_id:
            return False
        return not self.text or self.matches_text(" ".join(filter(None, (run_text(run), *also))))

    def describe(self) -> str:
        parts = [f"status:{self.status.lower()}"] if self.status else []
        if self.function_id:
            parts.append(f"fn:{self.function_id}")
        if self.text:
            parts.append(self.text)
        return " ".join(parts)


def run_text(run: Run) -> str:
    """What free text finds a run by, from the run itself."""
    parts = [run.id, run.function_id, run.status, run.current_step or ""]
    if run.output is not None:
        parts.append(json_text(run.output))
    if run.error:
        parts.extend(str(value) for value in run.error.values())
    return " ".join(parts)


def json_text(value: object) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return repr(value)


def _status(value: str) -> str:
    found = [s for s in RunStatus if s.lower().startswith(value.lower())]
    if len(found) != 1:
        raise ValueError(f"unknown status {value!r}; use one of {', '.join(s.lower() for s in RunStatus)}")
    return found[0]
