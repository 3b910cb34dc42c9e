"""``lucent keys create|revoke|list``: issue and manage credentials. Secrets are printed once."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from lucent.auth.credentials import (
    CredentialIssueError,
    CredentialKind,
    hash_secret,
    issue_credential,
    kind_of,
)
from lucent.auth.store import CredentialStore
from lucent.errors import CredentialExists, ServiceUnavailable
from lucent.oauth.store import OAuthStore
from lucent_dev.cli import UsageError
from lucent_dev.target import Target, TargetError, resolve


def register(subparsers: Any) -> None:
    keys = subparsers.add_parser("keys", help="create, revoke and list credentials")
    actions = keys.add_subparsers(dest="action", required=True)

    create = actions.add_parser("create", help="issue a credential; prints only the secret")
    create.add_argument("--org", required=True, help="organization id the credential belongs to")
    create.add_argument("--kind", required=True, choices=[k.value for k in CredentialKind])
    create.add_argument(
        "--allow-issue-status-updates",
        action="store_true",
        help="API keys: add write:issues to the default read:lucent",
    )
    create.add_argument("--scopes", nargs="+", metavar="SCOPE", help="scopes to grant")
    create.add_argument("--expires-in", type=int, metavar="SECONDS", help="lifetime in seconds")
    create.add_argument("--rate-limit", type=int, metavar="N", help="public keys: requests/min")
    create.add_argument("--label", default="", help="a note shown in listings")
    _target_options(create)
    create.set_defaults(run=run_create)

    revoke = actions.add_parser(
        "revoke",
        help="revoke a credential by its secret or id; an OAuth token or grant (fam_...) ends "
        "the whole grant: its access tokens and refresh tokens",
    )
    revoke.add_argument("credential", metavar="CREDENTIAL_OR_ID")
    _target_options(revoke)
    revoke.set_defaults(run=run_revoke)

    listing = actions.add_parser("list", help="list an organization's credentials (no secrets)")
    listing.add_argument("--org", required=True)
    listing.add_argument("--json", action="store_true", help="one JSON document")
    _target_options(listing)
    listing.set_defaults(run=run_list)


def _target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--local", action="store_true", help="use the running local API (.lucent/dev.json)"
    )
    parser.add_argument("--stack", help="read table names from this CloudFormation stack")


def _target(args: argparse.Namespace) -> Target:
    try:
        return resolve(args.local, args.stack)
    except (TargetError, RuntimeError) as exc:
        raise UsageError(str(exc)) from exc


def _store(args: argparse.Namespace) -> CredentialStore:
    target = _target(args)
    try:
        table = target.settings.require("credentials_table")
    except RuntimeError as exc:
        raise UsageError(str(exc)) from exc
    return CredentialStore(target.client("dynamodb"), table)


def _revoke_grant(args: argparse.Namespace, store: CredentialStore, family_id: str) -> int:
    """End an OAuth grant (docs/oauth.md): its refresh family, then every access token in it."""
    target = _target(args)
    try:
        table = target.settings.require("oauth_table")
    except RuntimeError as exc:
        raise UsageError(f"{exc} (the OAuth table holds the grant's refresh tokens)") from exc
    now = int(time.time())
    family = OAuthStore(target.client("dynamodb"), table).revoke_family(family_id, now)
    if family is None:
        raise UsageError(f"no such OAuth grant: {family_id}")
    for key_hash in sorted(family.access_key_hashes):
        store.revoke(key_hash, now)
    print(
        f"revoked OAuth grant {family_id} (client {family.client_id}, "
        f"{len(family.access_key_hashes)} access token(s)) at {family.revoked_at}"
    )
    return 0


def run_create(args: argparse.Namespace) -> int:
    try:
        issued = issue_credential(
            CredentialKind(args.kind),
            args.org,
            scopes=args.scopes,
            allow_issue_status_updates=args.allow_issue_status_updates,
            expires_in=args.expires_in,
            rate_limit=args.rate_limit,
            label=args.label,
        )
    except CredentialIssueError as exc:
        raise UsageError(str(exc)) from exc
    try:
        _store(args).put(issued)
    except (CredentialExists, ServiceUnavailable) as exc:
        raise UsageError(
            f"could not store the credential: {exc.message} ({exc.__cause__})"
        ) from exc
    print(
        f"created {issued.record.credential_id} ({issued.record.kind.value}, org "
        f"{issued.record.org_id}, scopes: {' '.join(sorted(issued.record.scopes)) or '-'}); "
        "the secret is shown once, on stdout",
        file=sys.stderr,
    )
    print(issued.secret)
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    store = _store(args)
    given: str = args.credential
    if given.startswith("fam_"):
        return _revoke_grant(args, store, given)
    if kind_of(given) is not None:
        key_hash: str | None = hash_secret(given)
    elif given.startswith("cred_"):
        key_hash = store.find_key_hash(given)
    else:
        raise UsageError("give a credential (luc_...) or a credential id (cred_...)")
    record = store.revoke(key_hash, int(time.time())) if key_hash else None
    if record is None:
        raise UsageError(
            f"no such credential: {given if given.startswith('cred_') else '(secret)'}"
        )
    print(f"revoked {record.credential_id} at {record.revoked_at}")
    if record.family_id:
        # An OAuth token: its refresh token would mint a new one, so the grant ends too.
        return _revoke_grant(args, store, record.family_id)
    return 0


def run_list(args: argparse.Namespace) -> int:
    records = sorted(_store(args).list_for_org(args.org), key=lambda r: r.created_at)
    described = [r.describe() for r in records]
    if args.json:
        print(json.dumps(described, indent=2))
        return 0
    print(f"{'ID':<22} {'KIND':<7} {'KEY':<16} {'SCOPES':<26} {'STATUS':<8} LABEL")
    now = time.time()
    for record in records:
        status = (
            "revoked" if record.revoked_at else ("active" if record.is_usable(now) else "expired")
        )
        key = f"{record.describe()['prefix']}...{record.last4}"
        scopes = " ".join(sorted(record.scopes)) or "-"
        label = record.label
        if record.family_id:
            label += f" (grant {record.family_id}, client {record.client_id}, {record.resource})"
        print(
            f"{record.credential_id:<22} {record.kind.value:<7} {key:<16} {scopes:<26} {status:<8} {label}"
        )
    return 0
