"""One construct per concern: table, signaling, site (composed by infra/stack.py)."""
