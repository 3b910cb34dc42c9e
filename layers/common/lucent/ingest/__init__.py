"""Ingest (``POST /api/sdk/replay``): decoding and validating a batch (``batch``), its S3 key
and stored bytes (``replays``), the bucket (``store``) and the request's order of work
(``service``)."""
