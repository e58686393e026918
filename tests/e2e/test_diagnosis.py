"""Each cause a failed call can have, produced for real, and the words a person then sees.

diagnosis.js decides (its table is unit-tested under Node: tests/frontend/); here the browsers
meet each situation in the namespaces of tests/e2e/netns.py, where the two browsers never reach
each other directly, and each page must name the cause on the remote tile and in the live
region (the relay-unreachable cause on a network that lets only signaling out, and the other
person's unreachable network with candidates they could not use, are in
test_blocked_networks.py; here the other person sends none at all).

- the relay refuses our credentials (coturn's secret is not the function's): 401;
- no relay at all and no direct path: candidates on both sides, every check failed;
- the other person's network lets nothing out but signaling, relay-only policy: they send no
  candidate; their own page says the relay is blocked;
- our socket to the server goes silent during set-up: we say the server was lost, they say our
  answer never came;
- a relayed call whose relay becomes unreachable: "was lost", and the words go away when the
  call comes back by itself.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from . import netns
from .test_blocked_networks import (
    check_says,
    explained_after,
    join,
    relayed_tile,
    says_why,
)
from .test_call import create_room, remote_tiles

pytestmark = pytest.mark.browser

LOST_MS = 40_000  # Chromium: "disconnected" ~5 s after packets stop, "failed" ~10 s later


def test_relay_refuses_our_credentials(lab, open_in, dynamodb_endpoint):
    with lab.stack(dynamodb_endpoint, relay="wrong-secret"):
        ana = open_in("a", "ana")
        link = create_room(ana, lab.url, "Ana")
        check_says(ana, "Relay refused our credentials")
        expect(ana.locator("#netcheck-advice")).to_contain_text("Reload the page")

        bo = open_in("b", "bo")
        join(bo, link, "Bo")
        for page in (ana, bo):
            says_why(page, "The relay server refused our credentials", "Reload the page")
            assert page.evaluate("window.p2pchat.trace.some((l) => / diagnosis .* relay-refused/"
                                 ".test(l))")  # fmt: skip
    print(
        f"\n401: said why {explained_after(ana):.1f} s, {explained_after(bo):.1f} s after "
        "each page created the connection"
    )


def test_no_relay_and_no_direct_path(lab, open_in, dynamodb_endpoint):
    with lab.stack(dynamodb_endpoint, relay="none"):
        ana = open_in("a", "ana")
        link = create_room(ana, lab.url, "Ana")
        check_says(ana, "Direct calls possible")
        expect(ana.locator("#netcheck-advice")).to_contain_text("has no relay server")

        bo = open_in("b", "bo")
        join(bo, link, "Bo")
        says_why(ana, "No path between you and Bo worked", "no relay server to fall back on")
        says_why(bo, "No path between you and Ana worked", "no relay server to fall back on")
    print(
        f"\nchecks failed: said why {explained_after(ana):.1f} s, {explained_after(bo):.1f} s "
        "after each page created the connection"
    )


def test_the_other_side_sends_no_candidate(lab, open_in, dynamodb_endpoint):
    lab.b.firewall(lab.server, tcp={lab.port}, udp=netns.NONE)  # Bo: signaling only
    with lab.stack(dynamodb_endpoint, policy="relay"):
        ana = open_in("a", "ana")
        link = create_room(ana, lab.url, "Ana")
        check_says(ana, "Calls will be relayed")  # relay-only by configuration, and it works

        bo = open_in("b", "bo")
        join(bo, link, "Bo")
        says_why(ana, "Bo's network cannot be reached", "not even through the relay server")
        says_why(bo, "Your network blocks the relay server", "No direct path to Ana worked")
        # What Ana's page knew: Bo's description came, with no candidate in it.
        remote_sdp = ana.evaluate("[...window.p2pchat.peers.values()][0].pc.remoteDescription.sdp")
        assert "a=candidate" not in remote_sdp
    print(
        f"\nno remote candidate: said why {explained_after(ana):.1f} s, "
        f"{explained_after(bo):.1f} s after each page created the connection"
    )


def test_signaling_lost_during_set_up(lab, open_in, dynamodb_endpoint):
    with lab.stack(dynamodb_endpoint):
        ana = open_in("a", "ana")
        link = create_room(ana, lab.url, "Ana")
        # From now on what Ana sends the signaling server is lost, while its acknowledgements
        # still pass so she keeps receiving: her socket looks open, her answer goes nowhere.
        lab.a.firewall(lab.server, lose_sent={lab.port})

        bo = open_in("b", "bo")
        join(bo, link, "Bo")
        says_why(ana, "Lost the connection to the server", "Check your internet connection")
        says_why(bo, "No answer from Ana", "Ana's reply never arrived")
        # How Ana's page knew: its ping went unanswered (Bo's was answered).
        assert ana.evaluate("window.p2pchat.trace.some((l) => / diagnosis .* signaling-lost/"
                            ".test(l))")  # fmt: skip
    print(
        f"\nsignaling lost: said why {explained_after(ana):.1f} s, "
        f"{explained_after(bo):.1f} s after each page created the connection"
    )


def test_a_call_that_loses_its_relay_says_so_and_recovers(lab, open_in, dynamodb_endpoint):
    with lab.stack(dynamodb_endpoint):
        ana = open_in("a", "ana")
        link = create_room(ana, lab.url, "Ana")
        bo = open_in("b", "bo")
        join(bo, link, "Bo")
        for page in (ana, bo):
            relayed_tile(page)

        # Nothing but signaling reaches Ana any more (what she sends still leaves): both
        # sides' ICE checks go unanswered, as when a network starts losing the packets.
        lab.a.firewall(lab.server, hears={lab.port})
        for page, other in ((ana, "Bo"), (bo, "Ana")):
            lost = f"The connection to {other} was lost"
            tile = remote_tiles(page)
            expect(tile.locator(".tile-why-title")).to_have_text(lost, timeout=LOST_MS)
            expect(tile.locator(".tile-why-advice")).to_contain_text("comes back by itself")
            expect(page.locator("#announcer")).to_contain_text(lost)

        lab.open_all()  # the relay is heard again: the call recovers without Retry, words go
        for page in (ana, bo):
            tile = remote_tiles(page)
            expect(tile).to_have_attribute("data-status", "connected", timeout=LOST_MS)
            expect(tile.locator(".tile-why")).to_be_hidden()
            relayed_tile(page)
