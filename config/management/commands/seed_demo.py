"""Fill the database with a living demo: users in each role, leads with engagement, teams, SLA
policies, handoffs in every state and the feedback they produced. Safe to run twice."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.roles import MARKETING, SALES, SALES_MANAGER

DEMO_PASSWORD = "handoff-demo"

DEMO_USERS = [
    # username, first, last, role, staff
    ("admin", "Ada", "Admin", None, True),
    ("maria", "Maria", "Marketer", MARKETING, False),
    ("mark", "Mark", "Marketer", MARKETING, False),
    ("sam", "Sam", "Seller", SALES, False),
    ("rita", "Rita", "Rep", SALES, False),
    ("raj", "Raj", "Rep", SALES, False),
    ("elena", "Elena", "Rep", SALES, False),
    ("tom", "Tom", "Rep", SALES, False),
    ("nina", "Nina", "Manager", SALES_MANAGER, True),
]


def seed_users() -> dict[str, User]:
    users = {}
    for username, first, last, role, staff in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@demo.handoff.test",
                "is_staff": staff,
                "is_superuser": username == "admin",
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        if role:
            user.groups.add(Group.objects.get(name=role))
        users[username] = user
    return users


# Deadlines that passed this recently are left for the live sweep, so the first minute of a
# demo shows a breach being flagged and its email sent; older ones are history.
LIVE_MINUTES = 30


def settle_history(*, now: Any, stdout: Any = None) -> None:
    """The demo's past is past: deadlines that passed between the story's last step and a few
    minutes ago are flagged now (dated at their deadlines, as a sweep back from an outage
    would), and every email the story and this catch-up queued counts as sent when it was
    written. Without it the worker's first sweep mails managers about weeks-old deadlines."""
    from handoff.models import Notification
    from handoff.sweep import sla_sweep

    sla_sweep(now=now - dt.timedelta(minutes=LIVE_MINUTES))
    settled = Notification.objects.filter(sent_at__isnull=True, created_at__lte=now).update(
        sent_at=F("created_at"), attempts=1
    )
    if stdout is not None and settled:
        stdout.write(f"History: {settled} past notifications marked as sent.")


class Command(BaseCommand):
    help = "Seed demo users, leads, teams, policies, handoffs and feedback (idempotent)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--leads", type=int, default=400, help="How many demo leads.")
        parser.add_argument("--seed", type=int, default=7, help="Random seed.")

    def handle(self, *args: Any, **options: Any) -> None:
        rng = random.Random(options["seed"])
        now = timezone.now()
        with transaction.atomic():
            users = seed_users()
            context = {"rng": rng, "now": now, "users": users, "lead_count": options["leads"]}
            # Each app seeds its own part, lowest layer first (leads -> handoff -> feedback);
            # the pipeline last: it grows opportunities from the SQLs the feedback history made.
            for module in ("leads.demo", "handoff.demo", "feedback.demo", "pipeline.demo"):
                try:
                    seeder = __import__(module, fromlist=["seed"])
                except ModuleNotFoundError:
                    continue
                seeder.seed(**context, stdout=self.stdout)
            settle_history(now=now, stdout=self.stdout)
            # The story is written in one go, much of it past the services: count it into the
            # revenue rollups now, so the first page shows it (beat keeps them current after).
            from pipeline import rollup

            rollup.rebuild()
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"Demo users (password '{DEMO_PASSWORD}'):")
        for username, _first, _last, role, _staff in DEMO_USERS:
            self.stdout.write(f"  {username:<8} {role or 'superuser'}")
