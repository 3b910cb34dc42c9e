"""Lucent's domain logic, shared by every Lambda function through the common layer.

Modules stay import-light on purpose: the authorizer runs before every ingest request, so nothing
here imports pydantic, Powertools' event handler or the X-Ray SDK at module level unless the
module's only users are functions that need them anyway.
"""
