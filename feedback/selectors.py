"""Reads for the feedback loop: the review queue, disputes, earlier returns, and the analytics.

Every aggregate below is one SQL query (GROUP BY with conditional counts) over the handoffs; the
Python that follows only shapes the few grouped rows into dicts for tables and charts.

Outcome vocabulary, per handoff (reassigned handoffs are left out everywhere: they were handed
on, and the next attempt of the same promotion carries the outcome):
- open: pending or waiting, no outcome yet;
- accepted: accepted or qualified (sales took it; `qualified` is the SQL subset);
- returned: sent back to marketing (also when it was accepted first);
- decided = accepted + returned; the rates are shares of the decided handoffs.
Source and campaign are the handoff's snapshot of its lead (Handoff.lead_source / lead_campaign):
where the lead came from when it was handed over, read without joining the leads.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Case, Count, F, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from core import roles
from core.errors import ValidationFailed
from feedback.models import RejectionReason, ReturnFeedback
from handoff.models import Handoff, Team
from handoff.states import Status
from leads.models import Campaign, ScoringConfig, Source
from leads.selectors import score_bands
from pipeline.metrics import advisor_counts, won_by_score_threshold

OPEN_OUTCOME = (Status.PENDING, Status.WAITING)
ACCEPTED_OUTCOME = (Status.ACCEPTED, Status.QUALIFIED)

# --- the review queue, disputes, history ---------------------------------------------------


def active_reasons() -> QuerySet[RejectionReason]:
    """The reasons a rep may pick, in display order."""
    return RejectionReason.objects.filter(active=True).order_by("display_order", "label")


def feedback_queryset() -> QuerySet[ReturnFeedback]:
    """Feedback rows with everything a list shows, in one query (no per-row lookups)."""
    return ReturnFeedback.objects.select_related(
        "reason",
        "lead",
        "lead__campaign",
        "handoff",
        "handoff__team",
        "handoff__assigned_to",
        "returned_by",
        "acknowledged_by",
        "dispute_resolved_by",
    )


def feedback_visible_to(user: Any) -> QuerySet[ReturnFeedback]:
    """Marketers and managers see every return; a rep sees the returns they made."""
    qs = feedback_queryset()
    if roles.is_marketer(user) or roles.is_manager(user):
        return qs
    if roles.is_rep(user):
        return qs.filter(returned_by=user)
    return qs.none()


def feedback_queue(*, user: Any = None) -> QuerySet[ReturnFeedback]:
    """Marketing's "returned to marketing" queue: unacknowledged first, newest return first.

    Served by the feedback_queue_order index (acknowledged_at DESC NULLS FIRST, returned_at DESC).
    """
    qs = feedback_visible_to(user) if user is not None else feedback_queryset()
    return qs.order_by(F("acknowledged_at").desc(nulls_first=True), "-returned_at", "-id")


def feedback_disputes(*, include_resolved: bool = False) -> QuerySet[ReturnFeedback]:
    """Returns that marketing disputed, for the sales managers: open ones, oldest first."""
    qs = feedback_queryset()
    if include_resolved:
        return qs.exclude(dispute_status="").order_by(
            Case(When(dispute_status=ReturnFeedback.DisputeStatus.OPEN, then=0), default=1),
            "returned_at",
            "id",
        )
    return qs.filter(dispute_status=ReturnFeedback.DisputeStatus.OPEN).order_by("returned_at", "id")


def feedback_disputes_resolved() -> QuerySet[ReturnFeedback]:
    """Settled disputes, the latest decision first (the inbox shows the last few)."""
    return (
        feedback_queryset()
        .filter(
            dispute_status__in=(
                ReturnFeedback.DisputeStatus.UPHELD,
                ReturnFeedback.DisputeStatus.OVERTURNED,
            )
        )
        .order_by("-dispute_resolved_at", "-id")
    )


def previous_returns(*, handoff: Handoff) -> list[dict[str, Any]]:
    """Earlier returns of this handoff's lead, newest first, with their reasons: what the rep
    of a re-promoted lead should read before calling (one query)."""
    rows = (
        ReturnFeedback.objects.filter(lead_id=handoff.lead_id, returned_at__lte=handoff.created_at)
        .exclude(handoff_id=handoff.pk)
        .select_related("reason", "returned_by", "handoff")
        .order_by("-returned_at", "-id")
    )
    return [
        {
            "feedback_id": fb.pk,
            "handoff_id": fb.handoff_id,
            "attempt": fb.handoff.attempt,
            "promoted_at": fb.handoff.created_at,
            "returned_at": fb.returned_at,
            "returned_by": _user_label(fb.returned_by),
            "reason": {
                "code": fb.reason.code,
                "label": fb.reason.label,
                "category": fb.reason.category,
            },
            "note": fb.note,
            "lead_effect": fb.lead_effect,
            "effect_note": fb.effect_note,
            "recycle_until": fb.recycle_until,
            "reply": fb.reply,
            "dispute_status": fb.dispute_status,
        }
        for fb in rows
    ]


def _user_label(user: Any) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.username


# --- analytics -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricsFilters:
    """Which handoffs the analytics look at: promoted (created) between the two dates,
    inclusive, in the site's time zone, optionally for one team, source or campaign."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    team: int | None = None
    source: str | None = None
    campaign: int | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> MetricsFilters:
        """Parse query parameters; a bad value raises ValidationFailed naming the field."""

        def parse_date(name: str) -> dt.date | None:
            raw = (params.get(name) or "").strip()
            if not raw:
                return None
            try:
                return dt.date.fromisoformat(raw)
            except ValueError:
                raise ValidationFailed(
                    f"{name} must be a date like 2026-01-31.", code="invalid_date", field=name
                ) from None

        def parse_id(name: str) -> int | None:
            raw = (params.get(name) or "").strip()
            if not raw:
                return None
            if not raw.isdigit():
                raise ValidationFailed(f"{name} must be an id.", code="invalid", field=name)
            return int(raw)

        source = (params.get("source") or "").strip() or None
        if source is not None and source not in Source.values:
            raise ValidationFailed(f"Unknown source {source!r}.", code="invalid", field="source")
        filters = cls(
            date_from=parse_date("date_from"),
            date_to=parse_date("date_to"),
            team=parse_id("team"),
            source=source,
            campaign=parse_id("campaign"),
        )
        if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
            raise ValidationFailed(
                "date_from is after date_to.", code="invalid_range", field="date_from"
            )
        return filters

    def as_dict(self) -> dict[str, Any]:
        return {
            k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in asdict(self).items()
        }


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _filter_q(f: MetricsFilters, *, handoff: str = "") -> Q:
    """The filters as a Q, on the handoff's fields reached through `handoff` ("" on Handoff,
    "handoff__" on ReturnFeedback). Source and campaign are the handoff's snapshot of its lead
    at promotion (attribution at the time of handoff, and no join with leads)."""
    q = Q()
    if f.date_from:
        start = _day_start(f.date_from)
        q &= Q(**{f"{handoff}created_at__gte": start})
        if not handoff:
            # Exact (every write stamps updated_at, so updated_at >= created_at), and it lets
            # PostgreSQL range-scan the narrow handoff_metrics index instead of the wide rows.
            q &= Q(updated_at__gte=start)
    if f.date_to:
        q &= Q(**{f"{handoff}created_at__lt": _day_start(f.date_to + dt.timedelta(days=1))})
    if f.team is not None:
        q &= Q(**{f"{handoff}team_id": f.team})
    if f.source:
        q &= Q(**{f"{handoff}lead_source": f.source})
    if f.campaign is not None:
        q &= Q(**{f"{handoff}lead_campaign_id": f.campaign})
    return q


def handoffs_for_metrics(filters: MetricsFilters | None = None) -> QuerySet[Handoff]:
    """The handoffs the analytics count (reassigned ones excluded, see the module docstring)."""
    return Handoff.objects.exclude(status=Status.REASSIGNED).filter(
        _filter_q(filters or MetricsFilters())
    )


OUTCOME_COUNTS = {
    "handoffs": Count("id"),
    "open": Count("id", filter=Q(status__in=OPEN_OUTCOME)),
    "accepted": Count("id", filter=Q(status__in=ACCEPTED_OUTCOME)),
    "qualified": Count("id", filter=Q(status=Status.QUALIFIED)),
    "returned": Count("id", filter=Q(status=Status.RETURNED)),
}


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _with_rates(counts: Mapping[str, Any]) -> dict[str, Any]:
    row = {name: counts.get(name) or 0 for name in OUTCOME_COUNTS}
    decided = row["accepted"] + row["returned"]
    row["decided"] = decided
    row["return_rate"] = _rate(row["returned"], decided)
    row["acceptance_rate"] = _rate(row["accepted"], decided)
    row["sql_rate"] = _rate(row["qualified"], decided)
    return row


def score_band_expression(field: str = "score_snapshot") -> Case:
    """The band index of a score: band i covers [low_i, low_i+1); the first band also takes
    anything below its bound and the last anything above."""
    bands = score_bands()
    whens = [
        When(**{f"{field}__lt": bands[i + 1][0]}, then=Value(i)) for i in range(len(bands) - 1)
    ]
    return Case(*whens, default=Value(len(bands) - 1), output_field=IntegerField())


# dimension -> (group-by values, how to build key and label from a grouped row)
DIMENSIONS = ("source", "campaign", "score_band", "team", "rep")


def _group_fields(dimension: str, prefix: str = "") -> tuple[dict[str, Any], list[str]]:
    """The annotations and values() fields that group by a dimension."""
    if dimension == "source":
        return {}, [f"{prefix}lead_source"]
    if dimension == "campaign":
        return {}, [f"{prefix}lead_campaign_id", f"{prefix}lead_campaign__name"]
    if dimension == "team":
        return {}, [f"{prefix}team_id", f"{prefix}team__name"]
    if dimension == "rep":
        return {}, [
            f"{prefix}assigned_to_id",
            f"{prefix}assigned_to__username",
            f"{prefix}assigned_to__first_name",
            f"{prefix}assigned_to__last_name",
        ]
    if dimension == "score_band":
        return {"band": score_band_expression(f"{prefix}score_snapshot")}, ["band"]
    if dimension == "qualification":
        # A handoff of a product-qualified lead keeps the PQL criteria it met; an MQL by
        # score keeps none.
        path = Case(When(**{f"{prefix}pql_criteria": []}, then=Value("mql")), default=Value("pql"))
        return {"qualification": path}, ["qualification"]
    raise ValueError(f"unknown dimension {dimension!r}")


QUALIFICATION_LABELS = {"mql": "MQL (score)", "pql": "PQL (product usage)"}


def _key_and_label(dimension: str, row: Mapping[str, Any], prefix: str = "") -> tuple[Any, str]:
    if dimension == "source":
        key = row[f"{prefix}lead_source"]
        return key, str(Source(key).label) if key in Source.values else key
    if dimension == "campaign":
        key = row[f"{prefix}lead_campaign_id"]
        return key, row[f"{prefix}lead_campaign__name"] or "No campaign"
    if dimension == "team":
        key = row[f"{prefix}team_id"]
        return key, row[f"{prefix}team__name"] or "No team"
    if dimension == "rep":
        key = row[f"{prefix}assigned_to_id"]
        full = " ".join(
            part
            for part in (
                row[f"{prefix}assigned_to__first_name"],
                row[f"{prefix}assigned_to__last_name"],
            )
            if part
        )
        return key, full or row[f"{prefix}assigned_to__username"] or "Unassigned"
    if dimension == "score_band":
        return row["band"], score_bands()[row["band"]][1]
    if dimension == "qualification":
        return row["qualification"], QUALIFICATION_LABELS[row["qualification"]]
    raise ValueError(f"unknown dimension {dimension!r}")


def _reason_lookup() -> dict[str, RejectionReason]:
    return {r.code: r for r in RejectionReason.objects.all()}


def _reason_entry(
    code: str, count: int, total: int, reasons: Mapping[str, RejectionReason]
) -> dict[str, Any]:
    reason = reasons.get(code)
    return {
        "code": code or "",
        "label": reason.label if reason else (code or "No reason recorded"),
        "category": reason.category if reason else "",
        "count": count,
        "share": _rate(count, total),
    }


def outcomes_by(
    dimension: str,
    filters: MetricsFilters | None = None,
    *,
    reasons: Mapping[str, RejectionReason] | None = None,
) -> list[dict[str, Any]]:
    """Return rate, acceptance and the reason mix per source / campaign / score band / team /
    rep, largest groups first (score bands in band order, every band listed).

    One GROUP BY (dimension, return reason) with conditional counts: each group's outcome counts
    are the sum of its reason rows, and its reason mix is the returned count of each row (only
    returned handoffs carry a reason code), so outcomes and mix come from the same scan.
    """
    annotations, fields = _group_fields(dimension)
    rows = (
        handoffs_for_metrics(filters)
        .annotate(**annotations)
        .values(*fields, "return_reason_code")
        .annotate(**OUTCOME_COUNTS)
        .order_by()
    )
    return _outcomes_from(dimension, rows, reasons if reasons is not None else _reason_lookup())


def _outcomes_from(
    dimension: str, rows: Iterable[Mapping[str, Any]], reasons: Mapping[str, RejectionReason]
) -> list[dict[str, Any]]:
    """outcomes_by's figures from its grouped rows (one per group and return reason)."""
    counts: dict[Any, dict[str, int]] = {}
    labels: dict[Any, str] = {}
    mixes: dict[Any, list[tuple[str, int]]] = defaultdict(list)
    for row in rows:  # one row per (group, reason): a few hundred at most, whatever the data
        key, label = _key_and_label(dimension, row)
        labels[key] = label
        total = counts.setdefault(key, dict.fromkeys(OUTCOME_COUNTS, 0))
        for name in OUTCOME_COUNTS:
            total[name] += row[name]
        if row["returned"]:
            mixes[key].append((row["return_reason_code"], row["returned"]))

    result: dict[Any, dict[str, Any]] = {
        key: {"key": key, "label": labels[key], **_with_rates(total)}
        for key, total in counts.items()
    }
    if dimension == "score_band":
        for index, (low, label) in enumerate(score_bands()):
            result.setdefault(index, {"key": index, "label": label, **_with_rates({})})
            result[index]["min_score"] = low
    for key, entry in result.items():
        mix = sorted(mixes.get(key, []), key=lambda item: (-item[1], item[0]))
        entry["reasons"] = [_reason_entry(code, n, entry["returned"], reasons) for code, n in mix]
    if dimension == "score_band":
        return [result[i] for i in sorted(result)]
    if dimension == "qualification":
        for key, label in QUALIFICATION_LABELS.items():
            result.setdefault(key, {"key": key, "label": label, **_with_rates({}), "reasons": []})
        return [result[key] for key in QUALIFICATION_LABELS]
    return sorted(result.values(), key=lambda e: (-e["handoffs"], str(e["label"])))


def reason_mix(
    filters: MetricsFilters | None = None,
    *,
    reasons: Mapping[str, RejectionReason] | None = None,
) -> list[dict[str, Any]]:
    """Returns by reason over the filtered handoffs, most frequent first (one query)."""
    rows = (
        handoffs_for_metrics(filters)
        .filter(status=Status.RETURNED)
        .values("return_reason_code")
        .annotate(n=Count("id"))
        .order_by("-n", "return_reason_code")
    )
    counts = [(r["return_reason_code"], r["n"]) for r in rows]
    return _reason_mix_from(counts, reasons if reasons is not None else _reason_lookup())


def _reason_mix_from(
    counts: Sequence[tuple[str, int]], reasons: Mapping[str, RejectionReason]
) -> list[dict[str, Any]]:
    total = sum(n for _, n in counts)
    return [_reason_entry(code, n, total, reasons) for code, n in counts]


def category_mix(reason_rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Reason mix folded into categories (from reason_mix's rows; no query)."""
    totals: dict[str, int] = defaultdict(int)
    for row in reason_rows:
        totals[row["category"]] += row["count"]
    grand = sum(totals.values())
    labels = dict(RejectionReason.Category.choices)
    return [
        {"category": cat, "label": labels.get(cat, "Unknown"), "count": n, "share": _rate(n, grand)}
        for cat, n in sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    ]


def outcome_totals(filters: MetricsFilters | None = None) -> dict[str, Any]:
    """The headline numbers over the filtered handoffs (one query), plus marketing's review
    backlog and disputes over the same handoffs (one query)."""
    f = filters or MetricsFilters()
    totals = _with_rates(handoffs_for_metrics(f).aggregate(**OUTCOME_COUNTS))
    totals.update(_review_counts(f))
    return totals


def acceptance_by_score_band(
    filters: MetricsFilters | None = None, *, rows: Sequence[Mapping[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """MQL -> SAL/SQL by score band: decided, accepted, qualified, returned and their rates.

    `rows` may be outcomes_by("score_band", ...)'s result, to reuse its query.
    """
    rows = rows if rows is not None else outcomes_by("score_band", filters)
    keep = (
        "key", "label", "min_score", "handoffs", "open", "decided", "accepted", "qualified",
        "returned", "acceptance_rate", "sql_rate", "return_rate",
    )  # fmt: skip
    return [{k: row[k] for k in keep} for row in rows]


THRESHOLD_RULE = (
    "The suggested MQL threshold is the lowest candidate threshold at which sales accepted at "
    "least {target:.0%} of the decided handoffs (accepted or returned) scoring at or above it, "
    "counting only thresholds with at least {min_decided} decided handoffs."
)
REVENUE_RULE = (
    "The revenue threshold is the candidate that keeps at least {share:.0%} of the won revenue "
    "(company currency, by each deal's score at promotion) with the fewest MQLs sent."
)


def _thresholds(thresholds: Sequence[int] | None = None) -> list[int]:
    return sorted(set(thresholds or settings.FEEDBACK_THRESHOLD_CANDIDATES))


def _threshold_bucket(thresholds: Sequence[int]) -> Case:
    """The highest candidate threshold a handoff's score reaches (-1: none)."""
    return Case(
        *[When(score_snapshot__gte=t, then=Value(t)) for t in reversed(thresholds)],
        default=Value(-1),
        output_field=IntegerField(),
    )


def threshold_advisor(
    filters: MetricsFilters | None = None,
    *,
    thresholds: Sequence[int] | None = None,
    target: float | None = None,
    min_decided: int | None = None,
    bucket_rows: Iterable[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """For each candidate MQL threshold t: the handoffs that would have been sent (score
    snapshot >= t), how many sales decided on and what share it accepted, from the recorded
    outcomes; and the suggested threshold (THRESHOLD_RULE).

    One query over the advisor's rollup (pipeline.rollup: day x team x score, as of its last
    refresh; filtered by source or campaign, two over the raw handoffs and deals): counts by the
    highest candidate threshold a score reaches; "score >= t" is then the sum of the groups at
    or above t (a running sum over at most one row per candidate).

    It can only judge what was sent: scores below the threshold marketing used then are seen
    only when a marketer promoted such a lead by hand.
    """
    thresholds = _thresholds(thresholds)
    target = settings.FEEDBACK_TARGET_ACCEPTANCE if target is None else target
    min_decided = settings.FEEDBACK_MIN_DECIDED if min_decided is None else min_decided
    f = filters or MetricsFilters()
    by_bucket: Mapping[int, Mapping[str, Any]]
    if bucket_rows is not None:
        # The feedback payload's one pass over the handoffs counted the buckets already.
        by_bucket = {row["bucket"]: row for row in bucket_rows}
        won = _won_by_threshold(f, thresholds)
    elif not f.source and f.campaign is None:
        # Date range and team: the advisor's rollup (pipeline.metrics; as of its last refresh).
        by_bucket, won = advisor_counts(
            thresholds=thresholds, date_from=f.date_from, date_to=f.date_to, team=f.team
        )
    else:
        by_bucket, won = _raw_buckets(f, thresholds), _won_by_threshold(f, thresholds)
    all_sent = sum(row["sent"] for row in by_bucket.values())
    won_total = sum(row["won"] for row in won.values())
    revenue_total = sum((row["won_amount"] for row in won.values()), Decimal(0))
    won_kept, revenue_kept = 0, Decimal(0)
    running: dict[str, int] = dict.fromkeys(("sent", "accepted", "qualified", "returned"), 0)
    result_rows: list[dict[str, Any]] = []
    for t in reversed(thresholds):
        for name in running:
            running[name] += by_bucket.get(t, {}).get(name, 0)
        won_kept += won.get(t, {}).get("won", 0)
        revenue_kept += won.get(t, {}).get("won_amount", Decimal(0))
        accepted, returned = running["accepted"], running["returned"]
        decided = accepted + returned
        rate = _rate(accepted, decided)
        result_rows.append(
            {
                "threshold": t,
                "sent": running["sent"],
                "share_of_sent": _rate(running["sent"], all_sent),
                "decided": decided,
                "accepted": accepted,
                "qualified": running["qualified"],
                "returned": returned,
                "acceptance_rate": rate,
                "sql_rate": _rate(running["qualified"], decided),
                "meets_target": rate is not None and decided >= min_decided and rate >= target,
                "won_kept": won_kept,
                "won_lost": won_total - won_kept,
                "won_revenue_kept": f"{revenue_kept:.2f}",
                "won_revenue_lost": f"{revenue_total - revenue_kept:.2f}",
                "revenue_share_kept": float(round(revenue_kept / revenue_total, 4))
                if revenue_total
                else None,
            }
        )
    result_rows.reverse()
    suggested = next((row["threshold"] for row in result_rows if row["meets_target"]), None)
    keep = settings.PIPELINE_REVENUE_KEEP_SHARE
    keeping = [
        row
        for row in result_rows
        if row["revenue_share_kept"] is not None and row["revenue_share_kept"] >= keep
    ]
    revenue_threshold = (
        min(keeping, key=lambda row: (row["sent"], -row["threshold"]))["threshold"]
        if keeping
        else None
    )
    return {
        "target_acceptance": target,
        "min_decided": min_decided,
        "current_threshold": _current_threshold(),
        "suggested_threshold": suggested,
        "rule": THRESHOLD_RULE.format(target=target, min_decided=min_decided),
        "revenue_threshold": revenue_threshold,
        "revenue_rule": REVENUE_RULE.format(share=keep),
        "won_deals": won_total,
        "won_revenue": f"{revenue_total:.2f}",
        "currency": settings.DEFAULT_CURRENCY,
        "handoffs": all_sent,
        "rows": result_rows,
    }


def _raw_buckets(f: MetricsFilters, thresholds: Sequence[int]) -> dict[int, Mapping[str, Any]]:
    """The advisor's handoff counts by threshold bucket, read from the handoffs (filtered by
    source or campaign, which its rollup does not key)."""
    rows = (
        handoffs_for_metrics(f)
        .annotate(bucket=_threshold_bucket(thresholds))
        .values("bucket")
        .annotate(
            sent=Count("id"),
            accepted=Count("id", filter=Q(status__in=ACCEPTED_OUTCOME)),
            qualified=Count("id", filter=Q(status=Status.QUALIFIED)),
            returned=Count("id", filter=Q(status=Status.RETURNED)),
        )
        .order_by()
    )
    return {row["bucket"]: row for row in rows}


def _won_by_threshold(
    filters: MetricsFilters | None, thresholds: Sequence[int]
) -> dict[int, dict[str, Any]]:
    """Won deals of the same promotion cohort by threshold bucket (pipeline.metrics)."""
    f = filters or MetricsFilters()
    q: dict[str, Any] = {}
    if f.team is not None:
        q["team_id"] = f.team
    if f.source:
        q["source"] = f.source
    if f.campaign is not None:
        q["campaign_id"] = f.campaign
    return won_by_score_threshold(
        start=_day_start(f.date_from) if f.date_from else None,
        end=_day_start(f.date_to + dt.timedelta(days=1)) if f.date_to else None,
        thresholds=thresholds,
        **q,
    )


def _current_threshold() -> int | None:
    config = ScoringConfig.objects.order_by("pk").first()
    return config.mql_threshold if config else None


# --- the whole payload in one pass ------------------------------------------------------------

# Each dimension's grouping columns by id only: names are looked up afterwards for the few keys
# found, instead of joining every handoff to its campaign, team and rep.
_PASS_KEYS = {
    "source": ("lead_source",),
    "campaign": ("lead_campaign_id",),
    "score_band": ("band",),
    "team": ("team_id",),
    "rep": ("assigned_to_id",),
    "qualification": ("qualification",),
}
PASS_WORK_MEM = "64MB"
_PASS_COLUMNS = (
    "lead_source", "lead_campaign_id", "band", "team_id", "assigned_to_id", "qualification",
    "return_reason_code", "bucket", "status",
)  # fmt: skip


def _one_pass(filters: MetricsFilters, thresholds: Sequence[int]) -> dict[str, list[dict]]:
    """Every grouped count of the payload from ONE scan of the handoffs (PostgreSQL): GROUP BY
    GROUPING SETS, one set per dimension (with the return reason) and one per threshold bucket,
    with the outcome counts as FILTER clauses. Returns dimension -> rows shaped as outcomes_by's
    query rows, and "bucket" -> threshold_advisor's rows."""
    annotations: dict[str, Any] = {"bucket": _threshold_bucket(thresholds)}
    for dimension in _PASS_KEYS:
        annotations.update(_group_fields(dimension)[0])
    query = (
        handoffs_for_metrics(filters)
        .annotate(**annotations)
        .values_list(*_PASS_COLUMNS)
        .order_by()
        .query
    )
    # The columns in the order the SQL selects them (Django keeps values_list's order).
    selected = list(query.selected or _PASS_COLUMNS)
    inner, params = query.sql_with_params()
    sets: dict[str, tuple[str, ...]] = {
        dim: (*keys, "return_reason_code") for dim, keys in _PASS_KEYS.items()
    }
    sets["bucket"] = ("bucket",)
    grouped = _PASS_COLUMNS[:-1]

    def among(statuses: Sequence[str]) -> str:  # our own Status values, as literals
        return ", ".join(f"'{Status(s).value}'" for s in statuses)

    # Two steps: the handoffs counted per combination of every column (one hash over the
    # rows; a few thousand combinations), then the grouping sets over those counts. Grouping
    # sets straight over the rows hash every row once per set: as slow as one query per set.
    sql = (
        f"SELECT GROUPING({', '.join(grouped)}), {', '.join(grouped)}, SUM(n), "
        f"SUM(n) FILTER (WHERE status IN ({among(OPEN_OUTCOME)})), "
        f"SUM(n) FILTER (WHERE status IN ({among(ACCEPTED_OUTCOME)})), "
        f"SUM(n) FILTER (WHERE status IN ({among([Status.QUALIFIED])})), "
        f"SUM(n) FILTER (WHERE status IN ({among([Status.RETURNED])})) "
        f"FROM (SELECT {', '.join(_PASS_COLUMNS)}, COUNT(*) AS n "
        f"FROM ({inner}) AS h({', '.join(selected)}) GROUP BY {', '.join(_PASS_COLUMNS)}) AS c "
        "GROUP BY GROUPING SETS ("
        + ", ".join(f"({', '.join(cols)})" for cols in sets.values())
        + ")"
    )
    # GROUPING(...) has a bit set (first column highest) for each column NOT in the row's set.
    width = len(grouped)
    mask_of = {
        sum(1 << (width - 1 - i) for i, c in enumerate(grouped) if c not in cols): name
        for name, cols in sets.items()
    }
    result: dict[str, list[dict]] = {name: [] for name in sets}
    # No savepoint inside a caller's transaction: SET LOCAL lasts until that one ends.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # Room to hash the combinations in memory (~15 MB at 1M handoffs) rather than sort
        # them on disk; for this transaction only.
        cursor.execute(f"SET LOCAL work_mem = '{PASS_WORK_MEM}'")
        cursor.execute(sql, params)
        for mask, *values in cursor.fetchall():
            row = dict(zip(grouped, values[:width], strict=True))
            handoffs, open_, accepted, qualified, returned = (int(v or 0) for v in values[width:])
            name = mask_of[mask]
            if name == "bucket":
                result[name].append(
                    {
                        "bucket": row["bucket"],
                        "sent": handoffs,
                        "accepted": accepted,
                        "qualified": qualified,
                        "returned": returned,
                    }
                )
                continue
            row.update(
                handoffs=handoffs, open=open_, accepted=accepted, qualified=qualified,
                returned=returned,
            )  # fmt: skip
            result[name].append(row)
    _name_rows(result)
    return result


def _name_rows(result: dict[str, list[dict]]) -> None:
    """Add the names _key_and_label reads to the campaign, team and rep rows (a query each)."""
    campaigns = {r["lead_campaign_id"] for r in result["campaign"]} - {None}
    names = dict(Campaign.objects.filter(pk__in=campaigns).values_list("pk", "name"))
    for row in result["campaign"]:
        row["lead_campaign__name"] = names.get(row["lead_campaign_id"])
    teams = {r["team_id"] for r in result["team"]} - {None}
    names = dict(Team.objects.filter(pk__in=teams).values_list("pk", "name"))
    for row in result["team"]:
        row["team__name"] = names.get(row["team_id"])
    reps = {r["assigned_to_id"] for r in result["rep"]} - {None}
    people = {
        pk: (username, first, last)
        for pk, username, first, last in get_user_model()
        .objects.filter(pk__in=reps)
        .values_list("pk", "username", "first_name", "last_name")
    }
    for row in result["rep"]:
        username, first, last = people.get(row["assigned_to_id"], (None, None, None))
        row["assigned_to__username"] = username
        row["assigned_to__first_name"] = first
        row["assigned_to__last_name"] = last


def _review_counts(f: MetricsFilters) -> dict[str, Any]:
    """Marketing's review backlog and disputes over the filtered handoffs (one query)."""
    return ReturnFeedback.objects.filter(_filter_q(f, handoff="handoff__")).aggregate(
        with_feedback=Count("id"),
        unacknowledged=Count("id", filter=Q(acknowledged_at__isnull=True)),
        disputes_open=Count("id", filter=Q(dispute_status=ReturnFeedback.DisputeStatus.OPEN)),
        overturned=Count("id", filter=Q(dispute_status=ReturnFeedback.DisputeStatus.OVERTURNED)),
        disqualified=Count("id", filter=Q(lead_effect=RejectionReason.Effect.DISQUALIFY)),
    )


def feedback_metrics(filters: MetricsFilters | None = None) -> dict[str, Any]:
    """Everything the metrics API and the dashboard show, as plain dicts and lists.

    On PostgreSQL the handoffs are read once (_one_pass: every dimension, the reason mix, the
    totals and the threshold buckets from one GROUPING SETS scan); elsewhere each figure runs
    its own query, with the same results."""
    filters = filters or MetricsFilters()
    reasons = _reason_lookup()
    dimensions = (*DIMENSIONS, "qualification")
    if connection.vendor == "postgresql":
        rows = _one_pass(filters, _thresholds())
        by = {dim: _outcomes_from(dim, rows[dim], reasons) for dim in dimensions}
        per_reason: dict[str, int] = defaultdict(int)
        for row in rows["source"]:
            if row["returned"]:
                per_reason[row["return_reason_code"]] += row["returned"]
        mix = _reason_mix_from(
            sorted(per_reason.items(), key=lambda item: (-item[1], item[0])), reasons
        )
        totals = _with_rates(
            {name: sum(row[name] for row in rows["source"]) for name in OUTCOME_COUNTS}
        )
        totals.update(_review_counts(filters))
        advisor = threshold_advisor(filters, bucket_rows=rows["bucket"])
    else:
        by = {dim: outcomes_by(dim, filters, reasons=reasons) for dim in dimensions}
        mix = reason_mix(filters, reasons=reasons)
        totals = outcome_totals(filters)
        advisor = threshold_advisor(filters)
    return {
        "filters": filters.as_dict(),
        "bands": [
            {"key": i, "label": label, "min_score": low}
            for i, (low, label) in enumerate(score_bands())
        ],
        "totals": totals,
        "reason_mix": mix,
        "category_mix": category_mix(mix),
        "by_source": by["source"],
        "by_campaign": by["campaign"],
        "by_score_band": by["score_band"],
        "by_team": by["team"],
        "by_rep": by["rep"],
        "by_qualification": by["qualification"],
        "acceptance_by_score_band": acceptance_by_score_band(rows=by["score_band"]),
        "threshold_advisor": advisor,
    }
