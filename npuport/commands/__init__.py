"""One module per command: plain functions that return result objects; cli.py only wires them."""
