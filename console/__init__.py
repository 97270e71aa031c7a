"""durable-tui's operator side: the command line, and (next) the Textual console."""
