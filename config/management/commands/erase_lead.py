"""`manage.py erase_lead EMAIL`: erase a person's data on request, everywhere (config.erasure)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.erasure import erase_person
from core.errors import DomainError


class Command(BaseCommand):
    help = (
        "Erase the personal data of the lead with this email from every table (keeping the "
        "counts the reports use), record the erasure, and block the email from coming back."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument(
            "--by",
            metavar="USERNAME",
            help="Who asked (a sales manager or superuser), recorded on the erasure.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = None
        if options["by"]:
            actor = get_user_model().objects.filter(username=options["by"]).first()
            if actor is None:
                raise CommandError(f"No user {options['by']!r}.")
        try:
            outcome = erase_person(email=options["email"], actor=actor)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        erasure = outcome.erasure
        when = f"{erasure.erased_at:%Y-%m-%d %H:%M} UTC"
        if not outcome.created:
            self.stdout.write(f"Already erased at {when} (erasure #{erasure.pk}); nothing to do.")
        elif not outcome.lead_found:
            self.stdout.write(
                f"No lead has this email; it is now blocked from being added (erasure "
                f"#{erasure.pk}, {when})."
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Erased lead #{erasure.lead_id_erased} (erasure #{erasure.pk}, {when}); "
                    f"the email is blocked from being added again. Rows scrubbed: "
                    f"{json.dumps(erasure.summary, sort_keys=True)}"
                )
            )
