"""The Runs view's `/` filter: free text plus ``status:…`` and ``fn:…`` terms.

``status`` and ``fn`` go to the backend (so a rare status is found among 10,000 runs, not only
in the rows on screen); the free text is matched against what the rows show.
"""

from __future__ import annotations

from dataclasses import dataclass

from executor import Run, RunStatus


@dataclass(frozen=True)
class RunQuery:
    text: str = ""
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

    def matches(self, run: Run, event_name: str | None) -> bool:
        if self.status is not None and run.status != self.status:
            return False
        if self.function_id is not None and run.function_id != self.function_id:
            return False
        if not self.text:
            return True
        haystack = " ".join(filter(None, (run.id, run.function_id, run.status, event_name, run.current_step)))
        return all(word in haystack.lower() for word in self.text.split())

    def describe(self) -> str:
        parts = [f"status:{self.status.lower()}"] if self.status else []
        if self.function_id:
            parts.append(f"fn:{self.function_id}")
        if self.text:
            parts.append(self.text)
        return " ".join(parts)


def _status(value: str) -> str:
    found = [s for s in RunStatus if s.lower().startswith(value.lower())]
    if len(found) != 1:
        raise ValueError(f"unknown status {value!r}; use one of {', '.join(s.lower() for s in RunStatus)}")
    return found[0]
