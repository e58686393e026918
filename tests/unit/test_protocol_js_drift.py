"""frontend/js/protocol.js mirrors lambdas/p2pchat/protocol.py: same limits, patterns, action
and message names, error codes, and the same verdict on display names (run under Node)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import typing
from pathlib import Path

import pytest

from p2pchat import protocol

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL_JS = ROOT / "frontend" / "js" / "protocol.js"
SOURCE = PROTOCOL_JS.read_text(encoding="utf-8")


def js_const(name: str) -> int | str:
    match = re.search(rf"^export const {name} = (.+);$", SOURCE, re.MULTILINE)
    assert match, f"protocol.js has no `export const {name}`"
    value = match.group(1).strip()
    if string := re.fullmatch(r"'([^']*)'", value):
        return string.group(1)
    factors = re.fullmatch(r"(\d+)(?:\s*\*\s*(\d+))?", value)
    assert factors, f"{name}: not a number or string literal: {value}"
    return int(factors.group(1)) * int(factors.group(2) or 1)


def js_enum(name: str) -> dict[str, str]:
    match = re.search(rf"export const {name} = Object\.freeze\(\{{(.*?)\}}\);", SOURCE, re.S)
    assert match, f"protocol.js has no frozen `{name}`"
    return dict(re.findall(r"(\w+): '([^']*)'", match.group(1)))


@pytest.mark.parametrize(
    "name",
    ["DEFAULT_MAX_PEERS", "MAX_PEERS_LIMIT", "MAX_SIGNAL_BYTES", "MAX_DATA_DEPTH",
     "MAX_NAME_CHARS", "ROOM_PATTERN", "SESSION_PATTERN", "PEER_ID_PATTERN"],
)  # fmt: skip
def test_limits_and_patterns_match(name: str) -> None:
    assert js_const(name) == getattr(protocol, name)


def test_error_codes_match() -> None:
    assert js_enum("ErrorCode") == {code.name: code.value for code in protocol.ErrorCode}


def test_client_actions_match() -> None:
    assert set(js_enum("Action").values()) == set(protocol.CLIENT_ACTIONS)


def test_server_message_types_match() -> None:
    server_types = {
        model.model_fields["type"].default for model in typing.get_args(protocol.ServerFrame)
    }
    assert set(js_enum("MessageType").values()) == server_types


def test_refused_name_characters_match() -> None:
    match = re.search(r"const REFUSED_NAME_CHAR = /\[(.*?)\]/u;", SOURCE)
    assert match
    assert set(re.findall(r"\\p\{(\w\w)\}", match.group(1))) == protocol.REFUSED_NAME_CATEGORIES
    assert "const ZWJ = '\\u200d';" in SOURCE
    assert {"\u200d"} == protocol.ALLOWED_FORMAT_CHARS


NAMES = [
    "Ana", "  Bo  ", "", "   ", "x" * 40, "x" * 41, "é" * 40, "e\u0301" * 40, "👩‍💻 Dev",
    "<img src=x onerror=alert(1)>", "tab\there", "new\nline", "bidi\u202eevil",
    "zero\u200bwidth", "bom\ufeff", "\ufeffbom", "nul\x00", "\x1cfs\x1f", "\x85nel",
    "\u3000ideo\u3000", "😀" * 40, "😀" * 41, "Ünïcödé", "private\ue000", "para\u2029",
]  # fmt: skip


def python_verdict(name: str) -> str | None:
    try:
        return protocol.clean_name(name)
    except ValueError:
        return None


def test_clean_name_agrees_with_the_server(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "node is needed (make test installs Node.js for the npm tools)"
    module = tmp_path / "protocol.mjs"
    module.write_text(SOURCE, encoding="utf-8")
    script = (
        f"import {{ cleanName }} from {json.dumps(module.as_uri())};\n"
        "const names = JSON.parse(process.argv[1]);\n"
        "console.log(JSON.stringify(names.map((n) => cleanName(n).name ?? null)));\n"
    )
    out = subprocess.run(
        [node, "--input-type=module", "-e", script, json.dumps(NAMES)],
        check=True, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    javascript = json.loads(out.stdout)
    assert dict(zip(NAMES, javascript, strict=True)) == {n: python_verdict(n) for n in NAMES}
