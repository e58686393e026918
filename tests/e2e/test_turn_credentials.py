"""TURN credentials that expire during a call: a relay-only call through the stack's coturn
(``coturn=True``, what ``TURN=1 make run`` starts), whose function mints credentials that
last only TTL seconds, stays up with video decoded on both sides for three times that.

What keeps it up: each page asks for fresh servers (`ice-servers`) before its credentials
expire, gives them to its connection, and restarts ICE there, because its media goes through
its own relay: the restart makes a new TURN allocation with the fresh credentials. What is
checked besides media flowing:

- each page asked and restarted more than once (its trace, ``window.p2pchat.trace``);
- the relay the call uses at the end is a newer allocation than the one it used after the
  first credentials expired, and coturn refused no credentials all along;
- coturn refuses a new allocation with the first credentials (401): a restart, or a new
  connection, with the servers from `joined` would have had no relay candidate at all, and a
  relay-only call would never have connected again (FACTS.md: it stays ``new``).

coturn 4.6 checks the expiry only when an allocation is made, not when the browser refreshes
it (tests/local/test_coturn.py), so an allocation made with the first credentials would have
lived on: that is why this test checks the restarts and the allocations, not a call dropping.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from local.coturn import CoturnUnavailable
from local.stack import LocalStack, StackFailed, start_local_stack
from tests.local.turn_client import TurnClient

from .conftest import SELECTED_PAIR_JS, wait_media_rising
from .test_call import create_room, join_by_link

pytestmark = pytest.mark.browser

TTL = 20  # seconds the minted credentials last (Settings.from_env allows 60 at least)
CALL_SECONDS = 3 * TTL
CHECK_EVERY_MS = 5000


TURN_SERVER_JS = "() => window.p2pchat.state.iceServers.find((s) => s.username)"


@pytest.fixture(scope="module")
def short_credentials_stack(dynamodb_endpoint: str) -> Iterator[LocalStack]:
    try:
        with start_local_stack(
            dynamodb_endpoint=dynamodb_endpoint,
            coturn=True,
            turn_credential_seconds=TTL,
            ice_transport_policy="relay",
        ) as stack:
            yield stack
    except (StackFailed, CoturnUnavailable) as error:
        pytest.fail(str(error), pytrace=False)


def trace(page: Page, word: str) -> list[str]:
    return [line for line in page.evaluate("window.p2pchat.trace") if word in line]


def expiry(server: dict) -> int:
    return int(server["username"].split(":")[0])


def allocate(port: int, server: dict) -> int:
    with TurnClient(("127.0.0.1", port)) as client:
        return client.allocate(server["username"], server["credential"])


def test_call_outlives_its_turn_credentials(open_page, short_credentials_stack):
    stack = short_credentials_stack
    ana = open_page("ana")
    link = create_room(ana, stack.http_url, "Ana")
    bo = open_page("bo")
    join_by_link(bo, link, "Bo")
    pages = (ana, bo)
    media = {page: wait_media_rising(page) for page in pages}
    first = {page: page.evaluate(TURN_SERVER_JS) for page in pages}
    for page in pages:
        assert page.evaluate("window.p2pchat.state.iceServersTtl") == TTL
        selected = page.evaluate(SELECTED_PAIR_JS)
        assert selected["policy"] == "relay", selected
        assert (selected["local"], selected["remote"]) == ("relay", "relay"), selected

    # Past the first credentials' expiry (plus coturn's second of slack): the relays in use.
    first_expired = max(expiry(server) for server in first.values()) + 2
    after_expiry: dict[Page, str] = {}
    ends = time.time() + CALL_SECONDS
    while time.time() < ends:
        ana.wait_for_timeout(CHECK_EVERY_MS)
        for page in pages:
            media[page] = wait_media_rising(page, media[page])  # same connection, still rising
            if time.time() > first_expired and page not in after_expiry:
                after_expiry[page] = page.evaluate(SELECTED_PAIR_JS)["relay"]

    relay = stack.coturn
    for page in pages:
        asks = trace(page, "ice-servers ask expiry")
        restarts = trace(page, "ice-restart")
        assert len(asks) >= 2 and len(restarts) >= 2, page.evaluate("window.p2pchat.trace")
        now = page.evaluate(TURN_SERVER_JS)
        assert expiry(now) > time.time()  # the page holds credentials that are still good
        selected = page.evaluate(SELECTED_PAIR_JS)
        assert (selected["local"], selected["remote"]) == ("relay", "relay"), selected
        assert selected["relay"] != after_expiry[page]  # allocated after the first ones expired
    assert "check_stun_auth" not in relay.output(), relay.output()[-2000:]
    for page in pages:
        assert allocate(relay.port, first[page]) == 401  # what a restart without refresh gets
        assert allocate(relay.port, page.evaluate(TURN_SERVER_JS)) == 200
    counts = [
        f"{name}: {len(trace(page, 'ice-servers ask expiry'))} refreshes, "
        f"{len(trace(page, 'ice-restart'))} ICE restarts"
        for name, page in (("Ana", ana), ("Bo", bo))
    ]
    print(f"\ncredentials for {TTL} s, call of {CALL_SECONDS} s: " + "; ".join(counts))
