"""The console shows the handler's Powertools JSON as short lines."""

import io
import json
import threading

from local.console import CompactStream, compact


def test_log_record_becomes_one_short_line():
    record = {
        "level": "WARNING",
        "location": "connect:120",
        "message": "refused a connection from a foreign origin",
        "timestamp": "2026-11-25 09:44:10,123+0000",
        "service": "p2pchat",
        "cold_start": False,
        "function_name": "p2pchat-local",
        "origin": "https://evil.example",
    }
    line = compact(json.dumps(record))
    assert line.endswith(
        " handler    WARNING refused a connection from a foreign origin origin=https://evil.example"
    )


def test_emf_metric_becomes_one_short_line():
    blob = {
        "_aws": {
            "Timestamp": 1,
            "CloudWatchMetrics": [
                {
                    "Namespace": "P2PChat",
                    "Dimensions": [["service", "code"]],
                    "Metrics": [{"Name": "Errors", "Unit": "Count"}],
                }
            ],
        },
        "service": "p2pchat",
        "code": "room-full",
        "Errors": [1.0],
    }
    assert compact(json.dumps(blob)).endswith(" metric     Errors=1 service=p2pchat code=room-full")


def test_other_lines_pass_unchanged():
    for line in ("plain text", "{not json", "[1, 2]", '{"a": 1}'):
        assert compact(line) == line


def test_stream_writes_whole_lines_from_many_threads():
    target = io.StringIO()
    stream = CompactStream(target)

    def write(n):
        for i in range(100):
            stream.write(f"thread {n} ")
            stream.write(f"line {i}\n")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = target.getvalue().splitlines()
    expected = {f"thread {n} line {i}" for n in range(4) for i in range(100)}
    assert len(lines) == 400 and set(lines) == expected


def test_metric_blobs_can_be_dropped():
    target = io.StringIO()
    stream = CompactStream(target, metrics=False)
    stream.write('{"_aws":{"CloudWatchMetrics":[]},"Joins":[1.0]}\n')
    stream.write('{"level":"ERROR","message":"boom"}\n')
    assert target.getvalue().endswith(" handler    ERROR boom\n")
    assert "Joins" not in target.getvalue()
