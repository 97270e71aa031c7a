"""durable-tui's operator side: the Textual console, the command line, `serve` and the headless runner."""

import os

# Frames at up to 120 a second, not Textual's 60: a keystroke that lands just after a frame waits
# for the next one, and under a stream of runs that wait was most of the keystroke's way to the
# screen. Frames are drawn only when something changed, so an idle console costs nothing more.
# Read when Textual is first imported: the launchers import this package before Textual.
os.environ.setdefault("TEXTUAL_FPS", "120")
