"""Small modal dialogs: a yes/no confirmation and the `?` key help of a view."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from executor.service.printable import printable


class ConfirmScreen(ModalScreen[bool]):
    """Asks before a destructive action; `y`/`enter` confirm, `n`/`esc` back out."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str, detail: str = "") -> None:
        super().__init__()
        self._question = printable(question)
        self._detail = printable(detail, multiline=True)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="confirm"):
            yield Label(self._question, id="dialog-title")
            if self._detail:
                yield Static(Text(self._detail, style="dim"))
            with Horizontal(id="dialog-buttons"):
                yield Button("Yes  y", variant="error", id="confirm-yes", compact=True)
                yield Button("No  n", id="confirm-no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#confirm-yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class HelpScreen(ModalScreen[None]):
    """The keys of the view underneath, and notes on what they do there."""

    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help.close")]

    def __init__(self, title: str, keys: Sequence[tuple[str, str]], notes: str) -> None:
        super().__init__()
        self._title = title
        self._keys = keys
        self._notes = notes

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for key, description in self._keys:
            table.add_row(key, description)
        with Vertical(id="dialog", classes="help"):
            yield Label(f"Keys: {self._title}", id="dialog-title")
            with VerticalScroll():
                yield Static(table)
                if self._notes:
                    yield Static(Text("\n" + self._notes, style="dim"))
            yield Label("esc closes", classes="form-note")

    def action_close(self) -> None:
        self.dismiss(None)
