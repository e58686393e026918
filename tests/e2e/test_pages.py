"""The lobby and the room page without a call: name, preview, validation, bad links,
media refused, keyboard, small screens, the CSP watch itself, and the lobby screenshot."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import screenshot_path, wait_media_rising

pytestmark = pytest.mark.browser

ROOM_URL = re.compile(r"/room\.html\?room=([A-Za-z0-9_-]+)$")
# What the browser says when camera and microphone are refused (the init script below).
REFUSE_MEDIA = """
  navigator.mediaDevices.getUserMedia = async () => {
    throw new DOMException('Permission denied', 'NotAllowedError');
  };
"""


def preview_playing(page: Page) -> None:
    page.wait_for_function(
        "() => { const v = document.getElementById('preview');"
        " return v.srcObject && v.readyState >= 2 && v.videoWidth > 0; }"
    )


def test_lobby_remembers_the_name_validates_and_creates(open_page, local_stack):
    page = open_page("lobby")
    page.goto(local_stack.http_url)
    preview_playing(page)
    expect(page.locator("#media-problem")).to_be_hidden()

    # Camera and microphone toggles: real buttons, aria-pressed, visible state.
    camera = page.get_by_role("button", name="Camera", exact=True)
    expect(camera).to_have_attribute("aria-pressed", "true")
    camera.click()
    expect(camera).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#preview-off-text")).to_be_visible()
    camera.click()
    expect(camera).to_have_attribute("aria-pressed", "true")

    # No name: an inline error, nothing happens.
    page.get_by_role("button", name="Create room").click()
    expect(page.locator("#name-error")).to_have_text(re.compile("Enter your name"))
    expect(page).to_have_url(f"{local_stack.http_url}/")

    # Join: bad input gets a clear inline error; a whole invite link is accepted.
    page.get_by_label("Your name").fill("Dee")
    room_input = page.get_by_label("Room code or invite link")
    for bad, message in (
        ("", "Enter a room code"),
        ("not a code!", "not a room code"),
        ("https://example.com/room.html", "no room code"),
        ("https://example.com/room.html?room=bad%21", "not valid"),
        ("javascript:alert(1)", "not an invite link"),
    ):
        room_input.fill(bad)
        page.get_by_role("button", name="Join", exact=True).click()
        expect(page.locator("#join-error")).to_contain_text(message)
        expect(room_input).to_have_attribute("aria-invalid", "true")
    room_input.fill("https://p2pchat.example/room.html?room=Some_Room-42")
    page.get_by_role("button", name="Join", exact=True).click()
    page.wait_for_url(f"{local_stack.http_url}/room.html?room=Some_Room-42")
    page.get_by_role("button", name="Leave").click()
    page.wait_for_url(f"{local_stack.http_url}/")

    # The name is remembered; "Create room" makes a fresh 96-bit code and goes straight in.
    expect(page.get_by_label("Your name")).to_have_value("Dee")
    codes = set()
    for _ in range(2):
        page.get_by_role("button", name="Create room").click()
        page.wait_for_url(ROOM_URL)
        codes.add(ROOM_URL.search(page.url).group(1))
        expect(page.locator("#room-code")).to_have_text(ROOM_URL.search(page.url).group(1))
        page.go_back()
    assert len(codes) == 2 and all(len(code) == 16 for code in codes)


def test_lobby_screenshot_keyboard_and_small_screen(open_page, local_stack):
    page = open_page("shot")
    page.goto(local_stack.http_url)
    page.get_by_label("Your name").fill("Ana")
    preview_playing(page)
    page.locator("#name").blur()
    page.screenshot(path=screenshot_path("screenshot-lobby.png"))

    # Keyboard only: Tab reaches the controls in order, focus is visible, Enter creates.
    page.locator(".brand").focus()
    reached = []
    for _ in range(6):
        page.keyboard.press("Tab")
        reached.append(page.evaluate(
            "() => { const e = document.activeElement;"
            " return [e.id, getComputedStyle(e).outlineStyle]; }"
        ))  # fmt: skip
    ids = [name for name, _ in reached]
    assert ids == ["camera", "mic", "name", "create", "room-input", "join"], reached
    assert all(style != "none" for _, style in reached), reached
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("button", name="Create room")).to_be_focused()
    page.keyboard.press("Enter")  # on "Create room"
    page.wait_for_url(ROOM_URL)

    # A 360-pixel-wide phone: nothing wider than the screen, every control visible.
    phone = open_page("phone", viewport={"width": 360, "height": 740})
    for url in (local_stack.http_url, page.url):
        phone.goto(url)
        if "room.html" in url:
            phone.get_by_label("Your name").fill("Phil")
            phone.get_by_role("button", name="Join", exact=True).click()
            for name in ("Camera", "Microphone", "Leave"):
                expect(phone.get_by_role("button", name=name, exact=True)).to_be_in_viewport()
        width = phone.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 360, (url, width)


def test_bad_room_code_in_the_url_shows_an_error_and_sends_nothing(open_page, local_stack):
    page = open_page("bad")
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    for query in ("?room=bad%20code%21", "?room=" + "a" * 65, "?room=", ""):
        page.goto(f"{local_stack.http_url}/room.html{query}")
        expect(page.get_by_role("heading", name="This room link does not work")).to_be_visible()
        expect(page.get_by_role("link", name="Back to the lobby")).to_be_focused()
        expect(page.locator("#call")).to_be_hidden()
    assert sockets == []


def test_media_refused_says_so_and_still_receives(open_page, local_stack):
    page = open_page("refused")
    page.add_init_script(REFUSE_MEDIA)
    page.goto(local_stack.http_url)
    problem = page.locator("#media-problem")
    expect(problem).to_contain_text("Access to your camera and microphone was refused")
    expect(problem).to_contain_text("still join")
    expect(page.get_by_role("button", name="Camera", exact=True)).to_be_disabled()

    # In a call, the refused side says so and still sees and hears the other side.
    page.get_by_label("Your name").fill("Watcher")
    page.get_by_role("button", name="Create room").click()
    page.wait_for_url(ROOM_URL)
    expect(page.locator("#media-problem")).to_contain_text("they will not see or hear you")
    other = open_page("sender")
    other.goto(page.url)
    other.get_by_label("Your name").fill("Sender")
    other.get_by_role("button", name="Join", exact=True).click()
    wait_media_rising(page)
    expect(other.locator("#remotes .tile.remote")).to_have_attribute("data-camera", "off")


def test_the_csp_watch_sees_a_violation(open_page, local_stack):
    """The other tests' "no CSP violation" means something: an inline style is caught."""
    page = open_page("csp-probe")
    page.goto(local_stack.http_url)
    page.evaluate("() => document.body.setAttribute('style', 'color: red')")
    page.wait_for_function("() => true")
    expect(page.locator("body")).not_to_have_css("color", "rgb(255, 0, 0)")
    page.wait_for_timeout(200)  # the console message is delivered asynchronously
    assert page.watch.csp, "an inline style attribute should have been reported"
    page.watch.csp.clear()
