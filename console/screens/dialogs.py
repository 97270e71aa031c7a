"""Small modal dialogs: a yes/no confirmation and the `?` key help of a view."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static

from executor.service.printable import printable


def heading(question: str, detail: str) -> Iterator[Widget]:
    """A dialog's question, and what it is about (dim) when there is more to say."""
    yield Label(question, id="dialog-title")
    if detail:
        yield Static(Text(detail, style="dim"))


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
            yield from heading(self._question, self._detail)
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


class PromptScreen(ModalScreen[str | None]):
    """Asks for one line of text (an app's URL): `enter` answers, `esc` backs out."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]

    def __init__(self, question: str, placeholder: str = "", detail: str = "") -> None:
        super().__init__()
        self._question = printable(question)
        self._placeholder = placeholder
        self._detail = printable(detail, multiline=True)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="confirm"):
            yield from heading(self._question, self._detail)
            yield Input(placeholder=self._placeholder, id="prompt-input")
            yield Label("enter answers · esc cancels", classes="form-note")

    def on_mount(self) -> None:
        self.query_one("#prompt-input", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


#: One section of the help: a heading and its rows of (keys, what they do, binding id).
Section = tuple[str, list[tuple[str, str, str]]]


def help_sections(screen: Screen[object], title: str) -> list[Section]:
    """The keys active on ``screen``: the view's own first (those of its widgets and itself),
    then the ones that work everywhere. Only bindings with an id are listed: they are ours, and
    the id is what ``keys.toml`` remaps."""
    app = screen.app
    rows: dict[bool, dict[str, tuple[list[str], str]]] = {True: {}, False: {}}
    for active in screen.active_bindings.values():
        binding = active.binding
        if not (binding.id and binding.description):
            continue
        keys, _ = rows[active.node is not app].setdefault(binding.id, ([], binding.tooltip or binding.description))
        keys.append(app.get_key_display(binding))
    return [(heading, [(" ".join(keys), description, binding_id)
                       for binding_id, (keys, description) in rows[own].items()])
            for heading, own in ((f"{title}", True), ("everywhere", False)) if rows[own]]


class HelpScreen(ModalScreen[None]):
    """The keys of the view underneath (its own first), and notes on what they do there."""

    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help.close")]

    def __init__(self, title: str, sections: Sequence[Section], notes: str) -> None:
        super().__init__()
        self._title = title
        self.sections = sections
        self._notes = notes

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        table.add_column(style="dim", no_wrap=True)
        for heading, rows in self.sections:
            table.add_row(Text(heading, style="bold underline"), "", "")
            for keys, description, binding_id in rows:
                table.add_row(keys, description, binding_id)
        with Vertical(id="dialog", classes="help"):
            yield Label(f"Keys: {self._title}", id="dialog-title")
            with VerticalScroll():
                yield Static(table)
                if self._notes:
                    yield Static(Text("\n" + self._notes, style="dim"))
            yield Label("esc closes · ctrl+p or : lists every command", classes="form-note")

    def action_close(self) -> None:
        self.dismiss(None)
