"""``JsonFormScreen``: the dialog behind `e` (send event), `s` (send signal) and `i` (invoke).

A name with suggestions, a JSON editor validated as you type and, for events, recall of earlier
ones (↑/↓ in the name field, or pick from the list). Submitting awaits the backend inside the
dialog, so a refusal (an invalid event, no run waiting for that signal) is shown right there
and the operator fixes it without retyping; success closes the dialog with the result.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from ..widgets.format import compact_json, fit
from ..widgets.json_editor import JsonEditor

R = TypeVar("R")


@dataclass
class FormSpec(Generic[R]):
    """What one dialog asks for and what it does with the answer."""

    title: str
    name_label: str
    placeholder: str
    submit: Callable[[str, dict[str, Any]], Awaitable[R]]
    suggestions: Sequence[str] = ()
    name: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    history: Sequence[tuple[str, dict[str, Any]]] = ()
    hint: str = ""


class HistoryInput(Input):
    """The name field: ↑/↓ step through earlier submissions."""

    BINDINGS = [
        Binding("up", "recall(1)", "Older", show=False, id="form.recall.older"),
        Binding("down", "recall(-1)", "Newer", show=False, id="form.recall.newer"),
    ]

    class Recall(Message):
        def __init__(self, step: int) -> None:
            super().__init__()
            self.step = step

    def action_recall(self, step: int) -> None:
        self.post_message(self.Recall(step))


class JsonFormScreen(ModalScreen[R]):
    VERTICAL_BREAKPOINTS = [(0, "-short"), (34, "-tall")]
    BINDINGS = [
        Binding("ctrl+s", "submit", "Send", id="form.submit"),
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
    ]

    def __init__(self, spec: FormSpec[R]) -> None:
        super().__init__()
        self.spec = spec
        self._recalled = -1

    def compose(self) -> ComposeResult:
        spec = self.spec
        with Vertical(id="dialog"):
            yield Label(spec.title, id="dialog-title")
            with Horizontal(classes="form-row"):
                yield Label(spec.name_label, classes="form-label")
                yield HistoryInput(spec.name, placeholder=spec.placeholder, id="form-name", compact=True,
                                   suggester=SuggestFromList(spec.suggestions, case_sensitive=False))
            yield Static(self._known_text(), id="form-known")
            with Horizontal(classes="form-row"):
                yield Label("data", classes="form-label")
                yield JsonEditor(spec.data, id="form-data")
            if spec.history:
                yield Label("recent (↑/↓ in the name field, or enter here)", classes="form-note")
                yield OptionList(*[Option(self._history_text(name, data), id=str(i))
                                   for i, (name, data) in enumerate(spec.history)], id="form-history")
            yield Static(id="form-error")
            with Horizontal(id="dialog-buttons"):
                yield Button("Send  ctrl+s", variant="primary", id="form-send", compact=True)
                yield Button("Cancel  esc", id="form-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#form-name", Input).focus()

    def _known_text(self) -> Text:
        if self.spec.hint:
            return Text(self.spec.hint, style="dim")
        known = ", ".join(self.spec.suggestions)
        return Text(fit(f"known: {known}", 66) if known else "", style="dim")

    @staticmethod
    def _history_text(name: str, data: dict[str, Any], width: int = 64) -> Text:
        name = fit(name, width // 2)
        return Text.assemble((name, "bold"), "  ", (compact_json(data, width - len(name) - 2), "dim"))

    # ---- recall -------------------------------------------------------------------------

    def on_history_input_recall(self, message: HistoryInput.Recall) -> None:
        if not self.spec.history:
            return
        self._recalled = max(-1, min(len(self.spec.history) - 1, self._recalled + message.step))
        if self._recalled >= 0:
            self._fill(*self.spec.history[self._recalled])
            self.query_one("#form-history", OptionList).highlighted = self._recalled

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._recalled = event.option_index
        self._fill(*self.spec.history[event.option_index])
        self.query_one("#form-name", Input).focus()

    def _fill(self, name: str, data: dict[str, Any]) -> None:
        box = self.query_one("#form-name", Input)
        box.value = name
        box.cursor_position = len(name)
        self.query_one(JsonEditor).load(data)

    # ---- submit -------------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "form-send":
            self.action_submit()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        name = self.query_one("#form-name", Input).value.strip()
        editor = self.query_one(JsonEditor)
        if not name:
            self._say(f"{self.spec.name_label} is required")
            return
        data = editor.value
        if data is None:
            self._say(f"data is not valid: {editor.error}")
            return
        self._send(name, data)

    @work(exclusive=True, group="form-submit", exit_on_error=False)
    async def _send(self, name: str, data: dict[str, Any]) -> None:
        self._say("sending…", error=False)
        try:
            result = await self.spec.submit(name, data)
        except Exception as exc:  # the backend's refusal, shown where it can be fixed
            self._say(str(exc) or type(exc).__name__)
            return
        self.dismiss(result)

    def _say(self, message: str, error: bool = True) -> None:
        self.query_one("#form-error", Static).update(Text(f"✗ {message}" if error else message,
                                                          style="red" if error else "dim"))
