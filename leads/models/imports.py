"""CSV imports (leads.imports): the source alias table, saved column mappings, each import
and the leads it wrote (for its undo)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from leads.history import AuditRecords
from leads.models.choices import Source


class SourceAlias(models.Model):
    """What another tool calls a source ("Organic Search", "Trade Show") and the desk's source
    it means: the editable table an import maps source cells through (names compared with case,
    spaces and punctuation ignored)."""

    name = models.CharField(max_length=100, unique=True, help_text="As the other tool writes it.")
    key = models.CharField(max_length=100, unique=True, editable=False)
    source = models.CharField(max_length=30, choices=Source.choices)
    history = AuditRecords()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "source aliases"

    def __str__(self) -> str:
        return f"{self.name} -> {self.get_source_display()}"


class ImportMapping(models.Model):
    """A named, reusable column mapping ("HubSpot contacts"): normalised header -> field, or
    "" to skip the column."""

    name = models.CharField(max_length=100, unique=True)
    columns = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField()
    history = AuditRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded"
    CHECKING = "checking", "Checking"
    CHECKED = "checked", "Checked"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Importing"
    DONE = "done", "Imported"
    FAILED = "failed", "Failed (nothing kept)"
    UNDONE = "undone", "Undone"


class LeadImport(models.Model):
    """One CSV file imported from the import page: the file, its mapping, the dry run's and
    the run's counts, and (in LeadImportChange) what it wrote, so it can be undone."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    file_name = models.CharField(max_length=255)
    content = models.BinaryField()
    header = models.JSONField(default=list)
    columns = models.JSONField(default=dict)  # normalised header -> field or ""
    skip_bad_rows = models.BooleanField(default=False)
    status = models.CharField(
        max_length=10, choices=ImportStatus.choices, default=ImportStatus.UPLOADED
    )
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    to_create = models.PositiveIntegerField(default=0)
    to_update = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    # [[line, message], ...] of the rows refused by the dry run or the run.
    errors = models.JSONField(default=list)
    message = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    # The file, the row errors (they quote cells) and the before values are personal data kept
    # only for the undo window: purged after it (leads.imports.services.lead_imports_purge).
    rejected_count = models.PositiveIntegerField(default=0)
    purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Import {self.pk} of {self.file_name}"


class LeadImportChange(models.Model):
    """A lead an import wrote: created (undo removes it) or updated (undo restores `before`,
    the values of the fields the import changed)."""

    lead_import = models.ForeignKey(LeadImport, on_delete=models.CASCADE, related_name="changes")
    lead_id = models.BigIntegerField()
    created = models.BooleanField()
    before = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["lead_import", "created"], name="import_change_kind")]

    def __str__(self) -> str:
        return f"{'created' if self.created else 'updated'} lead {self.lead_id}"
