"""How this machine's Chromium is driven with a fake camera and microphone.

Shared by the browser tests (tests/e2e) and the benchmarks (bench/), so both run the same
browser the same way. The flags are the ones ../shared/FACTS.md measured: fake media without
a permission prompt, and no background traffic to hosts this machine cannot reach.
"""

CHROMIUM = "/usr/bin/chromium"  # Debian's package; `make test` installs it as root
CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Headless Chromium still builds the omnibox popups' WebUI: a renderer process per window
    # that nobody sees, about 0.6 s of CPU each, some of it while a page loads (measured in
    # a trace of the benchmark's calls, docs/benchmarks.md). Both features must be off.
    "--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup",
]
