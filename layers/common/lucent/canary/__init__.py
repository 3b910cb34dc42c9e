"""The canary: replaying events/ as real HTTP requests against a deployment (``engine``), with
its credentials read from Secrets Manager (``store``)."""
