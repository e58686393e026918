"""The one definition of the DynamoDB table: key names, item kinds and the TTL attribute.

Imported by the Lambda code (store), the CDK table construct and the local stack, so the
schema exists once. Plain constants only: this module imports nothing.

Items (all in one table, keyed by a partition key and a sort key, both strings):
- room:       pk ``ROOM#<room>``     sk ``ROOM``  ``room``, ``v`` (version, bumped by every
  write), ``members`` (map peer id -> {name, conn, sess (SHA-256 of the session), joined})
- peer:       pk ``PEER#<peer id>``  sk ``PEER``  ``room``, ``conn`` (where a signal goes)
- connection: pk ``CONN#<conn id>``  sk ``CONN``  ``room``, ``peer`` (who a connection is)
- rate:       pk ``RATE#<conn id>``  sk ``W#<window>``  ``n`` (messages the connection sent in
  that window of the fair-use budget)
Every item carries ``expiresAt`` (epoch seconds) for DynamoDB's TTL. See docs/table-design.md.
"""

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expiresAt"

ROOM_PREFIX = "ROOM#"
PEER_PREFIX = "PEER#"
CONNECTION_PREFIX = "CONN#"
RATE_PREFIX = "RATE#"
RATE_WINDOW_PREFIX = "W#"

ROOM_SORT = "ROOM"
PEER_SORT = "PEER"
CONNECTION_SORT = "CONN"

# Items live past API Gateway's 2-hour connection limit, so TTL only sweeps what
# $disconnect (best effort) missed.
DEFAULT_TTL_SECONDS = 3 * 60 * 60

# Default name used by the local stack and tests; the CDK stack lets CloudFormation name it.
LOCAL_TABLE_NAME = "p2pchat-local"

# For boto3 create_table and the CDK construct alike.
KEY_SCHEMA = [
    {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
    {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
]
ATTRIBUTE_DEFINITIONS = [
    {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
    {"AttributeName": SORT_KEY, "AttributeType": "S"},
]
