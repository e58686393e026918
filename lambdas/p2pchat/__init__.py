"""P2PChat signaling: rooms in DynamoDB, payloads relayed through API Gateway's Management API."""
