"""The local stack: the whole product on one machine (``python -m local``, run by ``make run``).

- ``local.dynamodb``: DynamoDB Local (or moto, or any endpoint) and the table.
- ``local.gateway``: an aiohttp imitation of API Gateway's WebSocket API and Management API,
  plus the static site and ``/config.json``.
- ``local.__main__``: wires the two, logs, and stops everything on Ctrl-C or SIGTERM.

The Lambda code lives in ``lambdas/``; importing this package puts it on ``sys.path``.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository
LAMBDAS = str(ROOT / "lambdas")
if LAMBDAS not in sys.path:
    sys.path.insert(0, LAMBDAS)
