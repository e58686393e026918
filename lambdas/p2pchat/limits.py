"""The protocol's limits and patterns, as plain constants (this module imports nothing).

Kept apart from ``protocol`` (which re-exports them) so that what only needs a limit, such as
the settings read on every route, does not import pydantic. Documented in docs/protocol.md;
``frontend/js/protocol.js`` mirrors them.
"""

DEFAULT_MAX_PEERS = 2  # the seed's 1:1 call
MAX_PEERS_LIMIT = 8  # the data model and protocol hold up to this many members per room
MAX_SIGNAL_BYTES = 16 * 1024  # `data` of a signal, serialized as compact UTF-8 JSON
MAX_NAME_CHARS = 40  # after trimming, in Unicode code points
ROOM_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
SESSION_PATTERN = r"^[A-Za-z0-9_-]{22,64}$"  # at least 128 bits of URL-safe base64
PEER_ID_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"  # what the server hands out (22 characters)
