"""Pages of the feedback loop: the rep's return (posted from the handoff page), marketing's
"returned to marketing" queue with acknowledge / reply / follow-up, and the feedback report
(reason mix, by source and campaign, acceptance by score band, the threshold advisor).

Thin like the handoff pages: one service call per POST through core.pages.perform; reads come
from feedback.selectors. The return is a handoff action (handoff.views.HandoffAction, which this
app may import): a bad field re-renders the handoff page with the errors on the return form.
"""

from __future__ import annotations

import csv
import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from core.errors import ValidationFailed
from core.pages import (
    SortedIds,
    filled,
    form_invalid_message,
    marketing_or_manager,
    page_for,
    page_slice,
    paginate,
    perform,
    safe_next,
)
from core.roles import is_manager, is_marketer
from feedback import charts, contradictions, digest, selectors, services
from feedback.filters import ReturnFeedbackFilter
from feedback.forms import AcknowledgeForm, ReportFilterForm, ResolveDisputeForm, ReturnForm
from feedback.models import RejectionReason, ReturnFeedback
from handoff import views as handoff_views
from handoff.models import Handoff, Team
from leads.csvfile import escape_cell
from leads.models import Campaign, Source
from pipeline import metrics as revenue_metrics

# --- the rep returns a handoff --------------------------------------------------------------------


class ReturnAction(handoff_views.HandoffAction):
    """The rep returns a handoff to marketing with a reason (posted from the handoff page)."""

    form_class = ReturnForm
    subject = "The return"
    form_key = "return_form"
    follow_next = False

    def get_form(self) -> ReturnForm:
        return ReturnForm(self.request.POST, reasons=selectors.active_reasons())

    def act(self, handoff: Handoff, form: Any) -> ReturnFeedback:
        return services.feedback_return_handoff(
            handoff=handoff,
            actor=self.request.user,
            reason=form.cleaned_data["reason"],
            note=form.cleaned_data["note"],
        )

    def message(self, done: ReturnFeedback, handoff: Handoff) -> str:
        return f"Returned {handoff.lead} to marketing ({done.reason.label}). {done.effect_note}"

    def success_url(self, done: ReturnFeedback, handoff: Handoff) -> str:
        return reverse("handoff:my-queue")


handoff_return = login_required(ReturnAction.as_view())


# --- marketing's review queue ---------------------------------------------------------------------


def _queue_context(request: HttpRequest, bound: dict[int, AcknowledgeForm]) -> dict[str, Any]:
    queue = selectors.feedback_queue(user=request.user)
    review_filter = ReturnFeedbackFilter(filled(request.GET), queryset=queue)
    rows = review_filter.qs if review_filter.is_valid() else queue.none()
    # Sort and slice the ids on the feedback table alone (its queue-order index), then load the
    # page's rows with their nine joins: a deep page no longer sorts joined rows.
    paged = paginate(
        request,
        SortedIds(
            rows.select_related(None),
            lambda ids: selectors.feedback_visible_to(request.user).filter(pk__in=ids),
            window=page_slice(request) if request.GET.get("q", "").strip() else None,
        ),
    )
    return {
        "paged": paged,
        "rows": [(fb, bound.get(fb.pk) or AcknowledgeForm()) for fb in paged.rows],
        "filter_errors": review_filter.errors,
        "params": request.GET,
        "reasons": list(RejectionReason.objects.order_by("display_order", "label")),
        "categories": RejectionReason.Category.choices,
        "sources": Source.choices,
        "campaigns": list(Campaign.objects.order_by("name").values_list("id", "name")),
        "follow_ups": [c for c in ReturnFeedback.FollowUp.choices if c[0]],
        "can_acknowledge": is_marketer(request.user),
    }


@page_for(marketing_or_manager, "marketing and sales managers")
@require_GET
def returned_queue(request: HttpRequest) -> HttpResponse:
    """Returned to marketing: unacknowledged first, then the newest."""
    return render(request, "feedback/returned_queue.html", _queue_context(request, {}))


@page_for(marketing_or_manager, "marketing and sales managers")
@require_POST
def feedback_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    feedback = get_object_or_404(selectors.feedback_visible_to(request.user), pk=pk)
    form = AcknowledgeForm(request.POST)
    back = safe_next(request, "/returned/")
    if form.is_valid():
        done = perform(
            request,
            lambda: services.feedback_acknowledge(
                feedback=feedback,
                actor=request.user,
                reply=form.cleaned_data["reply"],
                follow_up=form.cleaned_data["follow_up"],
            ),
            form=form,
        )
        if done is not None:
            if done.follow_up == ReturnFeedback.FollowUp.DISPUTE:
                messages.success(
                    request, f"Disputed: the sales manager will review the return of {done.lead}."
                )
            else:
                messages.success(request, f"Acknowledged the return of {done.lead}.")
            return redirect(back)
    if not form.errors:
        return redirect(back)
    form_invalid_message(request, "Your acknowledgement")
    return render(
        request,
        "feedback/returned_queue.html",
        {**_queue_context(request, {feedback.pk: form}), "error_row": feedback.pk},
        status=400,
    )


# --- the managers' dispute inbox ------------------------------------------------------------------

RESOLVED_SHOWN = 10


def _disputes_context(request: HttpRequest, bound: dict[int, ResolveDisputeForm]) -> dict[str, Any]:
    paged = paginate(request, selectors.feedback_disputes())
    return {
        "paged": paged,
        "rows": [(fb, bound.get(fb.pk) or ResolveDisputeForm()) for fb in paged.rows],
        "resolved": list(selectors.feedback_disputes_resolved()[:RESOLVED_SHOWN]),
    }


@page_for(is_manager, "sales managers")
@require_GET
def dispute_inbox(request: HttpRequest) -> HttpResponse:
    """Returns marketing disputed, oldest first: read both sides, uphold or overturn with a note
    (feedback.services.feedback_resolve_dispute records it and tells marketing and the rep)."""
    return render(request, "feedback/disputes.html", _disputes_context(request, {}))


@page_for(is_manager, "sales managers")
@require_POST
def dispute_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    feedback = get_object_or_404(selectors.feedback_visible_to(request.user), pk=pk)
    form = ResolveDisputeForm(request.POST)
    back = safe_next(request, "/disputes/")
    if form.is_valid():
        upheld = form.cleaned_data["decision"] == "uphold"
        done = perform(
            request,
            lambda: services.feedback_resolve_dispute(
                feedback=feedback,
                actor=request.user,
                upheld=upheld,
                resolution=form.cleaned_data["resolution"],
            ),
            form=form,
        )
        if done is not None:
            what = "upheld: the return stands" if upheld else "overturned"
            messages.success(
                request,
                f"Dispute on {done.lead} {what}. Marketing and the rep are told by email.",
            )
            return redirect(back)
        if not form.errors:
            return redirect(back)
    form_invalid_message(request, "Your decision")
    return render(
        request,
        "feedback/disputes.html",
        {**_disputes_context(request, {feedback.pk: form}), "error_row": feedback.pk},
        status=400,
    )


# --- the feedback report --------------------------------------------------------------------------


@page_for(marketing_or_manager, "marketing and sales managers")
@require_GET
def feedback_report(request: HttpRequest) -> HttpResponse:
    """What sales did with marketing's leads: returns by reason, source and campaign, acceptance
    by score band and the suggested MQL threshold (feedback.selectors.feedback_metrics)."""
    params = request.GET.copy()
    everything = params.pop("all", None) is not None
    if not everything and not params.get("date_from") and not params.get("date_to"):
        # The last eight weeks by default, like the dashboard: each figure scans the range's
        # handoffs, and a year of them is seconds on a busy desk ("All time" asks for that).
        today = timezone.localdate()
        params["date_from"] = (today - dt.timedelta(days=today.weekday(), weeks=7)).isoformat()
    form = ReportFilterForm(
        params,
        teams=Team.objects.order_by("name").values_list("id", "name"),
        sources=Source.choices,
        campaigns=Campaign.objects.order_by("name").values_list("id", "name"),
    )
    metrics = None
    status = 200
    form.is_valid()
    try:
        filters = selectors.MetricsFilters.from_params(params)
    except ValidationFailed as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        status = 400
    else:
        metrics = _report_metrics(filters)
        categories = dict(RejectionReason.Category.choices)
        for row in metrics["reason_mix"]:
            row["category_label"] = categories.get(row["category"], "")
        table = request.GET.get("export")
        if table is not None:
            return _export(metrics, table)
    return render(
        request,
        "feedback/report.html",
        {
            "form": form,
            "metrics": metrics,
            "charts": _charts(metrics),
            "all_time": everything or not params.get("date_from"),
            "export_base": f"?{params.urlencode()}&export=",
            "min_returns": contradictions.MIN_RETURNS,
        },
        status=status,
    )


def _report_metrics(filters: selectors.MetricsFilters) -> dict[str, Any]:
    """The parts of feedback.selectors.feedback_metrics this page shows (not the per-team and
    per-rep tables, which are the dashboard's): each is one scan of the range's handoffs."""
    reasons = {r.code: r for r in RejectionReason.objects.all()}
    by_band = selectors.outcomes_by("score_band", filters, reasons=reasons)
    return {
        "totals": selectors.outcome_totals(filters),
        "reason_mix": selectors.reason_mix(filters, reasons=reasons),
        "by_source": selectors.outcomes_by("source", filters, reasons=reasons),
        "by_campaign": selectors.outcomes_by("campaign", filters, reasons=reasons),
        "acceptance_by_score_band": selectors.acceptance_by_score_band(rows=by_band),
        "threshold_advisor": selectors.threshold_advisor(filters),
        **_revenue(filters),
        "by_qualification": selectors.outcomes_by("qualification", filters, reasons=reasons),
        "contradicted_rules": contradictions.contradicted_rules(filters),
    }


def _revenue(filters: selectors.MetricsFilters) -> dict[str, Any]:
    """The revenue of the same promotion cohort (pipeline.metrics): by source, campaign and
    score band, and why deals were lost by source and campaign."""
    revenue_filters = revenue_metrics.RevenueFilters(
        date_from=filters.date_from or REPORT_EPOCH,
        date_to=filters.date_to or timezone.localdate(),
        team=filters.team,
        source=filters.source,
        campaign=filters.campaign,
    )
    return {
        "currency": settings.DEFAULT_CURRENCY,
        "revenue_as_of": revenue_metrics.as_of(),
        "revenue_by_source": revenue_metrics.by_dimension("source", revenue_filters),
        "revenue_by_campaign": revenue_metrics.by_dimension("campaign", revenue_filters),
        "revenue_by_score_band": revenue_metrics.by_dimension("score_band", revenue_filters),
        "revenue_by_qualification": revenue_metrics.by_dimension("qualification", revenue_filters),
        "lost_by_source": revenue_metrics.lost_reasons_by("source", revenue_filters),
        "lost_by_campaign": revenue_metrics.lost_reasons_by("campaign", revenue_filters),
    }


REPORT_EPOCH = dt.date(2000, 1, 1)
REVENUE_COLUMNS = ("label", "mqls", "sqls", "opportunities", "won", "lost", "win_rate",
                   "won_amount", "pipeline_amount", "avg_deal", "won_amount_per_mql",
                   "days_to_sql_median", "days_to_sql_p90", "days_to_opportunity_median",
                   "days_to_opportunity_p90", "days_to_won_median", "days_to_won_p90")  # fmt: skip
RETURN_COLUMNS = ("label", "handoffs", "decided", "accepted", "qualified", "returned",
                  "acceptance_rate", "return_rate", "sql_rate")  # fmt: skip
EXPORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "returns_by_source": ("by_source", RETURN_COLUMNS),
    "returns_by_campaign": ("by_campaign", RETURN_COLUMNS),
    "returns_by_qualification": ("by_qualification", RETURN_COLUMNS),
    "reasons": ("reason_mix", ("code", "label", "category", "count", "share")),
    "acceptance_by_score_band": ("acceptance_by_score_band", RETURN_COLUMNS),
    "revenue_by_source": ("revenue_by_source", REVENUE_COLUMNS),
    "revenue_by_campaign": ("revenue_by_campaign", REVENUE_COLUMNS),
    "revenue_by_score_band": ("revenue_by_score_band", REVENUE_COLUMNS),
    "revenue_by_qualification": ("revenue_by_qualification", REVENUE_COLUMNS),
    "contradicted_rules": ("contradicted_rules", ("rule", "points", "reasons", "returns",
                           "promoted", "share", "won", "won_amount", "suggested_points")),
    "lost_by_source": ("lost_by_source", ("label", "lost", "reasons")),
    "lost_by_campaign": ("lost_by_campaign", ("label", "lost", "reasons")),
    "threshold": ("threshold_advisor", ("threshold", "sent", "share_of_sent", "decided",
                  "accepted", "acceptance_rate", "won_kept", "won_lost", "won_revenue_kept",
                  "won_revenue_lost", "revenue_share_kept")),
}  # fmt: skip


def _export(metrics: dict[str, Any], table: str) -> HttpResponse:
    """One table of the report as CSV (cells a spreadsheet would run as formulas escaped)."""
    if table not in EXPORTS:
        return HttpResponse(
            f"Unknown table {table!r}; one of {', '.join(EXPORTS)}.",
            status=400,
            content_type="text/plain",
        )
    key, columns = EXPORTS[table]
    rows = metrics[key]["rows"] if key == "threshold_advisor" else metrics[key]
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="feedback-{table}.csv"'
    writer = csv.writer(response)
    writer.writerow(columns)
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            if column == "reasons" and isinstance(value, list):
                value = "; ".join(
                    r if isinstance(r, str) else f"{r['label']} ({r['count']})" for r in value
                )
            cells.append(escape_cell("" if value is None else value))
        writer.writerow(cells)
    return response


def _charts(metrics: dict[str, Any] | None) -> dict[str, charts.Chart]:
    """Server-side SVG charts of the report's figures (feedback.charts; no queries). Each is
    shown above the table of the same figures, names its one measure in its title and on its
    axis, and draws every row its table lists (a row with nothing decided says so)."""
    if metrics is None:
        return {}

    def rate_bars(rows: list[dict[str, Any]], rate: str) -> list[charts.Bar]:
        return [
            charts.Bar(
                str(row["label"]),
                row[rate] or 0.0,
                f"{charts.percent(row[rate])} of {row['decided']} decided"
                if row["decided"]
                else "none decided yet",
            )
            for row in rows
        ]

    returned = "Returned, % of decided handoffs"
    advisor = metrics["threshold_advisor"]
    return {
        "reason_mix": charts.bar_chart(
            chart_id="fb-reasons",
            title="Returns by reason",
            description="Number of handoffs returned for each reason, over the handoffs "
            "promoted in the range.",
            bars=[
                charts.Bar(r["label"], r["count"], f"{r['count']} ({charts.percent(r['share'])})")
                for r in metrics["reason_mix"]
            ],
            value_header="Returns",
            colour=charts.PALETTE[1],
            empty_text="Nothing was returned in this range.",
            axis_label="Returns (number of handoffs)",
        ),
        "score_bands": charts.bar_chart(
            chart_id="fb-bands",
            title="Acceptance rate by score band",
            description="Share of the decided handoffs in each score band (score when "
            "promoted) that sales accepted.",
            bars=rate_bars(metrics["acceptance_by_score_band"], "acceptance_rate"),
            max_value=1.0,
            colour=charts.PALETTE[2],
            axis_label="Accepted, % of decided handoffs",
            axis_format=charts.percent,
            value_width=125,  # "100% of 12 decided" after a full bar
        ),
        "threshold": charts.line_chart(
            chart_id="fb-threshold",
            title="Acceptance rate if only leads scoring at least this were sent",
            description="Share of decided handoffs that sales accepted, per candidate threshold.",
            points=[
                charts.Point(str(r["threshold"]), r["acceptance_rate"], f"{r['decided']} decided")
                for r in advisor["rows"]
            ],
            value_header="Accepted, % of decided",
            detail_header="Decided",
        ),
        "by_source": charts.bar_chart(
            chart_id="fb-sources",
            title="Return rate by source",
            description="Share of the decided handoffs from each lead source that sales "
            "returned; every source in the table below.",
            bars=rate_bars(metrics["by_source"], "return_rate"),
            max_value=1.0,
            colour=charts.PALETTE[1],
            axis_label=returned,
            axis_format=charts.percent,
            value_width=125,  # "100% of 12 decided" after a full bar
            empty_text="No handoffs in this range.",
        ),
        "by_campaign": charts.bar_chart(
            chart_id="fb-campaigns",
            title="Return rate by campaign",
            description="Share of the decided handoffs from each campaign that sales "
            "returned; every campaign in the table below.",
            bars=rate_bars(metrics["by_campaign"], "return_rate"),
            max_value=1.0,
            colour=charts.PALETTE[1],
            axis_label=returned,
            axis_format=charts.percent,
            value_width=125,  # "100% of 12 decided" after a full bar
            empty_text="No handoffs in this range.",
        ),
    }


@page_for(marketing_or_manager, "marketing and sales managers")
@require_POST
def contradicted_rule_apply(request: HttpRequest) -> HttpResponse:
    """Apply a contradicted rule's suggested points in one step (from the feedback report)."""

    def number(name: str) -> int | None:
        raw = request.POST.get(name, "").strip()
        return int(raw) if raw.lstrip("-").isdigit() else None

    rule = perform(
        request,
        lambda: contradictions.contradicted_rule_apply(
            rule_id=number("rule"), points=number("points"), actor=request.user
        ),
    )
    if rule is not None:
        messages.success(
            request,
            f"{rule.name} now gives {rule.points:+d} points; every lead is being re-scored.",
        )
    return redirect(reverse("feedback:report") + "#contradicted-rules")


@page_for(marketing_or_manager, "marketing and sales managers")
@require_GET
def digest_page(request: HttpRequest) -> HttpResponse:
    """The alignment digest of any past week (`?week=YYYY-Www`, default last week)."""
    text = request.GET.get("week", "").strip()
    today = timezone.localdate()  # the viewer's zone: their "last week"
    try:
        week = digest.parse_week(text, today=today)
    except ValidationFailed as exc:
        context: dict[str, Any] = {"d": None, "week_text": text, "error": exc.message}
        return render(request, "feedback/digest.html", context, status=400)
    context = {"d": digest.digest_build(week), "week_text": week.label, "error": ""}
    return render(request, "feedback/digest.html", context)
