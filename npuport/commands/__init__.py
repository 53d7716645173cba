"""One module per command: plain functions that return result objects; npuport/cli/ only wires them."""
