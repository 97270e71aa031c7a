"""``JsonEditor``: a JSON object editor that says, as you type, whether it is valid and where not."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static, TextArea

from .format import pretty_json


def parse_object(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """(value, None) for a JSON object (empty text is ``{}``), else (None, what is wrong and where)."""
    if not text.strip():
        return {}, None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
    if not isinstance(value, dict):
        return None, f"data must be a JSON object ({{…}}), not {type(value).__name__}"
    return value, None


class JsonEditor(Vertical):
    """A text area plus a status line (glyph and words, not colour alone)."""

    def __init__(self, value: dict[str, Any] | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._initial = pretty_json(value if value is not None else {})

    def compose(self) -> ComposeResult:
        yield TextArea(self._initial, soft_wrap=True, tab_behavior="focus", show_line_numbers=False,
                       classes="json-text")
        yield Static(classes="json-status")

    def on_mount(self) -> None:
        self._validate()

    @property
    def text_area(self) -> TextArea:
        return self.query_one(TextArea)

    @property
    def value(self) -> dict[str, Any] | None:
        return parse_object(self.text_area.text)[0]

    @property
    def error(self) -> str | None:
        return parse_object(self.text_area.text)[1]

    def load(self, value: dict[str, Any]) -> None:
        self.text_area.load_text(pretty_json(value))
        self._validate()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self._validate()

    def _validate(self) -> None:
        error = self.error
        status = self.query_one(".json-status", Static)
        if error is None:
            status.update(Text("✓ valid JSON object", style="green"))
        else:
            status.update(Text(f"✗ {error}", style="red"))
        self.set_class(error is not None, "-invalid")
