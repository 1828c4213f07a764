"""Demo data for the leads app: campaigns, the default scoring rules, and a few hundred leads
with engagement histories over the last ~60 days (called by `manage.py seed_demo`).

Deterministic for a given random seed, and idempotent: leads are keyed by email and events by
external id, so a second run finds everything in place and adds nothing. Written with the same
set-based bulk upsert the API uses, so it is quick on SQLite too.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from django.db import transaction

from core.bulksql import update_rows
from leads import services
from leads.models import Campaign, EventKind, Lead, PqlCriterion, Source

FIRST_NAMES = [
    "Ava",
    "Liam",
    "Olivia",
    "Noah",
    "Emma",
    "Lucas",
    "Mia",
    "Ethan",
    "Sofia",
    "Mateo",
    "Zoe",
    "Arjun",
    "Priya",
    "Chen",
    "Wei",
    "Yuki",
    "Hana",
    "Lars",
    "Ingrid",
    "Pierre",
    "Camille",
    "Giulia",
    "Marco",
    "Fatima",
    "Omar",
    "Amara",
    "Kwame",
    "Sven",
    "Elena",
    "Diego",
    "Lucia",
    "Hannah",
    "Felix",
    "Nora",
    "Jonas",
    "Leila",
    "Ravi",
    "Aisha",
    "Tomas",
    "Maya",
    "Isaac",
    "Grace",
    "Leo",
    "Chloe",
    "Daniel",
    "Sara",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Garcia",
    "Müller",
    "Schmidt",
    "Dubois",
    "Martin",
    "Rossi",
    "Bianchi",
    "Tanaka",
    "Sato",
    "Kim",
    "Park",
    "Patel",
    "Sharma",
    "Nguyen",
    "Silva",
    "Santos",
    "Kowalski",
    "Novak",
    "Jensen",
    "Larsen",
    "Andersson",
    "Okafor",
    "Mensah",
    "Haddad",
    "Cohen",
    "Levi",
    "Brown",
    "Taylor",
    "Wilson",
    "Moore",
    "Clark",
    "Lewis",
    "Walker",
    "Young",
    "King",
    "Wright",
    "Hill",
    "Green",
]
COMPANIES = [
    # name, domain, industry, employee band, country
    ("Northwind Analytics", "northwind-analytics.com", "software", "201-500", "US"),
    ("Brightpath Health", "brightpathhealth.com", "healthcare", "1001-5000", "US"),
    ("Ledgerly", "ledgerly.io", "fintech", "51-200", "GB"),
    ("Kestrel Logistics", "kestrel-logistics.de", "logistics", "501-1000", "DE"),
    ("Atelier Nova", "ateliernova.fr", "retail", "11-50", "FR"),
    ("Quantaform", "quantaform.com", "software", "1001-5000", "US"),
    ("Harbor & Pine Bank", "harborpine.com", "fintech", "5001+", "CA"),
    ("Mediqo", "mediqo.nl", "healthcare", "201-500", "NL"),
    ("Tallyhive", "tallyhive.com", "software", "11-50", "US"),
    ("Orbital Foods", "orbitalfoods.com", "retail", "1001-5000", "US"),
    ("Fabrik Werke", "fabrikwerke.de", "manufacturing", "501-1000", "DE"),
    ("Cloudmason", "cloudmason.io", "software", "51-200", "GB"),
    ("Scholarly", "scholarly.edu", "education", "201-500", "US"),
    ("Pixelwave Media", "pixelwave.media", "media", "51-200", "ES"),
    ("Granite Insurance", "graniteins.com", "fintech", "1001-5000", "US"),
    ("Verdant Energy", "verdant-energy.com", "manufacturing", "5001+", "AU"),
    ("Sparrow Robotics", "sparrowrobotics.com", "manufacturing", "201-500", "US"),
    ("Lumen Clinics", "lumenclinics.co.uk", "healthcare", "501-1000", "GB"),
    ("Payloop", "payloop.com", "fintech", "11-50", "BR"),
    ("Codewell", "codewell.in", "software", "1001-5000", "IN"),
    ("Mosaic Retail Group", "mosaicretail.com", "retail", "5001+", "US"),
    ("Tidewater Freight", "tidewaterfreight.com", "logistics", "201-500", "US"),
    ("Nimbus HR", "nimbushr.com", "software", "201-500", "CA"),
    ("Helix Biotech", "helixbio.com", "healthcare", "51-200", "US"),
    ("Studio Kettle", "studiokettle.com", "media", "1-10", "US"),
]
FREE_MAIL = ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com")
TITLES = [
    ("Chief Marketing Officer", 2),
    ("CFO", 1),
    ("CTO", 1),
    ("VP Sales", 3),
    ("VP of Engineering", 2),
    ("Director of Operations", 4),
    ("Head of Growth", 3),
    ("Marketing Manager", 6),
    ("IT Manager", 5),
    ("Procurement Lead", 3),
    ("Senior Analyst", 6),
    ("Software Engineer", 6),
    ("Account Executive", 3),
    ("Marketing Intern", 1),
    ("Student", 1),
]
CAMPAIGNS = [
    # name, channel, cost, days since start, length in days
    ("Q2 product webinar", Source.WEBINAR, "4200.00", 55, 30),
    ("Pricing guide ebook", Source.CONTENT, "2500.00", 60, 60),
    ("Google Ads: brand", Source.PAID_SEARCH, "9800.00", 60, 90),
    ("LinkedIn: finance leaders", Source.PAID_SOCIAL, "7600.00", 45, 45),
    ("SaaS Summit booth", Source.EVENT, "15000.00", 30, 3),
    ("Partner referral programme", Source.PARTNER, None, 60, 365),
    ("Monthly newsletter", Source.EMAIL, "300.00", 60, 365),
    ("Free trial sign-up", Source.PRODUCT, None, 60, 365),
]
# How leads arrive: (source, campaign name or None, weight)
ARRIVALS = [
    (Source.WEBINAR, "Q2 product webinar", 10),
    (Source.CONTENT, "Pricing guide ebook", 10),
    (Source.PAID_SEARCH, "Google Ads: brand", 14),
    (Source.PAID_SOCIAL, "LinkedIn: finance leaders", 9),
    (Source.EVENT, "SaaS Summit booth", 6),
    (Source.PARTNER, "Partner referral programme", 5),
    (Source.EMAIL, "Monthly newsletter", 8),
    (Source.PRODUCT, "Free trial sign-up", 8),
    (Source.ORGANIC_SEARCH, None, 14),
    (Source.REFERRAL, None, 5),
    (Source.DIRECT, None, 6),
    (Source.ORGANIC_SOCIAL, None, 5),
]
# Engagement mixes: kind -> weight, by how warm the lead is.
COOL = {
    EventKind.EMAIL_OPEN: 6,
    EventKind.PAGE_VIEW: 5,
    EventKind.EMAIL_CLICK: 2,
    EventKind.UNSUBSCRIBE: 1,
}
WARM = {
    EventKind.EMAIL_OPEN: 5,
    EventKind.EMAIL_CLICK: 4,
    EventKind.PAGE_VIEW: 6,
    EventKind.CONTENT_DOWNLOAD: 3,
    EventKind.WEBINAR_REGISTERED: 2,
    EventKind.WEBINAR_ATTENDED: 2,
    EventKind.PRICING_PAGE_VIEW: 1,
}
HOT = {
    EventKind.PAGE_VIEW: 5,
    EventKind.EMAIL_CLICK: 3,
    EventKind.CONTENT_DOWNLOAD: 2,
    EventKind.WEBINAR_ATTENDED: 2,
    EventKind.EVENT_ATTENDED: 1,
    EventKind.PRICING_PAGE_VIEW: 3,
    EventKind.DEMO_REQUEST: 1,
    EventKind.TRIAL_SIGNUP: 1,
    EventKind.CONTACT_FORM: 1,
    EventKind.PRODUCT_USAGE: 3,
}


def _pick(rng: random.Random, weighted: dict[Any, int] | list[tuple[Any, int]]) -> Any:
    items = list(weighted.items()) if isinstance(weighted, dict) else weighted
    return rng.choices([i for i, _ in items], weights=[w for _, w in items])[0]


def _campaigns(now: dt.datetime) -> dict[str, Campaign]:
    found = {}
    for name, channel, cost, started_days_ago, length in CAMPAIGNS:
        starts = (now - dt.timedelta(days=started_days_ago)).date()
        campaign, _ = Campaign.objects.get_or_create(
            name=name,
            defaults={
                "channel": channel,
                "cost": Decimal(cost) if cost else None,
                "starts_on": starts,
                "ends_on": starts + dt.timedelta(days=length),
            },
        )
        found[name] = campaign
    return found


def _lead_rows(
    *, rng: random.Random, now: dt.datetime, count: int, owners: list[Any]
) -> list[tuple[dict[str, Any], dt.datetime]]:
    """(bulk row with its events, created_at) for each demo lead; the same for the same seed."""
    rows = []
    for n in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        company, domain, industry, band, country = rng.choice(COMPANIES)
        free_mail = rng.random() < 0.1
        local = f"{first}.{last}".lower().replace("ü", "ue")
        email = f"{local}.{n}@{rng.choice(FREE_MAIL) if free_mail else domain}"
        title = _pick(rng, TITLES)
        source, campaign, _ = rng.choices(ARRIVALS, weights=[w for *_, w in ARRIVALS])[0]
        created_at = now - dt.timedelta(days=rng.uniform(1, 60), minutes=rng.randint(0, 600))
        warmth = rng.choices(["cool", "warm", "hot"], weights=[5, 4, 2])[0]
        mix, (low, high) = {
            "cool": (COOL, (0, 4)),
            "warm": (WARM, (3, 10)),
            "hot": (HOT, (6, 16)),
        }[warmth]
        events = []
        for j in range(rng.randint(low, high)):
            span = (now - created_at).total_seconds()
            when = created_at + dt.timedelta(seconds=rng.uniform(0, span))
            events.append(
                {
                    "kind": _pick(rng, mix),
                    "occurred_at": when.isoformat(),
                    "payload": {"demo": True},
                    "external_id": f"demo-{n}-{j}",
                }
            )
        row: dict[str, Any] = {
            "email": email,
            "first_name": first,
            "last_name": last,
            "title": title,
            "company": "" if free_mail else company,
            "industry": industry,
            "employee_band": band,
            "country": country,
            "source": source,
            "phone": f"+1 555 {rng.randint(1000, 9999)}",
            "events": events,
        }
        if campaign:
            row["campaign"] = campaign
        if owners and rng.random() < 0.75:
            row["owner"] = owners[n % len(owners)].pk
        if n % 40 == 7 and not free_mail:
            # A trial user who keeps coming back: a product-qualified lead (PQL).
            row["events"] = events + [
                {
                    "kind": "product_usage",
                    "occurred_at": (now - dt.timedelta(days=day, hours=2)).isoformat(),
                    "payload": {"demo": True, "feature": "export" if day == 1 else "dashboard"},
                    "external_id": f"demo-{n}-usage-{day}",
                }
                for day in (1, 2, 4)
            ]
        rows.append((row, created_at))
    return rows


PQL_CRITERIA = [
    {"name": "Used the product on 3 days in 2 weeks", "kind": "usage_days", "min_days": 3,
     "within_days": 14},
    {"name": "Exported a report", "kind": "feature", "feature": "export", "within_days": 30},
]  # fmt: skip


def _pql_criteria() -> None:
    """The demo's PQL criteria, once (marketing edits them in the admin or the API)."""
    if PqlCriterion.objects.exists():
        return
    for order, values in enumerate(PQL_CRITERIA):
        PqlCriterion.objects.create(order=order, **values)


def seed(
    *,
    rng: random.Random,
    now: dt.datetime,
    users: dict[str, Any],
    lead_count: int,
    stdout: Any,
    **_: Any,
) -> None:
    marketers = [users[name] for name in ("maria", "mark") if name in users]
    with transaction.atomic():
        # Marketers run imports and tune scoring in the admin, so they are staff there.
        for user in marketers:
            if not user.is_staff:
                user.is_staff = True
                user.save(update_fields=["is_staff"])
        installed = services.scoring_rules_install_defaults(now=now)
        _pql_criteria()
        _campaigns(now)
        planned = _lead_rows(rng=rng, now=now, count=lead_count, owners=marketers)
        existing = set(
            Lead.objects.filter(email__in=[row["email"] for row, _ in planned]).values_list(
                "email", flat=True
            )
        )
        todo = [(row, created) for row, created in planned if row["email"] not in existing]
        created_total = 0
        for start in range(0, len(todo), 500):
            chunk = todo[start : start + 500]
            outcome = services.leads_bulk_upsert(rows=[row for row, _ in chunk], now=now)
            if outcome.failed:
                bad = next(r for r in outcome.results if r["status"] == "error")
                raise RuntimeError(f"demo lead refused: {bad}")
            created_total += outcome.created
            # Spread arrivals over the last two months, as a real pipeline has them.
            update_rows(
                Lead,
                [
                    {"id": result["id"], "created_at": created}
                    for result, (_, created) in zip(outcome.results, chunk, strict=True)
                ],
                columns=["created_at"],
            )
    ready = Lead.objects.filter(ready_for_sales=True).count()
    stdout.write(
        f"Leads: {created_total} created ({len(planned) - len(todo)} already there), "
        f"{ready} ready for sales; {len(CAMPAIGNS)} campaigns; "
        f"default scoring rules {'installed' if installed else 'kept'}."
    )
