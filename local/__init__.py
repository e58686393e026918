"""The local stack: the whole product on one machine (``python -m local``, run by ``make run``).

- ``local.stack``: the one composition: database, table, the function (``build_handler``) and
  the gateway on one port, from explicit settings (``run_stack``; ``start_local_stack`` runs
  it on a thread of its own, for tests and scripts).
- ``local.dynamodb``: DynamoDB Local (or moto, or any endpoint) and the table.
- ``local.gateway``: the aiohttp app imitating API Gateway, made of ``local.websocket`` (the
  WebSocket API, with ``local.framelimit``), ``local.management`` (the Management API) and
  ``local.site`` (the static site and ``/config.json``); ``local.events`` synthesizes the
  events and the Lambda context.
- ``local.__main__``: reads the environment, logs, and stops everything on Ctrl-C or SIGTERM.

The map with line counts: docs/local-stack.md.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository
