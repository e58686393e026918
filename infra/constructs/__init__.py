"""One construct per concern: table, signaling, site (composed by infra/stack.py)."""

# Puts lambdas/ on sys.path before any construct imports p2pchat (table_spec, protocol).
import infra.config  # noqa: F401
