"""Networks that block what a direct call needs, for real: each browser in a Linux network
namespace of its own (tests/e2e/netns.py), nftables deciding what leaves it, the signaling
server and a coturn on the machine's end of the veth. The two namespaces never reach each
other, so a call connects through the relay or not at all.

1. Ana's network drops all UDP (a hotel, a guest Wi-Fi): the waiting room's check says calls
   will be relayed; the call connects through TURN over TCP and both tiles say "Relayed".
2. Neither can reach the other, both reach the relay: the call connects, relayed.
3. Ana's network lets nothing out but the signaling server: her check says the relay is
   unreachable; the call does not connect, and within a bound each page says why in words
   (Ana: her network blocks the relay; Bo: Ana's network cannot be reached).

The times (from Bo's Join to both tiles connected; from Join to each page saying why) are
printed (``pytest -s``): docs/benchmarks.md quotes them.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from . import netns
from .conftest import SELECTED_PAIR_JS, wait_media_rising
from .test_call import create_room, remote_tiles

pytestmark = pytest.mark.browser

# peer.js's CONNECT_TIMEOUT_MS (20 s), then up to 3 s for the ping that tells whether the
# server still hears us (room.js SERVER_PROBE_MS), plus a busy machine's slack.
EXPLAINED_MS = 35_000
CHECKED_MS = 15_000  # the check ends within diagnosis.CHECK_MS (6 s) of the page's join



def check_says(page: Page, title: str) -> None:
    expect(page.locator("#netcheck-verdict")).to_have_text(title, timeout=CHECKED_MS)
    expect(page.locator("#netcheck-advice")).to_be_visible()


def says_why(page: Page, title: str, advice: str) -> None:
    """The remote tile says why the connection failed and what to try; so does the live
    region (what a screen reader announces). The words stay through Chromium's failed ->
    connecting flaps; by the connect timeout the tile is "failed" and offers Retry."""
    tile = remote_tiles(page)
    expect(tile.locator(".tile-why-title")).to_have_text(title, timeout=EXPLAINED_MS)
    expect(tile.locator(".tile-why-advice")).to_contain_text(advice)
    expect(page.locator("#announcer")).to_contain_text(title)
    expect(tile).to_have_attribute("data-status", "failed", timeout=EXPLAINED_MS)
    expect(tile.locator(".tile-status")).to_have_text("Connection failed")
    expect(tile.get_by_role("button", name="Retry")).to_be_visible()
    expect(tile.locator(".tile-why-title")).to_have_text(title)


def relayed_tile(page: Page) -> None:
    tile = remote_tiles(page)
    expect(tile).to_have_attribute("data-status", "connected")
    expect(tile).to_have_attribute("data-path", "relayed")
    expect(tile.locator(".badge-path")).to_have_text("Relayed")
    expect(tile.locator(".badge-path")).to_be_visible()


def elapsed(since: float) -> float:
    return time.monotonic() - since


def join(page: Page, link: str, name: str) -> float:
    """Bo opens the link and presses Join; the time of the press (time.monotonic)."""
    page.goto(link)
    page.get_by_label("Your name").fill(name)
    started = time.monotonic()
    page.get_by_role("button", name="Join", exact=True).click()
    return started


def test_udp_dropped_the_call_relays_over_tcp(lab, open_in, dynamodb_endpoint):
    lab.a.firewall(lab.server, udp=netns.NONE)  # TCP to the server only: no UDP at all
    with lab.stack(dynamodb_endpoint):
        ana = open_in("a", "ana")
        link = create_room(ana, lab.url, "Ana")
        check_says(ana, "Calls will be relayed (your network blocks direct connections)")
        expect(ana.locator("#netcheck-advice")).to_contain_text("over TCP")

        bo = open_in("b", "bo")
        started = join(bo, link, "Bo")
        for page in (ana, bo):
            expect(remote_tiles(page)).to_have_attribute("data-status", "connected")
        connected = elapsed(started)
        wait_media_rising(ana)
        wait_media_rising(bo)
        for page in (ana, bo):
            relayed_tile(page)
        pair = ana.evaluate(SELECTED_PAIR_JS)
        assert pair["local"] == "relay" and pair["relayProtocol"] == "tcp", pair
        expect(bo.locator("#announcer")).to_contain_text("through the relay server")
    print(f"\nUDP dropped: connected through TURN/TCP {connected:.1f} s after Bo's Join")


def test_no_direct_path_the_call_connects_relayed(lab, open_in, dynamodb_endpoint):
    # Both namespaces reach the server address (signaling, TURN over UDP and TCP), never
    # each other: every path between the browsers goes through the relay.
    with lab.stack(dynamodb_endpoint):
        ana = open_in("a", "ana")
        link = create_room(ana, lab.url, "Ana")
        # All the check can know: UDP gets out and the relay answers.
        check_says(ana, "Direct calls possible")

        bo = open_in("b", "bo")
        started = join(bo, link, "Bo")
        for page in (ana, bo):
            expect(remote_tiles(page)).to_have_attribute("data-status", "connected")
        connected = elapsed(started)
        wait_media_rising(ana)
        wait_media_rising(bo)
        for page in (ana, bo):
            relayed_tile(page)
            pair = page.evaluate(SELECTED_PAIR_JS)
            assert "relay" in (pair["local"], pair["remote"]), pair
    print(f"\nno direct path: connected relayed {connected:.1f} s after Bo's Join")


def test_only_signaling_reachable_the_page_says_why(lab, open_in, dynamodb_endpoint):
    lab.a.firewall(lab.server, tcp={lab.port}, udp=netns.NONE)  # the signaling server only
    with lab.stack(dynamodb_endpoint):
        ana = open_in("a", "ana")
        link = create_room(ana, lab.url, "Ana")
        check_says(ana, "Relay unreachable: calls to people on other networks may fail")

        bo = open_in("b", "bo")
        started = join(bo, link, "Bo")
        ana_title = "Your network blocks the relay server"
        bo_title = "Ana's network cannot be reached"
        expect(remote_tiles(ana).locator(".tile-why-title")).to_have_text(
            ana_title, timeout=EXPLAINED_MS
        )
        ana_said = elapsed(started)
        expect(remote_tiles(bo).locator(".tile-why-title")).to_have_text(
            bo_title, timeout=EXPLAINED_MS
        )
        bo_said = elapsed(started)  # an upper bound: measured after Ana's
        says_why(ana, ana_title, "No direct path to Bo worked")
        says_why(bo, bo_title, "Ask them to try another network")
        for page in (ana, bo):
            assert (
                page.evaluate("[...window.p2pchat.peers.values()][0].pc.connectionState")
                != "connected"
            )
        assert max(ana_said, bo_said) * 1000 < EXPLAINED_MS
        page_times = [explained_after(page) for page in (ana, bo)]
    print(
        f"\nno possible path: the pages said why {ana_said:.1f} s (Ana), {bo_said:.1f} s (Bo) "
        f"after Bo's Join; {page_times[0]:.1f} s, {page_times[1]:.1f} s after each page "
        "created the connection"
    )


def explained_after(page: Page) -> float:
    """Seconds from the page creating its connection to showing the diagnosis (room.js trace:
    "create <id>" and "diagnosis <id> <cause>")."""
    trace = page.evaluate("window.p2pchat.trace")
    created = next(float(line.split()[0]) for line in trace if line.split()[1] == "create")
    said = next(float(line.split()[0]) for line in trace if line.split()[1] == "diagnosis")
    return (said - created) / 1000
