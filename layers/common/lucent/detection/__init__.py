"""Detection: rrweb events in, signals, issues and a session timeline out (docs/detection.md).

``mirror`` rebuilds the page from FullSnapshot + mutations (selectors, visible text);
``rules`` holds every threshold, fingerprint, title and severity rule; ``detector`` is the
per-session pass over events (pure, resumable from its state); ``store`` and ``service`` make it
exactly-once over S3 and SQS; ``insights`` derives insights from issues.
"""
