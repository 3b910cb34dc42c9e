"""Subcommands of the ``lucent`` CLI. Each module exposes ``register(subparsers)``."""
