"""Public on-demand prices, us-east-1, with where each was read (see docs/benchmarks.md).

Checked on 2026-11-25 through the pages named below (the AWS pricing pages render their
tables from price tokens, so where the number itself is not on the captured AWS page, the
second source quotes it). Free tiers are ignored: these are the marginal prices.
"""

REGION = "us-east-1"

# Amazon API Gateway, WebSocket APIs: "Pay only for messages sent and received and the total
# number of connection minutes ... Messages are metered in 32 KB increments."
# https://aws.amazon.com/api-gateway/pricing/ ; rates as quoted by
# https://amnic.com/blogs/aws-api-gateway-pricing ("$1.00/M messages + $0.25/M
# connection-minutes") and https://awsforengineers.com/blog/aws-api-gateway-pricing-explained
# ("WebSocket APIs: $1.00 per million messages (first 1B)").
APIGW_PER_MESSAGE = 1.00 / 1e6  # first 1 billion messages a month
APIGW_MESSAGE_METER_BYTES = 32 * 1024
APIGW_PER_CONNECTION_MINUTE = 0.25 / 1e6

# AWS Lambda, Arm (Graviton2), first 7.5 billion GB-s a month; duration rounded up to 1 ms.
# https://aws.amazon.com/lambda/pricing/ ; rates as quoted by
# https://cloudchipr.com/blog/aws-lambda-pricing ("ARM ... First 7.5 Billion GB-seconds per
# month: $0.0000133334 per GB-second") and requests "$0.20 / 1M".
LAMBDA_ARM_PER_GB_SECOND = 0.0000133334
LAMBDA_PER_REQUEST = 0.20 / 1e6

# Amazon DynamoDB on-demand (Standard table class), after the 1 November 2024 price cut.
# https://aws.amazon.com/dynamodb/pricing/on-demand/ ; rates as quoted by
# https://airbyte.com/data-engineering-resources/dynamodb-pricing ("After the 50% reduction
# implemented in late 2024: Write Request Units (WRU): $0.625 per million ... Read Request
# Units (RRU): $0.125 per million").
DDB_PER_WRU = 0.625 / 1e6
DDB_PER_RRU = 0.125 / 1e6

# Amazon Kinesis Video Streams with WebRTC: "the number of active signaling channels in a
# month, the number of signaling messages sent and received, and TURN streaming minutes
# (metered in 1-minute increments)" https://aws.amazon.com/kinesis/video-streams/pricing/
# (the German and Japanese editions carry that text); US-East rates quoted from the page's
# examples by the api-evangelist transcription
# (github.com/api-evangelist/amazon-kinesis-video-streams, plans/...-plans-pricing.yml):
# "$0.03 per month for an active signaling channel", "$2.25 for a million signaling
# messages". TURN $0.12 per 1,000 streaming minutes is the figure in the brief; the
# transcription we could read stops before it (not independently verified).
KVS_PER_ACTIVE_CHANNEL_MONTH = 0.03
KVS_PER_SIGNALING_MESSAGE = 2.25 / 1e6
KVS_PER_TURN_MINUTE = 0.12 / 1000

# DynamoDB capacity arithmetic (https://docs.aws.amazon.com/amazondynamodb/latest/
# developerguide/read-write-operations.html): a read unit covers 4 KB (strongly consistent
# read: 1 RRU, eventually consistent: 0.5); a write unit covers 1 KB; transactional reads
# and writes cost double. A Scan is charged on the total size of the items it reads
# (not the projected attributes), in 4 KB steps, per 1 MB page.
READ_UNIT_BYTES = 4 * 1024
WRITE_UNIT_BYTES = 1024
SCAN_PAGE_BYTES = 1024 * 1024


def apigw_messages(size_bytes: int) -> int:
    """Billed messages for one WebSocket message of this size (32 KB increments)."""
    return max(1, -(-size_bytes // APIGW_MESSAGE_METER_BYTES))
