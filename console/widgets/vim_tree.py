"""``VimTree``: a ``Tree`` that moves with the same vim keys as the tables (`j` `k` `g` `G`), so
moving works the same in every view; the step tree and the inspector's JSON tree are ones."""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual.binding import Binding, BindingType
from textual.widgets import Tree

T = TypeVar("T")


class VimTree(Tree[T]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="tree.down"),
        Binding("k", "cursor_up", "Up", show=False, id="tree.up"),
        Binding("g", "scroll_home", "First", show=False, id="tree.first"),
        Binding("G", "scroll_end", "Last", show=False, id="tree.last"),
    ]
