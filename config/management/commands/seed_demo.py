"""Fill the database with a living demo: users in each role, leads with engagement, teams, SLA
policies, handoffs in every state and the feedback they produced. Safe to run twice."""

from __future__ import annotations

import random
from typing import Any

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from leads.roles import MARKETING, SALES, SALES_MANAGER

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
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"Demo users (password '{DEMO_PASSWORD}'):")
        for username, _first, _last, role, _staff in DEMO_USERS:
            self.stdout.write(f"  {username:<8} {role or 'superuser'}")
