"""``JsonTree``: sections of JSON values and text, folded, searchable and copyable, for the inspector.

Each section (input, output, error, attempts…) is a top-level node. A value's children are made
when it is first unfolded, so a 10 MB output costs nothing until it is opened; containers with
more than ``FOLD_ABOVE`` entries, and anything deeper than ``OPEN_DEPTH``, start folded. Strings
longer than a line fold too (their lines are the children). `/` searches every section, folded
or not: the matches are found in the values themselves, then the path to each is unfolded as the
operator steps through them (``n``/``N``). `y` copies the value under the cursor (as JSON).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from .vim_tree import VimTree
from .format import printable

#: A container with more entries than this starts folded.
FOLD_ABOVE = 20
#: Levels unfolded at first (a section is level 0).
OPEN_DEPTH = 3
#: A string longer than this (or with a newline) folds, its lines as children.
LONG_STRING = 100
#: Children shown under one node before "… N more" (unfold it to see them all).
PAGE = 500
#: Values visited by one search at most.
SEARCH_LIMIT = 200_000

Path = tuple[Any, ...]


@dataclass(frozen=True)
class Entry:
    """A node: the section it is in, where in the section's value, and the value there."""

    section: str
    path: Path
    value: Any
    key: str | None = None          # the label's key part ("data", "[3]")
    text: bool = False              # a line of text (a traceback line, a long string's line)
    more: int = 0                   # "… N more" placeholder: how many were left out


def preview(value: Any, width: int = 80) -> str:
    if isinstance(value, dict):
        return f"{{…}} {len(value)} key{'s' if len(value) != 1 else ''}" if value else "{}"
    if isinstance(value, list):
        return f"[…] {len(value)} item{'s' if len(value) != 1 else ''}" if value else "[]"
    if isinstance(value, str) and is_long(value):
        first = value.strip().splitlines()[0] if value.strip() else ""
        return f"{json_literal(first[:width])}… ({len(value):,} chars, {value.count(chr(10)) + 1} lines)"
    return json_literal(value)


def json_literal(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return repr(value)


def is_long(value: Any) -> bool:
    return isinstance(value, str) and (len(value) > LONG_STRING or "\n" in value.strip())


def children_of(value: Any) -> list[tuple[str, Any, Any]]:
    """(label key, path step, value) of each child of a value."""
    if isinstance(value, dict):
        return [(str(k), k, v) for k, v in value.items()]
    if isinstance(value, list):
        return [(f"[{i}]", i, v) for i, v in enumerate(value)]
    if is_long(value):
        return [("", i, line) for i, line in enumerate(value.splitlines())]
    return []


def expandable(entry: Entry) -> bool:
    return not entry.text and not entry.more and bool(children_of(entry.value))


def walk(section: str, value: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Every (path, searchable text) under ``value``, in display order."""
    stack: list[tuple[Path, Any, str]] = [(path, value, "")]
    while stack:
        here, node, key = stack.pop()
        if isinstance(node, (dict, list)) or is_long(node):
            yield here, key
            kids = children_of(node)
            stack.extend((here + (step,), child, label) for label, step, child in reversed(kids))
        else:
            yield here, f"{key} {node if isinstance(node, str) else json_literal(node)}"


class JsonTree(VimTree[Entry]):
    """Sections of values; see the module docstring."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("inspector", id=id)
        self.show_root = False
        self.auto_expand = False
        self._by_path: dict[tuple[str, Path], TreeNode[Entry]] = {}
        self._filled: set[int] = set()
        self._values: dict[str, Any] = {}
        self.query_text = ""
        self.matches: list[tuple[str, Path]] = []
        self.match_index = -1

    # ---- building -----------------------------------------------------------------------

    def clear_sections(self) -> None:
        self.clear()
        self._by_path.clear()
        self._filled.clear()
        self._values.clear()

    def add_section(self, title: str, value: Any, *, open_depth: int = OPEN_DEPTH) -> TreeNode[Entry]:
        """A section holding a JSON value (or a long text: its lines)."""
        self._values[title] = value
        entry = Entry(title, (), value, title)
        label = Text(title, style="bold underline")
        if not expandable(entry):
            label.append(f"  {printable(preview(value))}", style="not underline")
        node = self.root.add(label, entry, allow_expand=expandable(entry))
        self._by_path[(title, ())] = node
        self._open(node, open_depth)
        return node

    def add_heading(self, title: str) -> TreeNode[Entry]:
        """A section holding only the nodes added under it (``add_lines``)."""
        node = self.root.add(Text(title, style="bold underline"), Entry(title, (), None, title), expand=True)
        self._by_path[(title, ())] = node
        self._filled.add(id(node))
        return node

    def add_lines(self, parent: TreeNode[Entry], title: str, lines: Sequence[str], *, section: str,
                  expand: bool = True, style: str = "") -> TreeNode[Entry]:
        """A node of text lines under ``parent`` (a traceback's frames, say)."""
        path = (*parent.data.path, title) if parent.data is not None else (title,)
        node = parent.add(Text(title, style="bold"), Entry(section, path, "\n".join(lines), title),
                          allow_expand=bool(lines), expand=expand)
        self._filled.add(id(node))
        for i, line in enumerate(lines):
            node.add_leaf(Text(printable(line), style=style), Entry(section, (*path, i), line, text=True))
        return node

    def _open(self, node: TreeNode[Entry], depth: int) -> None:
        entry = node.data
        if entry is None or not expandable(entry):
            return
        kids = children_of(entry.value)
        if depth <= 0 or (len(kids) > FOLD_ABOVE and entry.path) or is_long(entry.value):
            return
        self._fill(node)
        node.expand()
        for child in node.children:
            self._open(child, depth - 1)

    def _fill(self, node: TreeNode[Entry]) -> None:
        """Make a node's children (once)."""
        if id(node) in self._filled or node.data is None:
            return
        self._filled.add(id(node))
        entry = node.data
        kids = children_of(entry.value)
        for label, step, value in kids[:PAGE]:
            child = Entry(entry.section, (*entry.path, step), value, label, text=is_long(entry.value))
            made = node.add(self.label_for(child), child, allow_expand=expandable(child))
            self._by_path[(entry.section, child.path)] = made
        if len(kids) > PAGE:
            node.add_leaf(Text(f"… {len(kids) - PAGE:,} more (y copies all of {entry.key or 'it'})", style="dim"),
                          Entry(entry.section, (*entry.path, "…"), None, more=len(kids) - PAGE))

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[Entry]) -> None:
        event.stop()
        self._fill(event.node)

    def label_for(self, entry: Entry) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        if entry.text:
            text.append(printable(str(entry.value)))
        else:
            if entry.key:
                text.append(printable(entry.key), style="bold")
                text.append(": ")
            text.append(printable(preview(entry.value)),
                        style="dim" if isinstance(entry.value, (dict, list)) or is_long(entry.value) else "")
        if self.query_text:
            text.highlight_words([self.query_text], style="reverse", case_sensitive=False)
        return text

    # ---- search -------------------------------------------------------------------------

    def search(self, query: str) -> int:
        """Find ``query`` (case-insensitive) in every section; returns how many matches."""
        self.query_text = query.strip()
        self.matches, self.match_index = [], -1
        needle = self.query_text.lower()
        if needle:
            seen = 0
            for section, value in self._values.items():
                for path, haystack in walk(section, value):
                    seen += 1
                    if needle in haystack.lower():
                        self.matches.append((section, path))
                    if seen > SEARCH_LIMIT:
                        break
        self._relabel_all()
        return len(self.matches)

    def _relabel_all(self) -> None:
        for node in list(self._by_path.values()):
            if node.data is not None and node.data.path:
                node.set_label(self.label_for(node.data))

    def step_match(self, direction: int) -> tuple[int, int]:
        """Go to the next (1) or previous (-1) match, unfolding the way to it; (index, total)."""
        if not self.matches:
            return -1, 0
        self.match_index = (self.match_index + direction) % len(self.matches)
        section, path = self.matches[self.match_index]
        node = self.reveal(section, path)
        if node is not None:
            self.move_cursor(node)
            self.scroll_to_node(node, animate=False)
        return self.match_index, len(self.matches)

    def reveal(self, section: str, path: Path) -> TreeNode[Entry] | None:
        """Make the node at ``path`` exist and unfold every node above it."""
        node = self._by_path.get((section, ()))
        for depth in range(1, len(path) + 1):
            if node is None:
                return None
            self._fill(node)
            node.expand()
            node = self._by_path.get((section, path[:depth]))
        _ = self.last_line      # lay the lines out now: a node just made has no line to move to yet
        return node

    # ---- copying ------------------------------------------------------------------------

    def selected_text(self) -> tuple[str, str] | None:
        """(what it is, the text to copy) for the node under the cursor."""
        node = self.cursor_node
        entry = node.data if node is not None else None
        if entry is None or entry.more:
            return None
        if entry.text or isinstance(entry.value, str):
            return (entry.key or "line"), str(entry.value)
        name = entry.key or entry.section
        try:
            return name, orjson.dumps(entry.value, option=orjson.OPT_INDENT_2).decode()
        except TypeError:
            return name, repr(entry.value)
