"""The floor: a bare in-memory WebSocket relay and a minimal page doing the same 1:1 call.

No rooms table, no storage, no validation, no Lambda: the fastest any signaling design can
be on loopback. `python -m bench.floor` serves it on its own (Ctrl-C stops it).
"""
