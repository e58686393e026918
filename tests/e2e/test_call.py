"""Real calls between real browsers (chromium, fake camera and microphone) through the local
stack: create, invite, join, media both ways, toggles, full room, reload, signaling drop, leave,
the next person. Every page is also watched for CSP violations, page errors and dialogs."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import delete_connection, inbound, screenshot_path, wait_media_rising

pytestmark = pytest.mark.browser

HOSTILE_NAME = "<img src=x onerror=alert(1)>"
CONNECT_LINE = re.compile(r"connect\s+(\S+) from .* -> 101|connect\s+(\S+) from .* -> 200")


def create_room(page: Page, base_url: str, name: str) -> str:
    page.goto(f"{base_url}/")
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Create room").click()
    page.wait_for_url(re.compile(r"/room\.html\?room=[A-Za-z0-9_-]{16}$"))
    expect(page.locator("#waiting")).to_be_visible()
    page.wait_for_function("() => window.p2pchat.state.joined")
    return page.url


def join_by_link(page: Page, link: str, name: str) -> None:
    page.goto(link)
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Join", exact=True).click()


def remote_tiles(page: Page):
    return page.locator("#remotes .tile.remote")


def test_call_media_toggles_names_and_full_room(open_page, local_stack):
    base = local_stack.http_url
    ana = open_page("ana", permissions=["clipboard-read", "clipboard-write"])
    link = create_room(ana, base, "Ana")

    copy = ana.get_by_role("button", name="Copy invite link").first
    copy.click()
    expect(ana.locator("[data-intent=copy] .label").first).to_have_text("Copied")
    copied = ana.evaluate("navigator.clipboard.readText()")
    assert copied == link

    bo = open_page("bo")
    join_by_link(bo, copied, HOSTILE_NAME)
    a0 = wait_media_rising(ana)
    b0 = wait_media_rising(bo)

    # The hostile name is text on Ana's side: no element was made of it, no alert ran.
    tile = remote_tiles(ana)
    expect(tile).to_have_count(1)
    expect(tile.locator(".tile-name")).to_have_text(HOSTILE_NAME)
    assert tile.locator("img").count() == 0
    expect(remote_tiles(bo).locator(".tile-name")).to_have_text("Ana")

    # Each toggle shows on the other side, and the button says its state.
    for page, other, button, badge, attribute in (
        (bo, ana, "Camera", "Camera off", "data-camera"),
        (bo, ana, "Microphone", "Muted", "data-mic"),
        (ana, bo, "Camera", "Camera off", "data-camera"),
        (ana, bo, "Microphone", "Muted", "data-mic"),
    ):
        toggle = page.get_by_role("button", name=button, exact=True)
        expect(toggle).to_have_attribute("aria-pressed", "true")
        toggle.click()
        expect(toggle).to_have_attribute("aria-pressed", "false")
        remote = remote_tiles(other)
        expect(remote).to_have_attribute(attribute, "off")
        expect(remote.get_by_text(badge, exact=True)).to_be_visible()
        toggle.click()
        expect(toggle).to_have_attribute("aria-pressed", "true")
        expect(remote).to_have_attribute(attribute, "on")
        expect(remote.get_by_text(badge, exact=True)).to_be_hidden()

    # A third person is told the room is full; the call goes on untouched.
    cy = open_page("cy")
    join_by_link(cy, link, "Cy")
    expect(cy.get_by_role("heading", name="This room is full")).to_be_visible()
    assert cy.evaluate("window.p2pchat.peers.size") == 0
    a1 = wait_media_rising(ana, a0)
    b1 = wait_media_rising(bo, b0)
    expect(remote_tiles(ana)).to_have_count(1)
    expect(remote_tiles(bo)).to_have_count(1)

    # A copy of Bo's tab (window.open copies sessionStorage, hence Bo's session token) is a
    # new person, not Bo resuming: it gets "room full" and Bo's call is not taken over.
    with bo.context.expect_page() as opened:
        bo.evaluate("() => { window.open(location.href); }")
    copy = opened.value
    copy.watch = bo.watch  # type: ignore[attr-defined]
    expect(copy.get_by_role("heading", name="This room is full")).to_be_visible()
    wait_media_rising(ana, a1)
    wait_media_rising(bo, b1)
    assert bo.evaluate("window.p2pchat.state.joined") is True


def test_reload_and_signaling_drop_keep_the_call(open_page, local_stack):
    base = local_stack.http_url
    ana = open_page("ana")
    link = create_room(ana, base, "Ana")
    bo = open_page("bo")
    mark = len(local_stack.output())
    join_by_link(bo, link, "Bo")
    wait_media_rising(ana)
    wait_media_rising(bo)

    # The README's screenshot of a call: both videos running, no notice over them.
    expect(ana.locator("#notices .notice")).to_have_count(0, timeout=10_000)
    ana.screenshot(path=screenshot_path("screenshot-call.png"))

    # Signaling drop: the server closes Bo's socket. Bo reconnects and rejoins with its
    # session; both RTCPeerConnections keep running (same epochs) and media keeps flowing.
    # Bo's socket: the only one opened since Ana joined (the gateway logs each $connect).
    joins = [a or b for a, b in CONNECT_LINE.findall(local_stack.output()[mark:])]
    assert len(joins) == 1, joins
    before_a, before_b = inbound(ana), inbound(bo)
    bo_id = bo.evaluate("window.p2pchat.state.me")
    connections = bo.evaluate("window.p2pchat.signaling.connections")
    assert delete_connection(base, joins[0]) == 204
    bo.wait_for_function(
        "n => window.p2pchat.signaling.connections > n && window.p2pchat.state.joined",
        arg=connections,
    )
    expect(bo.locator("#banner")).to_be_hidden()
    assert bo.evaluate("window.p2pchat.state.me") == bo_id  # the same peer, not a new one
    after_a = wait_media_rising(ana, before_a)
    after_b = wait_media_rising(bo, before_b)
    assert after_a["epochs"] == before_a["epochs"]
    assert after_b["epochs"] == before_b["epochs"]
    expect(remote_tiles(ana)).to_have_count(1)
    expect(remote_tiles(ana)).to_have_attribute("data-status", "connected")

    # Connection failed: the tile says so and offers Retry, which restarts ICE (new ICE
    # credentials in a renegotiation) on the same connection; media flows again.
    ufrag = (
        "() => [...window.p2pchat.peers.values()][0]"
        ".pc.remoteDescription.sdp.match(/a=ice-ufrag:(\\S+)/)[1]"
    )
    old_ufrag = bo.evaluate(ufrag)
    ana.evaluate(
        "() => [...window.p2pchat.peers.values()][0]"
        ".dispatchEvent(new CustomEvent('failed', {detail: {reason: 'ice'}}))"
    )
    expect(remote_tiles(ana).locator(".tile-status")).to_have_text("Connection failed")
    expect(ana.locator("#notices")).to_contain_text("Press Retry")
    ana.get_by_role("button", name="Retry").click()
    bo.wait_for_function(f"old => ({ufrag})() !== old", arg=old_ufrag)
    expect(ana.get_by_role("button", name="Retry")).to_be_hidden()
    after_a = wait_media_rising(ana, after_a)
    assert after_a["epochs"] == before_a["epochs"]

    # Reload in the middle of the call: back into the call, one tile on each side (no ghost).
    bo.reload()
    wait_media_rising(bo)
    wait_media_rising(ana, after_a)
    expect(remote_tiles(ana)).to_have_count(1)
    expect(remote_tiles(bo)).to_have_count(1)
    expect(remote_tiles(ana).locator(".tile-name")).to_have_text("Bo")
    # The reloaded tab is still the same peer to everyone (its session came back).
    assert bo.evaluate("window.p2pchat.state.me") == bo_id
    assert ana.evaluate("[...window.p2pchat.peers.keys()]") == [bo_id]


def test_leave_then_the_next_person_connects(open_page, local_stack):
    base = local_stack.http_url
    ana = open_page("ana")
    link = create_room(ana, base, "Ana")
    bo = open_page("bo")
    join_by_link(bo, link, "Bo")
    a0 = wait_media_rising(ana)
    wait_media_rising(bo)

    # Record, as Bo's room page goes away, what Leave left behind.
    bo.evaluate(
        """() => {
          const tracks = window.p2pchat.state.media.stream.getTracks();
          const pcs = [...window.p2pchat.peers.values()].map((p) => p.pc);
          window.addEventListener('pagehide', () => sessionStorage.setItem('after-leave',
            JSON.stringify({tracks: tracks.map((t) => t.readyState),
                            pcs: pcs.map((pc) => pc.connectionState),
                            socket: window.p2pchat.signaling.ws === null})));
        }"""
    )
    bo.get_by_role("button", name="Leave").click()
    bo.wait_for_url(f"{base}/")
    after = bo.evaluate("JSON.parse(sessionStorage.getItem('after-leave'))")
    assert after == {"tracks": ["ended", "ended"], "pcs": ["closed"], "socket": True}

    # Ana sees Bo go (tile removed, a notice) and the room waits.
    expect(remote_tiles(ana)).to_have_count(0)
    expect(ana.locator("#notices")).to_contain_text("Bo left")
    expect(ana.locator("#waiting")).to_be_visible()
    assert ana.evaluate("window.p2pchat.peers.size") == 0

    # The next person connects without Ana reloading.
    cy = open_page("cy")
    join_by_link(cy, link, "Cy")
    wait_media_rising(cy)
    wait_media_rising(ana, a0)
    expect(remote_tiles(ana).locator(".tile-name")).to_have_text("Cy")

    # Cy closes the tab instead: Ana's side also lets go and waits again.
    cy.close()
    expect(remote_tiles(ana)).to_have_count(0)
    expect(ana.locator("#notices")).to_contain_text("Cy left")
    expect(ana.locator("#waiting")).to_be_visible()


# getUserMedia that resolves only when the test opens the camera (window.openCamera()): a
# camera that takes its time, as real ones do (fake media opens in tens of milliseconds).
SLOW_CAMERA_JS = """(() => {
  const gum = MediaDevices.prototype.getUserMedia;
  let open;
  const opened = new Promise((resolve) => { open = resolve; });
  window.openCamera = () => open();
  MediaDevices.prototype.getUserMedia = async function (...args) {
    await opened;
    return gum.apply(this, args);
  };
})()"""


def test_a_slow_camera_does_not_hold_the_call_back(open_page, local_stack):
    ana = open_page("ana")
    link = create_room(ana, local_stack.http_url, "Ana")
    bo = open_page("bo")
    bo.add_init_script(script=SLOW_CAMERA_JS)
    join_by_link(bo, link, "Bo")

    # While Bo's camera is still opening, the call is connected: Bo sees and hears Ana.
    before = wait_media_rising(bo)
    assert bo.evaluate("window.p2pchat.state.media") is None
    expect(remote_tiles(bo).locator(".tile-name")).to_have_text("Ana")

    # Bo's camera opens: Ana sees and hears Bo on the same connection (no new one).
    bo.evaluate("window.openCamera()")
    after = wait_media_rising(ana)
    assert wait_media_rising(bo, before)["epochs"] == before["epochs"]
    assert after["peers"] == 1
    expect(remote_tiles(ana)).to_have_attribute("data-status", "connected")
    # One offer in all, Bo's, made before his camera opened; his tracks joined it without a
    # second one, and Ana only answered (she never had to offer herself).
    assert sent_descriptions(bo) == ["offer"]
    assert sent_descriptions(ana) == ["answer"]


def sent_descriptions(page: Page) -> list[str]:
    """The types of the session descriptions this page sent, in order."""
    return in_trace(page, r" out sdp \d+ (offer|answer)$")


def in_trace(page: Page, pattern: str) -> list[str]:
    """What `pattern` finds in the lines of the room page's debug trace, in order."""
    trace = page.evaluate("window.p2pchat.trace")
    return re.findall(pattern, "\n".join(trace), re.M)


def test_the_camera_state_rides_on_the_offer_and_the_answer(open_page, local_stack):
    """Bo joins with his camera off (his choice from an earlier visit): Ana's tile for him says
    so, and neither side sent its camera/microphone state as a message of its own during the
    set-up, where each signal is one more invocation queued beside the offer and the answer."""
    ana = open_page("ana")
    link = create_room(ana, local_stack.http_url, "Ana")
    bo = open_page("bo")
    bo.goto(f"{local_stack.http_url}/")
    bo.evaluate("localStorage.setItem('p2pchat.media', JSON.stringify({camera: false, mic: true}))")
    join_by_link(bo, link, "Bo")

    wait_media_rising(bo)
    tile = remote_tiles(ana)
    expect(tile).to_have_attribute("data-camera", "off")
    expect(tile.get_by_text("Camera off", exact=True)).to_be_visible()
    expect(remote_tiles(bo)).to_have_attribute("data-camera", "on")
    assert lone_states(ana) == 0
    assert lone_states(bo) == 0

    # Once connected, a change goes at once, on its own.
    bo.get_by_role("button", name="Camera", exact=True).click()
    expect(tile).to_have_attribute("data-camera", "on")
    assert lone_states(ana) == 1


def lone_states(page: Page) -> int:
    """How many camera/microphone `state` signals this page received."""
    return len(in_trace(page, r" in signal \S+ state$"))
