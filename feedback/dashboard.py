"""The sales managers' dashboard: SLA compliance (this week and by week), the MQL -> SAL -> SQL
funnel, time to accept, open breaches and at-risk handoffs now, per-team and per-rep tables,
conversion by source and the return reasons, for a date range and optionally one team.

Figures come from handoff.metrics (definitions in its docstring and docs/pages.md) and
feedback.selectors.reason_mix; charts are server-side SVG from feedback.charts, each rendered
beside a table of the same figures. The page costs a fixed number of queries, whatever the
number of handoffs (tests/ui/test_dashboard.py asserts it).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from core.errors import ValidationFailed
from core.roles import is_manager
from core.timefmt import minutes_label
from feedback import charts
from feedback.selectors import MetricsFilters, reason_mix
from handoff import metrics, speed
from handoff.models import Team
from pipeline import metrics as revenue


class DashboardFilterForm(forms.Form):
    start = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From"
    )
    end = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="To"
    )
    team = forms.ModelChoiceField(
        queryset=Team.objects.order_by("name"), required=False, empty_label="All teams"
    )

    def filters(self, *, now: dt.datetime) -> metrics.SlaFilters:
        """The metrics filters; range errors become field errors (the defaults are used then)."""
        if not self.is_valid():
            return metrics.SlaFilters.default(now=now)
        data = self.cleaned_data
        params = {
            "start": data["start"].isoformat() if data.get("start") else "",
            "end": data["end"].isoformat() if data.get("end") else "",
            "team": str(data["team"].pk) if data.get("team") else "",
        }
        try:
            return metrics.SlaFilters.from_params(params, now=now)
        except ValidationFailed as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
            return metrics.SlaFilters.default(now=now)


def handoff_url(pk: int) -> str:
    """The handoff's page for a manager: the handoff page when the pages app has one, else its
    admin change page."""
    try:
        return reverse("handoff:handoff-detail", args=[pk])
    except NoReverseMatch:
        return reverse("admin:handoff_handoff_change", args=[pk])


def _short_week(iso_week: str) -> str:
    return iso_week.split("-")[-1]  # "2025-W07" -> "W07"


def build_charts(data: dict[str, Any], reasons: list[dict[str, Any]]) -> dict[str, charts.Chart]:
    """The dashboard's charts from the figures (no queries)."""
    funnel = data["funnel"]
    weekly = data["weekly"]
    weeks_due = sum(w["due"] for w in weekly)
    result = {
        "funnel": charts.funnel_chart(
            chart_id="chart-funnel",
            title="MQL to SAL to SQL",
            description=(
                f"Of {funnel['mql']} handoffs promoted in the range, {funnel['sal']} were "
                f"accepted ({charts.percent(funnel['mql_to_sal'])}) and {funnel['sql']} "
                f"qualified ({charts.percent(funnel['mql_to_sql'])} of all)."
            ),
            steps=[
                charts.FunnelStep(step["label"], step["count"], step["rate"])
                for step in funnel["steps"]
            ],
        ),
        "weekly": charts.line_chart(
            chart_id="chart-weekly",
            title="SLA compliance by week",
            description=(
                f"Share of handoffs answered by their deadline, per ISO week, over {len(weekly)} "
                f"weeks and {weeks_due} handoffs whose deadline or answer fell in them."
            ),
            points=[
                charts.Point(
                    _short_week(w["week"]),
                    w["compliance"],
                    f"{w['met']} of {w['due']} met" if w["due"] else "none due",
                )
                for w in weekly
            ],
            value_header="Compliance",
            detail_header="Answered in time",
        ),
        "teams": charts.stacked_bar_chart(
            chart_id="chart-teams",
            title="SLA outcomes by team",
            description="Handoffs answered in time and missed, per team, with the compliance.",
            series=["Met", "Missed"],
            rows=[
                charts.StackedRow(
                    row["label"],
                    (row["met"], row["missed"]),
                    charts.percent(row["compliance"])
                    if row["met"] or row["missed"]
                    else "none due",
                )
                for row in data["by_team"]  # every team its table lists, none due or not
            ],
            note_header="Compliance",
            colours=(charts.PALETTE[2], charts.PALETTE[1]),
        ),
        "sources": charts.stacked_bar_chart(
            chart_id="chart-sources",
            title="Conversion by source",
            description=(
                "Handoffs promoted in the range per lead source: qualified (SQL), accepted but "
                "not qualified, and not accepted; with the MQL to SQL rate."
            ),
            series=["SQL", "Accepted, not SQL", "Not accepted"],
            rows=[
                charts.StackedRow(
                    row["label"],
                    (row["sql"], row["sal"] - row["sql"], row["mql"] - row["sal"]),
                    charts.percent(row["mql_to_sql"]),
                )
                for row in data["by_source"]
            ],
            note_header="MQL to SQL",
            colours=(charts.PALETTE[0], charts.PALETTE[5], charts.PALETTE[6]),
        ),
        "reasons": charts.bar_chart(
            chart_id="chart-reasons",
            title="Return reasons",
            description="Why sales returned the handoffs promoted in the range, most frequent first.",
            bars=[
                charts.Bar(r["label"], r["count"], f"{r['count']} ({charts.percent(r['share'])})")
                for r in reasons
            ],
            value_header="Returns",
            colour=charts.PALETTE[1],
            empty_text="No handoff of this range was returned.",
        ),
    }
    return result


def _admin_list(flag: str, filters: metrics.SlaFilters) -> str:
    """The admin handoff changelist filtered on one flag (and the team), for the manager who
    wants every row, not the dashboard's ten."""
    query = {flag: "yes"}
    if filters.team is not None:
        query["team__id__exact"] = str(filters.team)
    return f"{reverse('admin:handoff_handoff_changelist')}?{urlencode(query)}"


def _with_median_labels(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            **row,
            "median_label": minutes_label(row["median_business_minutes_to_accept"], business=True),
        }
        for row in rows
    ]


def _with_links(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**row, "url": handoff_url(row["id"])} for row in rows]


def revenue_section(filters: metrics.SlaFilters, *, now: dt.datetime, chosen: bool) -> dict:
    """Pipeline now, won this quarter, and won revenue per MQL by source for the promotion
    cohort of the chosen range (unfiltered: the last 4 quarters). Four queries."""
    today = timezone.localdate(now)
    if chosen:
        cohort = revenue.RevenueFilters(
            date_from=filters.start, date_to=filters.end, team=filters.team
        )
    else:
        cohort = revenue.RevenueFilters(*revenue.default_range(today))
    by_source = revenue.by_dimension("source", cohort, durations=False)
    mqls = sum(row["mqls"] for row in by_source)
    won_amount = sum((Decimal(row["won_amount"]) for row in by_source), Decimal(0))
    quarter = revenue.quarter_start(today)
    quarter_start = timezone.make_aware(dt.datetime.combine(quarter, dt.time.min))
    currency = settings.DEFAULT_CURRENCY
    chart = charts.bar_chart(
        chart_id="chart-revenue-sources",
        title=f"Won revenue per MQL by source ({currency})",
        description=(
            f"Won revenue divided by the MQLs of each source, for the handoffs promoted from "
            f"{cohort.date_from:%d %b %Y} to {cohort.date_to:%d %b %Y}."
        ),
        bars=[
            charts.Bar(
                row["label"],
                float(row["won_amount_per_mql"] or 0),
                f"{row['won_amount_per_mql'] or '0.00'} ({row['won']} won / {row['mqls']} MQLs)",
            )
            for row in by_source
            if row["mqls"]
        ],
        value_header="Won per MQL",
        empty_text="No handoff was promoted in this range.",
    )
    return {
        "cohort": cohort,
        "currency": currency,
        "pipeline": revenue.open_pipeline(),
        "won_quarter": revenue.won_in_range(start=quarter_start, end=now),
        "quarter_start": quarter,
        "mqls": mqls,
        "won_amount": f"{won_amount:.2f}",
        "won_per_mql": f"{won_amount / mqls:.2f}" if mqls else None,
        "chart": chart,
    }


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    if not is_manager(request.user):
        raise PermissionDenied("The SLA dashboard is for sales managers.")
    now = timezone.now()
    form = DashboardFilterForm(request.GET or None)
    filters = form.filters(now=now) if request.GET else metrics.SlaFilters.default(now=now)
    data = metrics.sla_metrics(filters, now=now)
    reasons = reason_mix(
        MetricsFilters(date_from=filters.start, date_to=filters.end, team=filters.team)
    )
    open_now = data["open_now"]
    context = {
        "form": form if request.GET else DashboardFilterForm(initial=filters.as_dict()),
        "filters": filters,
        "team": Team.objects.filter(pk=filters.team).first() if filters.team else None,
        "data": data,
        "breached_list": _with_links(open_now["breached_list"]),
        "at_risk_list": _with_links(open_now["at_risk_list"]),
        "reasons": reasons,
        "by_team": _with_median_labels(data["by_team"]),
        "by_rep": _with_median_labels(data["by_rep"]),
        "charts": build_charts(data, reasons),
        "funnel_by_kind": data["funnel_by_kind"],
        "minutes": {
            "wall_median": minutes_label(data["time_to_accept"]["wall_minutes"]["median"]),
            "wall_p90": minutes_label(data["time_to_accept"]["wall_minutes"]["p90"]),
            "business_median": minutes_label(
                data["time_to_accept"]["business_minutes"]["median"], business=True
            ),
            "business_p90": minutes_label(
                data["time_to_accept"]["business_minutes"]["p90"], business=True
            ),
        },
        "speed": speed.table_rows(speed.speed_to_lead(filters)),
        "admin_breached_url": _admin_list("breached", filters),
        "admin_at_risk_url": _admin_list("at_risk", filters),
        "revenue": revenue_section(filters, now=now, chosen=bool(request.GET)),
    }
    return render(request, "dashboard/dashboard.html", context)
