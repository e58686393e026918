"""A minimal TURN client over UDP (RFC 5766 Allocate and Refresh with long-term credentials),
so a test can ask the TURN server itself whether credentials are good: coturn answers 200 or
401, whatever our own code believes.

    with TurnClient(("127.0.0.1", port)) as client:
        client.allocate(username, credential)   # 200, or 401 / 438...: the STUN status
        client.refresh(lifetime=600)            # the same credentials, checked again
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import socket
import struct

MAGIC = 0x2112A442
ALLOCATE, REFRESH = 0x0003, 0x0004
SUCCESS, ERROR = 0x0100, 0x0110
USERNAME, MESSAGE_INTEGRITY, ERROR_CODE = 0x0006, 0x0008, 0x0009
LIFETIME, REALM, NONCE, REQUESTED_TRANSPORT = 0x000D, 0x0014, 0x0015, 0x0019
UDP = 17


def _attribute(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)


def _attributes(body: bytes) -> dict[int, bytes]:
    found, at = {}, 0
    while at + 4 <= len(body):
        kind, size = struct.unpack_from("!HH", body, at)
        found.setdefault(kind, body[at + 4 : at + 4 + size])
        at += 4 + size + (-size % 4)
    return found


class TurnClient:
    def __init__(self, server: tuple[str, int], timeout: float = 2.0) -> None:
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)
        self.realm = self.nonce = b""
        self.key = b""
        self.username = b""

    def allocate(self, username: str, credential: str) -> int:
        """Allocate a UDP relay: the challenge (401 with realm and nonce), then the request
        signed with these credentials; the final STUN status (200 on success)."""
        transport = struct.pack("!B3x", UDP)
        status, attrs = self._send(ALLOCATE, [(REQUESTED_TRANSPORT, transport)], sign=False)
        if status != 401:
            return status
        self.realm, self.nonce = attrs[REALM], attrs[NONCE]
        self.username = username.encode()
        self.key = hashlib.md5(self.username + b":" + self.realm + b":" + credential.encode())
        self.key = self.key.digest()
        return self._signed(ALLOCATE, [(REQUESTED_TRANSPORT, transport)])

    def refresh(self, lifetime: int = 600) -> int:
        """Refresh the allocation with the credentials it was made with (0 deletes it)."""
        return self._signed(REFRESH, [(LIFETIME, struct.pack("!I", lifetime))])

    def _signed(self, method: int, attrs: list[tuple[int, bytes]]) -> int:
        status, reply = self._send(method, attrs, sign=True)
        if status == 438 and NONCE in reply:  # stale nonce: once more with the new one
            self.nonce = reply[NONCE]
            status, reply = self._send(method, attrs, sign=True)
        return status

    def _send(self, method: int, attrs: list[tuple[int, bytes]], sign: bool) -> tuple[int, dict]:
        transaction = secrets.token_bytes(12)
        if sign:
            attrs = [*attrs, (USERNAME, self.username), (REALM, self.realm), (NONCE, self.nonce)]
        body = b"".join(_attribute(kind, value) for kind, value in attrs)
        if sign:  # MESSAGE-INTEGRITY over the message with its length already counting it
            header = struct.pack("!HHI", method, len(body) + 24, MAGIC) + transaction
            digest = hmac.new(self.key, header + body, hashlib.sha1).digest()
            body += _attribute(MESSAGE_INTEGRITY, digest)
        self.sock.sendto(struct.pack("!HHI", method, len(body), MAGIC) + transaction + body,
                         self.server)  # fmt: skip
        while True:
            reply = self.sock.recv(4096)
            if reply[8:20] == transaction:
                break
        kind = struct.unpack_from("!H", reply)[0]
        found = _attributes(reply[20:])
        if kind == method | SUCCESS:
            return 200, found
        assert kind == method | ERROR, hex(kind)
        code = found[ERROR_CODE]
        return code[2] * 100 + code[3], found

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> TurnClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
