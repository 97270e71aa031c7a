"""durable-tui's operator side: the Textual console, the command line, `serve` and the headless runner."""
