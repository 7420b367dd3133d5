"""The click command-line application (thin commands over the library)."""
