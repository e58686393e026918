"""``python -m local`` (what ``make run`` runs): the whole product on this machine.

Reads its settings from the environment (the only place in local/ that does; the variables:
docs/local-stack.md), makes the console readable, runs ``local.stack.run_stack`` on PORT
(default 8080) of the loopback interfaces until Ctrl-C or SIGTERM, which stop everything, the
JVM and coturn (``TURN=1``) included. A bad setting, a busy port, a missing java or turnserver
is one line and exit status 1.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from local.console import CompactStream
from local.coturn import CoturnUnavailable
from local.dynamodb import DatabaseUnavailable
from local.stack import StackSettings, StartupError, run_stack
from p2pchat import observability

log = logging.getLogger("local")


def main() -> int:
    try:
        settings = StackSettings.from_env(os.environ)
    except StartupError as error:
        print(f"p2pchat: {error}", file=sys.stderr, flush=True)
        return 1
    console(metrics=settings.metrics, function_level=os.environ.get("POWERTOOLS_LOG_LEVEL"))
    try:
        asyncio.run(serve(settings))
    except (StartupError, DatabaseUnavailable, CoturnUnavailable) as error:
        print(f"p2pchat: {error}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers are installed
        return 130
    return 0


def console(*, metrics: bool, function_level: str | None) -> None:
    """A line per connection event (the ``local`` logger), the function's Powertools JSON
    made readable (local.console), its EMF metric lines only when ``metrics``, libraries'
    warnings and errors."""
    sys.stdout = CompactStream(sys.stdout, metrics=metrics)
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stdout,
    )
    log.setLevel(logging.INFO)
    # The function's logger was made at import, writing to the stdout of then: its JSON lines
    # go through the compacting stream instead, once (not again through the root's handler).
    observability.logger.registered_handler.setStream(sys.stdout)
    observability.logger.setLevel(function_level or "WARNING")  # the gateway logs each event
    logging.getLogger(observability.SERVICE).propagate = False


async def serve(settings: StackSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _on_signal, stop)
    async with run_stack(settings, log=log) as stack:
        print(f"P2PChat is running at http://localhost:{stack.port}/  (Ctrl-C stops it)",
              flush=True)  # fmt: skip
        await stop.wait()
        log.info("stopping")


def _on_signal(stop: asyncio.Event) -> None:
    if stop.is_set():  # a second Ctrl-C: leave now (the JVM and coturn die with us:
        os._exit(130)  # their parent-death signal)
    stop.set()


if __name__ == "__main__":
    sys.exit(main())
