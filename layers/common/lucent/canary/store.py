"""The canary's credentials, a JSON object of role -> value in one Secrets Manager secret."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lucent.errors import ConfigurationError, ServiceUnavailable


class CanarySecretStore:
    def __init__(self, client: Any, secret_arn: str) -> None:
        self._client = client
        self._secret_arn = secret_arn

    def credentials(self) -> dict[str, str]:
        """The deployment's credentials by role (read on every run: rotation takes effect)."""
        try:
            secret = self._client.get_secret_value(SecretId=self._secret_arn)["SecretString"]
        except (ClientError, BotoCoreError) as exc:
            raise ServiceUnavailable("canary credentials secret unreadable") from exc
        try:
            loaded = json.loads(secret)
        except ValueError as exc:
            raise ConfigurationError("the canary secret is not JSON") from exc
        if not isinstance(loaded, dict):
            raise ConfigurationError("the canary secret must be a JSON object of role -> value")
        return {str(k): str(v) for k, v in loaded.items() if isinstance(v, str | int)}
