"""When teams work: business calendars, their weekly windows and their special dates."""

from __future__ import annotations

from django.db import models

from leads.history import AuditRecords


class BusinessCalendar(models.Model):
    """When a team works: weekly windows in a time zone, minus holidays and closed dates."""

    name = models.CharField(max_length=100, unique=True)
    timezone = models.CharField(
        max_length=64, default="UTC", help_text="IANA zone, e.g. Europe/Paris"
    )
    holiday_country = models.CharField(
        max_length=3, blank=True, help_text="Public holidays from the `holidays` package, e.g. US"
    )
    holiday_subdivision = models.CharField(
        max_length=10, blank=True, help_text="e.g. CA for California"
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = AuditRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WorkingWindow(models.Model):
    """One working window on a weekday. `end` 00:00 means midnight at the end of that day."""

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="windows")
    weekday = models.PositiveSmallIntegerField(
        choices=[(0, "Monday"), (1, "Tuesday"), (2, "Wednesday"), (3, "Thursday"),
                 (4, "Friday"), (5, "Saturday"), (6, "Sunday")]
    )  # fmt: skip
    start = models.TimeField()
    end = models.TimeField()
    history = AuditRecords()

    class Meta:
        ordering = ["calendar", "weekday", "start"]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start:%H:%M}-{self.end:%H:%M}"


class CalendarDate(models.Model):
    """A custom closed date (company offsite), or an extra working date (a Saturday launch)."""

    class Kind(models.TextChoices):
        CLOSED = "closed", "Closed"
        OPEN = "open", "Extra working day"

    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="special_dates"
    )
    date = models.DateField()
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.CLOSED)
    # For an extra working day: its hours (default 09:00-17:00).
    start = models.TimeField(null=True, blank=True)
    end = models.TimeField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)
    history = AuditRecords()

    class Meta:
        ordering = ["calendar", "date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="calendar_date_unique")
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.get_kind_display()}"
