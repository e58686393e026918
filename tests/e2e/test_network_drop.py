"""A real network drop: a relay-only call through coturn on loopback, then the relay freezes.

``kill -STOP`` on the turnserver stops every packet of the call (both sides only have relay
candidates, ``iceTransportPolicy: "relay"`` from config.json), with no help from the browser:
ICE really goes ``disconnected`` and, if the relay stays frozen, ``failed``. ``kill -CONT``
brings the relay back.

- a short freeze (until ICE says ``disconnected``): the tile says the connection is unstable,
  and the call recovers by itself on the same RTCPeerConnection, with no Retry;
- a long freeze (until the connection is ``failed``): the tile says "Connection failed" and
  offers Retry. Chromium's ``failed`` is not final (its ICE agent keeps checking), so when the
  relay comes back the call recovers by itself and the tiles follow; after a second freeze,
  Retry pressed while the relay is down restarts ICE (new ICE credentials), which completes
  once the relay is back: video is decoded again on both sides, on the same connections.

The times measured (from the freeze to ``disconnected`` and to ``failed``, from the relay's
return to ``connected``) are printed (``pytest -s``); docs/frontend.md quotes them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from local.coturn import Coturn, CoturnUnavailable, start_coturn
from local.stack import LocalStack, StackFailed, start_local_stack

from .conftest import SELECTED_PAIR_JS, wait_media_rising
from .test_call import create_room, join_by_link, remote_tiles

pytestmark = pytest.mark.browser

# Measured with chromium 156 (docs/frontend.md): "disconnected" 5-6 s after the relay froze,
# "failed" 10 s later (15 s in all), "connected" 0.1-0.3 s after it thawed. The waits below
# are generous bounds, not expectations.
DISCONNECTED_MS = 20_000
FAILED_MS = 60_000
RECOVERED_MS = 20_000


@pytest.fixture(scope="module")
def turn() -> Iterator[Coturn]:
    """coturn on a free loopback port (local.coturn, what ``TURN=1 make run`` starts)."""
    try:
        relay = start_coturn()
    except CoturnUnavailable as error:
        pytest.fail(f"{error} (make test installs coturn)", pytrace=False)
    with relay:
        yield relay


@pytest.fixture(scope="module")
def relay_stack(turn: Coturn, dynamodb_endpoint: str) -> Iterator[LocalStack]:
    """The product with the coturn (over UDP) as its only ICE server and relay-only ICE."""
    try:
        with start_local_stack(
            dynamodb_endpoint=dynamodb_endpoint,
            ice_servers=[{**turn.ice_server(), "urls": turn.urls[0]}],
            ice_transport_policy="relay",
        ) as stack:
            yield stack
    except StackFailed as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture
def frozen_relay_is_thawed(turn: Coturn) -> Iterator[Coturn]:
    """A test that fails while the relay is frozen must not leave it so for the next one."""
    yield turn
    turn.thaw()


# Records every state change of the page's one RTCPeerConnection with its time, so the test
# can wait on states and report how long each took.
WATCH_JS = """() => {
  const pc = [...window.p2pchat.peers.values()][0].pc;
  window.netlog = [];
  const log = (kind, state) => window.netlog.push({kind, state, at: performance.now()});
  pc.addEventListener('iceconnectionstatechange', () => log('ice', pc.iceConnectionState));
  pc.addEventListener('connectionstatechange', () => log('pc', pc.connectionState));
}"""



def now_ms(page: Page) -> float:
    return page.evaluate("performance.now()")


def wait_state(page: Page, state: str, since: float, timeout: int) -> float:
    """Milliseconds from ``since`` (the page's clock, read before the relay was frozen or
    thawed, so no change can precede it) until its connection reached ``state``."""
    try:
        page.wait_for_function(
            "([state, since]) => window.netlog.some((e) => e.kind === 'pc' && e.state === state"
            " && e.at >= since)",
            arg=[state, since],
            timeout=timeout,
        )
    except PlaywrightTimeout:
        log = page.evaluate("window.netlog.map((e) => `${Math.round(e.at)} ${e.kind} ${e.state}`)")
        trace = page.evaluate("(window.p2pchat?.trace ?? []).slice(-30)")
        raise AssertionError(
            f"not {state} within {timeout} ms of {since:.0f}; connection states:\n"
            + "\n".join(log) + "\npage trace:\n" + "\n".join(trace)
        ) from None
    return page.evaluate(
        "([state, since]) => window.netlog.find((e) => e.kind === 'pc' && e.state === state"
        " && e.at >= since).at - since",
        [state, since],
    )


def relay_call(open_page, stack: LocalStack) -> tuple[Page, Page, dict, dict]:
    """Ana and Bo in a call through the relay only; their media rising; the watch installed."""
    ana = open_page("ana")
    link = create_room(ana, stack.http_url, "Ana")
    bo = open_page("bo")
    join_by_link(bo, link, "Bo")
    a0, b0 = wait_media_rising(ana), wait_media_rising(bo)
    for page in (ana, bo):
        pair = page.evaluate(SELECTED_PAIR_JS)
        types = {key: pair[key] for key in ("policy", "local", "remote")}
        assert types == {"policy": "relay", "local": "relay", "remote": "relay"}, pair
        page.evaluate(WATCH_JS)
    return ana, bo, a0, b0


def test_short_drop_recovers_by_itself(open_page, relay_stack, frozen_relay_is_thawed):
    turn = frozen_relay_is_thawed
    ana, bo, a0, b0 = relay_call(open_page, relay_stack)

    frozen = {page: now_ms(page) for page in (ana, bo)}
    turn.freeze()
    lost = {page: wait_state(page, "disconnected", frozen[page], DISCONNECTED_MS)
            for page in (ana, bo)}  # fmt: skip
    for page in (ana, bo):
        tile = remote_tiles(page)
        expect(tile).to_have_attribute("data-status", "reconnecting")
        expect(tile.locator(".tile-status")).to_have_text("Connection unstable, reconnecting…")
        expect(tile.get_by_role("button", name="Retry")).to_be_hidden()

    thawed = {page: now_ms(page) for page in (ana, bo)}
    turn.thaw()
    back = {page: wait_state(page, "connected", thawed[page], RECOVERED_MS) for page in (ana, bo)}
    a1, b1 = wait_media_rising(ana, a0), wait_media_rising(bo, b0)
    assert (a1["epochs"], b1["epochs"]) == (a0["epochs"], b0["epochs"])  # the same connections
    for page in (ana, bo):
        expect(remote_tiles(page)).to_have_attribute("data-status", "connected")
        expect(remote_tiles(page).locator(".tile-status")).to_be_hidden()
        states = [e["state"] for e in page.evaluate("window.netlog") if e["kind"] == "pc"]
        assert "failed" not in states, states
    print(
        f"\nshort drop: disconnected after {seconds(lost, (ana, bo))}; connected again "
        f"{seconds(back, (ana, bo))} after the relay came back (Ana, Bo)"
    )


def tile_connected_without_retry_notice(page: Page) -> None:
    """The tile says connected and "Press Retry" is gone. Checked at once, no wait: the same
    task that marks the tile connected takes the notice away, which otherwise stays 6 s."""
    expect(remote_tiles(page)).to_have_attribute("data-status", "connected")
    assert "Press Retry" not in page.locator("#notices").inner_text()


def freeze_until_failed(turn: Coturn, pages: tuple[Page, ...]) -> tuple[dict, dict]:
    """Freeze the relay until every page's connection is ``failed`` and its tile offers Retry;
    the times (ms from the freeze) to ``disconnected`` and to ``failed``, per page."""
    frozen = {page: now_ms(page) for page in pages}
    turn.freeze()
    lost = {page: wait_state(page, "disconnected", frozen[page], DISCONNECTED_MS)
            for page in pages}  # fmt: skip
    failed = {page: wait_state(page, "failed", frozen[page], FAILED_MS) for page in pages}
    for page in pages:
        tile = remote_tiles(page)
        expect(tile).to_have_attribute("data-status", "failed")
        expect(tile.locator(".tile-status")).to_have_text("Connection failed")
        expect(tile.get_by_role("button", name="Retry")).to_be_visible()
        expect(page.locator("#notices")).to_contain_text("was lost. Press Retry.")
    return lost, failed


def test_long_drop_fails_then_recovers_or_retry_restarts_ice(
    open_page, relay_stack, frozen_relay_is_thawed
):
    turn = frozen_relay_is_thawed
    ana, bo, a0, b0 = relay_call(open_page, relay_stack)
    pages = (ana, bo)

    # 1. Failed, then the relay comes back. Chromium's "failed" is not final: its ICE agent
    # keeps checking the old pairs and the call comes back by itself; the tiles follow.
    lost, failed = freeze_until_failed(turn, pages)
    thawed = {page: now_ms(page) for page in pages}
    turn.thaw()
    healed = {page: wait_state(page, "connected", thawed[page], RECOVERED_MS) for page in pages}
    for page in pages:
        tile_connected_without_retry_notice(page)
    a1, b1 = wait_media_rising(ana, a0), wait_media_rising(bo, b0)
    assert (a1["epochs"], b1["epochs"]) == (a0["epochs"], b0["epochs"])  # the same connections
    for page in pages:
        expect(remote_tiles(page)).to_have_attribute("data-status", "connected")
        expect(remote_tiles(page).get_by_role("button", name="Retry")).to_be_hidden()

    # 2. Failed again, and Ana presses Retry while the relay is still down (the only moment
    # Retry is certain to be on screen): an ICE restart (new ICE credentials) that completes
    # once the relay is back; video is decoded again on both sides, same connections.
    freeze_until_failed(turn, pages)
    old_ufrag = bo.evaluate(REMOTE_UFRAG_JS)
    ana.get_by_role("button", name="Retry").click()
    expect(remote_tiles(ana).get_by_role("button", name="Retry")).to_be_hidden()
    bo.wait_for_function(f"old => ({REMOTE_UFRAG_JS})() !== old", arg=old_ufrag)
    thawed = {page: now_ms(page) for page in pages}
    turn.thaw()
    restarted = {page: wait_state(page, "connected", thawed[page], RECOVERED_MS)
                 for page in pages}  # fmt: skip
    for page in pages:
        tile_connected_without_retry_notice(page)
    a2, b2 = wait_media_rising(ana, a1), wait_media_rising(bo, b1)
    assert (a2["epochs"], b2["epochs"]) == (a0["epochs"], b0["epochs"])
    for page in pages:
        expect(remote_tiles(page)).to_have_attribute("data-status", "connected")
        expect(remote_tiles(page).get_by_role("button", name="Retry")).to_be_hidden()
        pair = page.evaluate(SELECTED_PAIR_JS)
        types = {key: pair[key] for key in ("policy", "local", "remote")}
        assert types == {"policy": "relay", "local": "relay", "remote": "relay"}, pair
    print(
        f"\nlong drop: disconnected after {seconds(lost, pages)}, failed after "
        f"{seconds(failed, pages)}; relay back: connected by itself after "
        f"{seconds(healed, pages)}; Retry while down, relay back: connected after "
        f"{seconds(restarted, pages)} (Ana, Bo)"
    )


def seconds(times: dict, pages: tuple[Page, ...]) -> str:
    return ", ".join(f"{times[page] / 1000:.1f} s" for page in pages)


REMOTE_UFRAG_JS = (
    "() => [...window.p2pchat.peers.values()][0]"
    ".pc.remoteDescription.sdp.match(/a=ice-ufrag:(\\S+)/)[1]"
)
