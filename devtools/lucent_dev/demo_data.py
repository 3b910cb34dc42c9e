"""A realistic, deterministic demo data set for the Data API: 25 issues, 120 signals, 8 insights.

The same organization id always gives the same items (ids included), so seeding twice overwrites
instead of duplicating; two organizations get different ids. Timestamps fall in the 30 days
before ``DEMO_ANCHOR`` unless another anchor is given.

``seed(dynamodb_client, table_name, org_id)`` is what ``lucent data seed`` and the local API call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any

from lucent.issues.models import (
    Impact,
    Insight,
    InsightCategory,
    Issue,
    IssueKind,
    IssueStatus,
    Severity,
    Signal,
    new_id,
)
from lucent.issues.store import DataStore

DEMO_ANCHOR = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
SITE = "https://shop.example.com"
DEMO_UPDATER = "cred_demo_seed"
SIGNAL_COUNT = 120

K = IssueKind
# (kind, title, path, selector, detail of one signal). Titles read like what the product shows.
ISSUE_TEMPLATES: tuple[tuple[IssueKind, str, str, str | None, str], ...] = (
    (
        K.RAGE_CLICK,
        "Rage clicks on 'Apply coupon'",
        "/checkout",
        "button#apply-coupon",
        "{n} clicks in {s} s, no response",
    ),
    (
        K.RAGE_CLICK,
        "Rage clicks on the size selector",
        "/products/trail-runner-2",
        "ul.size-picker > li",
        "{n} clicks in {s} s on a disabled size",
    ),
    (
        K.RAGE_CLICK,
        "Rage clicks on 'Next' in onboarding step 2",
        "/onboarding/step-2",
        "button[data-test=next]",
        "{n} clicks in {s} s while validation spinner shows",
    ),
    (
        K.DEAD_CLICK,
        "Dead clicks on pricing plan cards",
        "/pricing",
        "div.plan-card",
        "click produced no navigation or DOM change within 1 s",
    ),
    (
        K.DEAD_CLICK,
        "Dead clicks on product image thumbnails",
        "/products/trail-runner-2",
        "img.thumb",
        "thumbnail click did not change the main image",
    ),
    (
        K.DEAD_CLICK,
        "Dead clicks on 'Terms' link text in signup",
        "/signup",
        "label[for=terms] span",
        "text looks like a link but is not one",
    ),
    (
        K.ERROR_CLICK,
        "'Export CSV' click throws TypeError",
        "/reports/export",
        "button#export-csv",
        "click followed by TypeError within {ms} ms",
    ),
    (
        K.ERROR_CLICK,
        "'Save' in billing settings throws an error",
        "/settings/billing",
        "form#billing button[type=submit]",
        "click followed by ReferenceError: stripe is not defined",
    ),
    (
        K.JS_ERROR,
        "TypeError: Cannot read properties of undefined (reading 'total')",
        "/cart",
        None,
        "TypeError at cart.bundle.js:2141:17",
    ),
    (
        K.JS_ERROR,
        "ChunkLoadError: Loading chunk 412 failed",
        "/dashboard",
        None,
        "ChunkLoadError after deploy, chunk 412 returned 404",
    ),
    (
        K.JS_ERROR,
        "Unhandled promise rejection in search suggestions",
        "/search",
        None,
        "AbortError: The user aborted a request (suggest.js:88)",
    ),
    (
        K.JS_ERROR,
        "ResizeObserver loop limit exceeded on reports",
        "/reports",
        None,
        "ResizeObserver loop completed with undelivered notifications",
    ),
    (
        K.NETWORK_ERROR,
        "POST /api/payments returns 502",
        "/checkout/payment",
        None,
        "POST /api/payments 502 in {ms} ms",
    ),
    (
        K.NETWORK_ERROR,
        "GET /api/recommendations times out",
        "/products/trail-runner-2",
        None,
        "GET /api/recommendations timed out after {ms} ms",
    ),
    (
        K.NETWORK_ERROR,
        "Address lookup returns 429",
        "/checkout",
        None,
        "GET /api/address-lookup 429 Too Many Requests",
    ),
    (
        K.SLOW_PAGE,
        "Dashboard takes over 6 s to become interactive",
        "/dashboard",
        None,
        "LCP {lcp} s, TTI {tti} s",
    ),
    (
        K.SLOW_PAGE,
        "Search results render slowly on mobile",
        "/search",
        None,
        "LCP {lcp} s on a mid-range Android device",
    ),
    (
        K.SLOW_PAGE,
        "Order history loads all orders at once",
        "/account/orders",
        None,
        "LCP {lcp} s, 1.8 MB JSON response",
    ),
    (
        K.FORM_ABANDONMENT,
        "Signup abandoned at the company-size field",
        "/signup",
        "select#company-size",
        "left the form after {sec} s on company_size",
    ),
    (
        K.FORM_ABANDONMENT,
        "Checkout abandoned at shipping address",
        "/checkout",
        "form#shipping",
        "left after {sec} s; postcode field showed an error",
    ),
    (
        K.FORM_ABANDONMENT,
        "Contact-sales form abandoned at phone number",
        "/contact-sales",
        "input#phone",
        "left after {sec} s; phone format rejected twice",
    ),
    (
        K.LAYOUT_SHIFT,
        "Promo banner shifts 'Place order' during load",
        "/checkout",
        "button#place-order",
        "CLS {cls}; button moved 64 px down before click",
    ),
    (
        K.LAYOUT_SHIFT,
        "Cookie banner pushes the hero CTA",
        "/",
        "a.hero-cta",
        "CLS {cls} when the consent banner mounts",
    ),
    (
        K.RAGE_CLICK,
        "Rage clicks on the date-range picker",
        "/reports",
        "div.date-range-picker",
        "{n} clicks in {s} s, popover closes immediately",
    ),
    (
        K.DEAD_CLICK,
        "Dead clicks on the disabled 'Invite teammate' button",
        "/settings/team",
        "button#invite[disabled]",
        "button is disabled with no explanation",
    ),
)

_SEVERITY_BY_KIND: dict[IssueKind, tuple[Severity, ...]] = {
    K.RAGE_CLICK: (Severity.MEDIUM, Severity.HIGH),
    K.DEAD_CLICK: (Severity.LOW, Severity.MEDIUM),
    K.ERROR_CLICK: (Severity.HIGH, Severity.CRITICAL),
    K.JS_ERROR: (Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL),
    K.NETWORK_ERROR: (Severity.HIGH, Severity.CRITICAL),
    K.SLOW_PAGE: (Severity.LOW, Severity.MEDIUM, Severity.HIGH),
    K.FORM_ABANDONMENT: (Severity.MEDIUM, Severity.HIGH),
    K.LAYOUT_SHIFT: (Severity.LOW, Severity.MEDIUM),
}


@dataclass(frozen=True)
class DemoData:
    issues: list[Issue]
    signals: list[Signal]
    insights: list[Insight]

    def counts(self) -> dict[str, int]:
        return {
            "issues": len(self.issues),
            "signals": len(self.signals),
            "insights": len(self.insights),
        }


def _detail(template: str, rng: Random) -> str:
    return template.format(
        n=rng.randint(4, 11),
        s=round(rng.uniform(0.8, 2.5), 1),
        ms=rng.choice((120, 340, 870, 1840, 3020, 10000)),
        lcp=round(rng.uniform(3.1, 7.4), 1),
        tti=round(rng.uniform(5.0, 9.8), 1),
        sec=rng.randint(9, 140),
        cls=round(rng.uniform(0.12, 0.42), 2),
    )


def generate(org_id: str, anchor: datetime = DEMO_ANCHOR) -> DemoData:
    """The demo data of one organization; the same arguments always give the same data."""
    rng = Random(f"lucent-demo:{org_id}")
    window = timedelta(days=30)
    templates = list(ISSUE_TEMPLATES)
    rng.shuffle(templates)

    # Each issue gets at least two signals; the rest go to the noisier issues.
    weights = [rng.uniform(0.5, 4.0) for _ in templates]
    signal_counts = [2] * len(templates)
    for _ in range(SIGNAL_COUNT - sum(signal_counts)):
        signal_counts[rng.choices(range(len(templates)), weights)[0]] += 1

    issues: list[Issue] = []
    signals: list[Signal] = []
    for (kind, title, path, selector, detail), n_signals in zip(
        templates, signal_counts, strict=True
    ):
        first_seen = anchor - window + timedelta(seconds=rng.randint(0, 26 * 86400))
        last_seen = first_seen + timedelta(
            seconds=rng.randint(3600, int((anchor - first_seen).total_seconds()))
        )
        occurrences = n_signals * rng.randint(3, 40)
        sessions = max(n_signals, int(occurrences * rng.uniform(0.3, 0.8)))
        users = max(1, int(sessions * rng.uniform(0.5, 0.95)))
        status = rng.choices(
            (IssueStatus.OPEN, IssueStatus.RESOLVED, IssueStatus.IGNORED), (60, 25, 15)
        )[0]
        updated_at = (
            last_seen + timedelta(hours=rng.randint(1, 48))
            if status is not IssueStatus.OPEN
            else None
        )
        issue = Issue(
            id=new_id("iss_", first_seen, rng),
            title=title,
            kind=kind,
            severity=rng.choice(_SEVERITY_BY_KIND[kind]),
            status=status,
            occurrences=occurrences,
            sessions_affected=sessions,
            users_affected=users,
            first_seen=first_seen,
            last_seen=last_seen,
            url=SITE + path,
            status_updated_at=min(updated_at, anchor) if updated_at else None,
            status_updated_by=DEMO_UPDATER if updated_at else None,
        )
        issues.append(issue)

        # Signals cluster in sessions: rage clicks and abandonments repeat within one session.
        span = int((last_seen - first_seen).total_seconds())
        session_ids = [f"sess_{rng.getrandbits(64):016x}" for _ in range(max(1, n_signals // 2))]
        for index in range(n_signals):
            offset = 0 if index == 0 else span if index == 1 else rng.randint(0, span)
            occurred_at = first_seen + timedelta(seconds=offset)
            signals.append(
                Signal(
                    id=new_id("sig_", occurred_at, rng),
                    issue_id=issue.id,
                    kind=kind,
                    session_id=rng.choice(session_ids),
                    replay_timestamp_ms=rng.randint(2_000, 900_000),
                    occurred_at=occurred_at,
                    url=SITE + path,
                    selector=selector,
                    detail=_detail(detail, rng),
                )
            )

    issues.sort(key=lambda i: i.id)
    signals.sort(key=lambda s: s.id)
    return DemoData(issues, signals, _insights(issues, anchor, rng))


def _insights(issues: list[Issue], anchor: datetime, rng: Random) -> list[Insight]:
    def where(predicate: Callable[[Issue], bool]) -> list[Issue]:
        return [i for i in issues if predicate(i)]

    def sessions(related: list[Issue]) -> int:
        return sum(i.sessions_affected for i in related)

    checkout = where(lambda i: "/checkout" in i.url)
    signup = where(lambda i: i.url.endswith(("/signup", "/onboarding/step-2")))
    slow = where(lambda i: i.kind is K.SLOW_PAGE)
    errors = where(lambda i: i.kind in (K.JS_ERROR, K.ERROR_CLICK))
    dead = where(lambda i: i.kind is K.DEAD_CLICK)
    network = where(lambda i: i.kind is K.NETWORK_ERROR)
    shifts = where(lambda i: i.kind is K.LAYOUT_SHIFT)
    product = where(lambda i: "/products/" in i.url)

    specs: list[tuple[str, str, InsightCategory, Impact, list[Issue]]] = [
        (
            "Checkout friction is concentrated in three steps",
            f"{len(checkout)} issues on checkout pages affected {sessions(checkout)} sessions. "
            "Coupon rage clicks, shipping-address abandonment and payment 502s occur in the same "
            "sessions: fixing the payment endpoint first removes the largest share.",
            InsightCategory.CONVERSION,
            Impact.HIGH,
            checkout,
        ),
        (
            "New sign-ups stall before their first project",
            f"{sessions(signup)} sessions hit friction in signup or onboarding step 2; the "
            "company-size field and the slow 'Next' validation account for most drop-offs.",
            InsightCategory.CONVERSION,
            Impact.HIGH,
            signup,
        ),
        (
            "Slow pages cost engagement on dashboard and search",
            f"{len(slow)} slow-page issues; sessions with LCP above 4 s end 38% sooner. The "
            "dashboard's initial bundle and the unpaginated order history are the main causes.",
            InsightCategory.PERFORMANCE,
            Impact.MEDIUM,
            slow,
        ),
        (
            "Front-end errors cluster after deploys",
            f"{len(errors)} error issues; ChunkLoadError spikes within an hour of each deploy, "
            "which points to stale chunks being served to open tabs.",
            InsightCategory.RELIABILITY,
            Impact.HIGH,
            errors,
        ),
        (
            "Elements that look clickable but are not",
            f"{len(dead)} dead-click patterns: plan cards, thumbnails and a disabled invite button "
            "without explanation. Making them interactive or explaining why not removes the clicks.",
            InsightCategory.USABILITY,
            Impact.MEDIUM,
            dead,
        ),
        (
            "Backend failures surface as user-facing errors",
            f"{len(network)} failing endpoints were seen by users in {sessions(network)} sessions; "
            "none of them shows a retry or an error message.",
            InsightCategory.RELIABILITY,
            Impact.HIGH,
            network,
        ),
        (
            "Layout shifts move buttons under the cursor",
            f"{len(shifts)} layout-shift issues; on checkout the promo banner moves 'Place order' "
            "just before users click, causing mis-clicks.",
            InsightCategory.ACCESSIBILITY,
            Impact.LOW,
            shifts,
        ),
        (
            "Product pages lose shoppers before add-to-cart",
            f"{len(product)} issues on product pages affected {sessions(product)} sessions: "
            "disabled sizes without explanation and slow recommendations.",
            InsightCategory.USABILITY,
            Impact.MEDIUM,
            product,
        ),
    ]
    insights = []
    for index, (title, summary, category, impact, related) in enumerate(specs):
        created_at = anchor - timedelta(days=len(specs) - index, hours=rng.randint(0, 12))
        insights.append(
            Insight(
                id=new_id("ins_", created_at, rng),
                title=title,
                summary=summary,
                category=category,
                impact=impact,
                related_issue_ids=[i.id for i in related],
                created_at=created_at,
            )
        )
    return insights


def seed(dynamodb_client: Any, table_name: str, org_id: str) -> dict[str, int]:
    """Write the demo data of ``org_id`` into the data table; returns counts by entity."""
    data = generate(org_id)
    DataStore(dynamodb_client, table_name).put_all(org_id, data.issues, data.signals, data.insights)
    return data.counts()
