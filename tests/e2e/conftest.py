"""Browser fixtures: Debian's chromium driven by Playwright with fake camera and microphone.

- ``browser`` (session): one chromium for the whole e2e run. Never skipped: a missing
  /usr/bin/chromium fails the run (``make test`` installs it).
- ``open_page(name, **context_options)``: a page in a fresh browser context (its own storage,
  like a different person), watched for page errors, dialogs and CSP violations; the test fails
  at teardown if any happened.
- helpers to read WebRTC stats through the room page's debug handle ``window.p2pchat``.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from local import ROOT
from local.browser import CHROMIUM, CHROMIUM_ARGS

if TYPE_CHECKING:
    from . import netns

VIEWPORT = {"width": 1280, "height": 800}
# The README's screenshots: refreshed in docs/ only on request (`make screenshots`), so that a
# test run leaves the working tree as it found it; otherwise written to test-results/ (ignored).
UPDATE_SCREENSHOTS_ENV = "P2PCHAT_UPDATE_SCREENSHOTS"
CALL_TIMEOUT_MS = 20_000
# What a page should come to show, it may show late on a shared, busy machine: assertions wait
# as long as a call may take to connect (Playwright's default is 5 s). They still fail if it
# never shows; speed is measured by the benchmarks, not here.
expect.set_options(timeout=CALL_TIMEOUT_MS)


def screenshot_path(name: str) -> str:
    """Where the screenshot `name` goes: docs/ when asked for, else test-results/."""
    folder = ROOT / ("docs" if os.environ.get(UPDATE_SCREENSHOTS_ENV) == "1" else "test-results")
    folder.mkdir(exist_ok=True)
    return str(folder / name)


# Sums the inbound RTP counters of every RTCPeerConnection the room page holds, and says which
# connection(s) they came from (a reset connection starts its counters again).
INBOUND_JS = """async () => {
  const handle = window.p2pchat;
  if (!handle || handle.page !== 'room') return null;
  const result = {peers: 0, epochs: [], video: 0, audio: 0, states: []};
  for (const peer of handle.peers.values()) {
    result.peers += 1;
    result.epochs.push(peer.epoch);
    result.states.push(peer.pc.connectionState);
    const stats = await peer.pc.getStats();
    stats.forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') result.video += s.framesDecoded || 0;
      if (s.kind === 'audio') result.audio += s.packetsReceived || 0;
    });
  }
  return result;
}"""

# Polls inside the page until one connected peer's decoded video frames and received audio
# packets have grown past `base` (or from zero on a new connection), or the deadline passes;
# returns the last sample and whether it got there. page.evaluate awaits the promise.
RISING_JS = """async ([base, timeoutMs]) => {
  const sample = SAMPLE;
  const deadline = performance.now() + timeoutMs;
  let now = null;
  while (performance.now() < deadline) {
    now = await sample();
    if (now && now.peers === 1 && now.states[0] === 'connected') {
      const same = base && base.epochs[0] === now.epochs[0];
      const video0 = same ? base.video : 0;
      const audio0 = same ? base.audio : 0;
      if (now.video >= video0 + 5 && now.audio >= audio0 + 10) return {ok: true, now};
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  return {ok: false, now};
}""".replace("SAMPLE", INBOUND_JS)


def inbound(page: Page) -> dict | None:
    return page.evaluate(INBOUND_JS)


# The pair ICE selected on the page's first connection: the candidate types, the transport
# policy, and how the local candidate reaches TURN (for a relayed call).
SELECTED_PAIR_JS = """async () => {
  const pc = [...window.p2pchat.peers.values()][0].pc;
  const stats = await pc.getStats();
  let pairId = null;
  stats.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
  });
  const pair = pairId && stats.get(pairId);
  if (!pair) return null;
  const local = stats.get(pair.localCandidateId);
  return {policy: pc.getConfiguration().iceTransportPolicy,
          local: local.candidateType, remote: stats.get(pair.remoteCandidateId).candidateType,
          relayProtocol: local.relayProtocol ?? null,
          relay: `${local.address}:${local.port}/${local.relayProtocol}`};
}"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[netns.Lab]:
    """Two network namespaces with their own browsers and a relay (tests/e2e/netns.py, which
    imports this module: hence imported here, not at the top)."""
    from . import netns

    with netns.lab(tmp_path_factory.mktemp("netns"), browser.browser_type) as created:
        yield created


@pytest.fixture
def open_in(lab: netns.Lab) -> Iterator[Callable[[str, str], Page]]:
    """Pages in the lab's namespaces; the firewalls go back to "server only" afterwards."""
    lab.open_all()
    try:
        with lab.pages() as open_:
            yield open_
    finally:
        lab.open_all()


def wait_media_rising(page: Page, base: dict | None = None, timeout: int = CALL_TIMEOUT_MS):
    """One connected peer whose decoded video frames and received audio packets grow."""
    result = page.evaluate(RISING_JS, [base, timeout])
    trace = page.evaluate(
        "() => (window.p2pchat?.trace ?? []).slice(-40).join('\\n') + '\\n' + "
        "[...(window.p2pchat?.peers?.values() ?? [])].map(p => p.pc.signalingState + ' ' + "
        "p.pc.iceGatheringState + ' ' + p.pc.iceConnectionState).join(',')"
    )
    assert result["ok"], f"media not rising since {base}: {result['now']}\n{trace}"
    return result["now"]


def delete_connection(http_url: str, connection_id: str) -> int:
    """The Management API's DELETE @connections/{id}: the server closes that socket."""
    request = urllib.request.Request(f"{http_url}/@connections/{connection_id}", method="DELETE")
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status


@dataclass
class Watch:
    """What went wrong in one page: uncaught errors, dialogs (an alert = injected script),
    Content-Security-Policy violations."""

    name: str
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [f"{self.name}: {kind}: {text}" for kind, items in
                (("page error", self.errors), ("dialog", self.dialogs), ("CSP", self.csp))
                for text in items]  # fmt: skip


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make test does)",
                    pytrace=False)  # fmt: skip
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def watched_page(context: BrowserContext, name: str) -> Page:
    """A page of `context` whose page errors, dialogs and CSP reports are kept on its
    ``watch`` (a Watch named `name`), for the test to fail on."""
    watch = Watch(name)
    page = context.new_page()
    page.set_default_timeout(CALL_TIMEOUT_MS)
    page.on("pageerror", lambda error: watch.errors.append(str(error)))

    def on_dialog(dialog) -> None:
        watch.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)

    def on_console(message) -> None:
        text = message.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            watch.csp.append(text)

    page.on("console", on_console)
    page.watch = watch  # type: ignore[attr-defined]
    return page


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    contexts: list[BrowserContext] = []
    watches: list[Watch] = []

    def _open(name: str, **options) -> Page:
        context = browser.new_context(viewport=options.pop("viewport", VIEWPORT), **options)
        contexts.append(context)
        page = watched_page(context, name)
        watches.append(page.watch)
        return page

    yield _open
    problems = [problem for watch in watches for problem in watch.problems()]
    for context in contexts:
        context.close()
    assert not problems, "\n".join(problems)
