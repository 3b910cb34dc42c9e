"""Per-key rate limiting: the sliding-window rule (``window``), the per-container limiter with
its caches (``limiter``) and the counter table (``store``)."""
