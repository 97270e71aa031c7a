"""The command palette (`ctrl+p` or `:`): every action and view that works where the operator
is, found by typing part of its name, each with its key.

Built from the bindings themselves (those with a ``tooltip``, which is the palette's wording), so
the palette, the `?` help and a remapped key can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode
from textual.screen import Screen


@dataclass(frozen=True)
class Entry:
    title: str
    key: str
    binding_id: str
    run: Callable[[], object]


def entries(screen: Screen[object]) -> list[Entry]:
    """What can be done on ``screen``: its own actions first, then the app-wide ones (views last
    among those, in key order), each once, under the key that triggers it now."""
    app = screen.app
    seen: dict[str, tuple[DOMNode, Binding, list[str]]] = {}
    for active in screen.active_bindings.values():
        binding = active.binding
        if not (binding.tooltip and binding.id and active.enabled):
            continue
        known = seen.setdefault(binding.id, (active.node, binding, []))
        known[2].append(app.get_key_display(binding))
    own = [v for v in seen.values() if v[0] is not app]
    shared = [v for v in seen.values() if v[0] is app]
    shared.sort(key=lambda v: v[1].id.startswith("view."))
    return [Entry(binding.tooltip, " ".join(keys), binding.id or "", partial(app.run_action, binding.action, node))
            for node, binding, keys in own + shared]


class ConsoleCommands(Provider):
    """Textual's command palette provider for the console."""

    def _entries(self) -> Iterator[Entry]:
        yield from entries(self.screen)

    async def discover(self) -> Hits:
        for entry in self._entries():
            yield DiscoveryHit(entry.title, entry.run, help=f"key {entry.key}")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for entry in self._entries():
            score = matcher.match(entry.title)
            if score > 0:
                yield Hit(score, matcher.highlight(entry.title), entry.run, text=entry.title, help=f"key {entry.key}")
