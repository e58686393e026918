"""The local database: DynamoDB Local starts, holds the table from table_spec, and stops
leaving no JVM; moto's single-threaded server and an external endpoint are the alternatives."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from local import ROOT, dynamodb
from local.stack import SettingError, StackSettings
from p2pchat import table_spec
from tests.local.kit import alive


def test_fresh_table_has_the_spec_keys(dynamodb_endpoint, fresh_table):
    """The table is built from table_spec: pk/sk strings, on demand, TTL on expiresAt."""
    client = dynamodb.client(dynamodb_endpoint)
    table = client.describe_table(TableName=fresh_table)["Table"]
    assert table["KeySchema"] == table_spec.KEY_SCHEMA
    assert table["TableStatus"] == "ACTIVE"
    ttl = client.describe_time_to_live(TableName=fresh_table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == table_spec.TTL_ATTRIBUTE
    assert client.scan(TableName=fresh_table)["Count"] == 0


def test_create_table_is_idempotent(dynamodb_endpoint, fresh_table):
    """A second create leaves the existing table alone and says so, whether it is given the
    endpoint or a client."""
    assert dynamodb.create_table(dynamodb_endpoint, fresh_table) is False
    assert dynamodb.create_table(dynamodb.client(dynamodb_endpoint), fresh_table) is False


def test_dynamodb_local_stops_leaving_no_jvm():
    """stop() ends the JVM and its whole process group; the port is free again."""
    database = dynamodb.start_dynamodb_local()
    assert database.kind == "dynamodb-local"
    assert alive(database.pid)
    dynamodb.create_table(database.endpoint, "stop-test")
    database.stop()
    assert not alive(database.pid)
    with pytest.raises(ProcessLookupError):
        os.killpg(database.pid, 0)
    database.stop()  # idempotent


def test_dynamodb_local_dies_with_a_killed_parent(tmp_path):
    """SIGKILL on the Python process that started it takes the JVM down too."""
    script = textwrap.dedent(
        """
        import sys
        from local import dynamodb
        database = dynamodb.start_dynamodb_local()
        print(database.pid, flush=True)
        sys.stdin.readline()
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    jvm = int(parent.stdout.readline())
    assert alive(jvm)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    # The JVM is not our child: watch /proc until it is gone (pytest-timeout bounds the wait).
    while alive(jvm):
        time.sleep(0.05)


def test_missing_java_is_one_clear_error(monkeypatch):
    """Without java on PATH the error names what to install and the moto alternative."""
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(dynamodb.DatabaseUnavailable, match=r"java is missing.*LOCAL_DYNAMODB=moto"):
        dynamodb.start_dynamodb_local()


def test_moto_fallback_serves_the_table():
    """moto (LOCAL_DYNAMODB=moto) gives moto's app on a loopback port; the table can be
    created."""
    with dynamodb.start_database("moto") as database:
        assert database.kind == "moto"
        assert dynamodb.create_table(database.endpoint, "moto-table") is True
        names = dynamodb.client(database.endpoint).list_tables()["TableNames"]
        assert "moto-table" in names


def test_external_endpoint_is_used_as_is(dynamodb_endpoint):
    """An endpoint (DYNAMODB_ENDPOINT) replaces the local database: nothing is started."""
    database = dynamodb.start_database("dynamodb-local", endpoint=dynamodb_endpoint)
    assert (database.kind, database.endpoint, database.pid) == ("external", dynamodb_endpoint, None)
    database.stop()


def test_unknown_backend_is_refused():
    with pytest.raises(dynamodb.DatabaseUnavailable, match=r"'sqlite' is not known"):
        dynamodb.start_database("sqlite")
    with pytest.raises(SettingError, match=r"LOCAL_DYNAMODB='sqlite' is not known"):
        StackSettings.from_env({"LOCAL_DYNAMODB": "sqlite"})
