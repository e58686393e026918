"""Cheap checks of bench/flood.py's pure parts (no stack, no timing assertions)."""

from __future__ import annotations

import json
import math

from bench import flood
from p2pchat.protocol import parse_client_frame
from p2pchat.rooms import new_peer_id

MACHINE = {"date": "d", "cpu": "c", "cores": 2, "python": "3.11", "load_average_1_5_15": [0]}


def test_flood_frames_are_valid_signals_and_pings_in_turn():
    peer = new_peer_id()
    frames = flood.flood_frames(5, peer)
    assert len(frames) == 5
    kinds = [json.loads(f)["action"] for f in frames]
    assert kinds == ["signal", "ping", "signal", "ping", "signal"]
    for frame in frames:
        assert len(frame.encode()) < 32 * 1024
        parse_client_frame(frame, binary=False)  # the function would accept each one
    assert json.loads(frames[0])["to"] == peer


def test_ping_clock_answers_the_oldest_ping_first():
    clock = flood.PingClock()
    for at in (0.0, 0.25, 0.5):
        clock.ping(at)
    clock.pong(0.01)
    clock.pong(1.25)
    assert clock.latencies_ms == [10.0, 1000.0]
    assert clock.waiting == 1
    clock.pong(0.6)
    clock.pong(9.0)  # nobody waits for it: ignored
    assert len(clock.latencies_ms) == 3 and clock.waiting == 0


def test_summary_and_table():
    assert flood.summary([1.0, 2.0, 3.0], lost=2) == {
        "n": 3, "p50_ms": 2.0, "p99_ms": 2.98, "max_ms": 3.0, "lost": 2,
    }  # fmt: skip
    assert math.isnan(flood.summary([])["p50_ms"])
    phase = {**flood.summary([5.0, 7.0]), "handshakes": flood.summary([4.0])}
    result = {
        "command": "python -m bench.flood",
        "machine": MACHINE,
        "stack": "this checkout",
        "pingers": 5,
        "rate": 4,
        "seconds": 10,
        "flood": 5000,
        "connects": 200,
        "phases": {
            "quiet": {**phase, "attack": {}},
            "flood": {
                **phase,
                "n": 2,
                "p99_ms": 14_100.0,
                "attack": {
                    "frames": 5000,
                    "send_s": 0.02,
                    "replies": {"pong": 24, "rate-limited": 1},
                    "peer_signals": 25,
                    "gateway_dropped": 4932,
                },
            },
            "connects": {
                **phase,
                "attack": {"asked": 200, "opened": 200, **flood.summary([100.0, 150.0])},
            },
        },
    }
    table = flood.render(result)
    assert "| one connection floods 5000 frames | 2 | 6 ms | 14.1 s |" in table
    assert "24 pong, 1 rate-limited" in table and "4932 frames dropped" in table
    assert flood.headline(result).startswith("another room's ping p50/p99: quiet 6/7 ms")
