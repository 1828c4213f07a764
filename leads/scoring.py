"""Lead scoring: pure functions over rules held as data (FitRule, EngagementRule, ScoringConfig).

score = fit points (firmographic/demographic rules on the lead's fields)
      + engagement points (per event kind, each event decayed with the half-life, newest
        `max_events` events of a kind counted, events older than the window count nothing)
      + intent points (once per kind, when an event of that kind is recent enough).

Every point comes with the item that produced it, so a breakdown answers "why is this an MQL".
The total is by construction the sum of the items (each item is rounded, then summed).

Time only ever lowers a score: positive engagement decays and leaves the window, intent points
expire, while penalties (negative points, e.g. an unsubscribe) are neither decayed nor expired:
a penalty that faded would raise the score as time passed. Events dated in the future (clock
skew of the sender) count as happening now.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Protocol

from leads.models import EMPLOYEE_BAND_MIN, SENIORITY_RANK, EventKind, FitRule

FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "ymail.com",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "outlook.com",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.com",
        "mail.ru",
        "yandex.ru",
        "yandex.com",
        "zoho.com",
        "fastmail.com",
        "hey.com",
        "qq.com",
        "163.com",
        "126.com",
        "naver.com",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "libero.it",
        "t-online.de",
    }
)

CATEGORIES = ("fit", "engagement", "intent")

# Plain-str lookups made once: Django's choices enums compute `.values` and `.label` on every
# access, which cost more than the scoring itself on the bulk path.
_KIND_LABELS: dict[str, str] = {str(k): str(v) for k, v in EventKind.choices}
_FIELD_LABELS: dict[str, str] = {str(k): str(v) for k, v in FitRule.Field.choices}
_OP_LABELS: dict[str, str] = {str(k): str(v) for k, v in FitRule.Operator.choices}
_BAND_MIN: dict[str, int] = {str(k): v for k, v in EMPLOYEE_BAND_MIN.items() if k}
_SENIORITY_RANK: dict[str, int] = {str(k): v for k, v in SENIORITY_RANK.items() if k}
EQ, IN, GTE, LTE, CONTAINS, FREE_MAIL = "eq", "in", "gte", "lte", "contains", "free_mail"


# --- rules as plain data ------------------------------------------------------------------


@dataclass(frozen=True)
class FitRuleSpec:
    name: str
    field: str
    operator: str
    value: Any
    points: int
    label: str = ""  # how the breakdown names it; derived from the rule when empty


@dataclass(frozen=True)
class EngagementRuleSpec:
    kind: str
    points: int
    max_events: int = 5
    intent_points: int = 0
    intent_window_days: int = 14


@dataclass(frozen=True)
class ScoringRules:
    fit: tuple[FitRuleSpec, ...] = ()
    engagement: Mapping[str, EngagementRuleSpec] = field(default_factory=dict)
    threshold: int = 60
    half_life_days: float = 30.0
    window_days: int = 180
    version: int = 1

    @cached_property
    def fit_checks(self) -> tuple[tuple[FitRuleSpec, Callable[[Any], bool], str], ...]:
        """(rule, its compiled test, its label) for each fit rule that gives points."""
        return tuple(
            (rule, compile_fit_rule(rule), rule.label or describe_fit_rule(rule))
            for rule in self.fit
            if rule.points
        )

    @property
    def penalty_kinds(self) -> frozenset[str]:
        """Kinds whose points never fade: their events are read however old they are."""
        return frozenset(
            kind
            for kind, rule in self.engagement.items()
            if rule.points < 0 or rule.intent_points < 0
        )


class EventLike(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def occurred_at(self) -> dt.datetime: ...


@dataclass(frozen=True)
class EventFact:
    """An event as scoring sees it (the bulk path scores events before they have a row)."""

    kind: str
    occurred_at: dt.datetime


# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreItem:
    category: str  # fit | engagement | intent
    rule: str
    label: str
    points: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "rule": self.rule,
            "label": self.label,
            "points": self.points,
        }


@dataclass(frozen=True)
class ScoreResult:
    items: tuple[ScoreItem, ...]
    threshold: int
    version: int
    scored_at: dt.datetime

    @cached_property
    def totals(self) -> dict[str, int]:
        sums = dict.fromkeys(CATEGORIES, 0)
        for item in self.items:
            sums[item.category] = sums.get(item.category, 0) + item.points
        return sums

    @property
    def total(self) -> int:
        return sum(self.totals.values())

    def category_total(self, category: str) -> int:
        return self.totals.get(category, 0)

    @property
    def fit(self) -> int:
        return self.totals["fit"]

    @property
    def engagement(self) -> int:
        return self.totals["engagement"]

    @property
    def intent(self) -> int:
        return self.totals["intent"]

    @property
    def over_threshold(self) -> bool:
        return self.total >= self.threshold

    def as_breakdown(self) -> dict[str, Any]:
        """The JSON stored on the lead (and snapshotted onto a handoff)."""
        return {
            "total": self.total,
            "fit": self.fit,
            "engagement": self.engagement,
            "intent": self.intent,
            "threshold": self.threshold,
            "over_threshold": self.over_threshold,
            "version": self.version,
            "scored_at": self.scored_at.isoformat(),
            "items": [item.as_dict() for item in self.items],
        }


# --- fit ----------------------------------------------------------------------------------


def _band_floor(value: Any) -> int | None:
    """A band ("201-500") or a number of employees, as a comparable number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        return _BAND_MIN.get(value)
    return None


def _seniority_rank(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return _SENIORITY_RANK.get(value)
    return None


def _comparable(field_name: str, value: Any) -> int | None:
    if field_name == "employee_band":
        return _band_floor(value)
    if field_name == "seniority":
        return _seniority_rank(value)
    return None


def _as_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return []


def compile_fit_rule(rule: FitRuleSpec) -> Callable[[Any], bool]:
    """The rule as a test of a lead's value of its field, with the rule's own value parsed
    once (a bulk batch asks each rule a thousand times). Unknown (empty) never matches, except
    for the free-mail check, which only looks at the domain."""
    op = rule.operator

    def text_of(value: Any) -> str:
        return "" if value is None else str(value).strip()

    if op == FREE_MAIL:
        domains = FREE_MAIL_DOMAINS | {d.strip().lower() for d in _as_strings(rule.value)}
        return lambda value: (domain := text_of(value).lower()) != "" and domain in domains
    if op == EQ:
        if not isinstance(rule.value, str):
            return lambda value: False
        target = rule.value.strip().casefold()
        return lambda value: (text := text_of(value)) != "" and text.casefold() == target
    if op == IN:
        wanted = {v.strip().casefold() for v in _as_strings(rule.value)}
        return lambda value: (text := text_of(value)) != "" and text.casefold() in wanted
    if op == CONTAINS:
        needles = [v.strip().casefold() for v in _as_strings(rule.value) if v.strip()]
        return lambda value: (
            (text := text_of(value).casefold()) != "" and any(n in text for n in needles)
        )
    if op in (GTE, LTE):
        want = _comparable(rule.field, rule.value)
        if want is None:
            return lambda value: False
        field_name, at_least = rule.field, op == GTE

        def compare(value: Any) -> bool:
            have = _comparable(field_name, text_of(value))
            if have is None:
                return False
            return have >= want if at_least else have <= want

        return compare
    return lambda value: False


def fit_rule_matches(rule: FitRuleSpec, lead_value: Any) -> bool:
    """Whether one fit rule matches the lead's value of its field."""
    return compile_fit_rule(rule)(lead_value)


def describe_fit_rule(rule: FitRuleSpec) -> str:
    if rule.operator == FREE_MAIL:
        return "Email domain is a free-mail domain"
    field_label = _FIELD_LABELS.get(rule.field, rule.field)
    shown = ", ".join(_as_strings(rule.value)) if isinstance(rule.value, list) else rule.value
    return f"{field_label} {_OP_LABELS.get(rule.operator, rule.operator)} {shown}"


# --- engagement ---------------------------------------------------------------------------


def decay_weight(age: dt.timedelta, *, half_life_days: float, window_days: int) -> float:
    """1 for an event happening now, halving every half-life, 0 past the window."""
    days = max(age.total_seconds(), 0.0) / 86400.0
    if days > window_days:
        return 0.0
    if half_life_days <= 0:
        return 1.0
    return float(0.5 ** (days / half_life_days))


def _kind_label(kind: str) -> str:
    return _KIND_LABELS.get(kind, kind)


def score_lead(
    *,
    lead: Any,
    events: Iterable[EventLike],
    rules: ScoringRules,
    now: dt.datetime,
) -> ScoreResult:
    """Score one lead. `lead` is anything with the fit fields as attributes (a Lead, or a row
    being ingested); `events` are the lead's events (older ones than the window may be left out
    by the caller, except penalty kinds, see ScoringRules.penalty_kinds)."""
    items: list[ScoreItem] = []

    for fit, matches, label in rules.fit_checks:
        if matches(getattr(lead, fit.field, "")):
            items.append(ScoreItem("fit", fit.name, label, fit.points))

    ages: dict[str, list[dt.timedelta]] = defaultdict(list)
    for event in events:
        if event.kind in rules.engagement:
            ages[event.kind].append(max(now - event.occurred_at, dt.timedelta(0)))

    intent_items: list[ScoreItem] = []
    for kind in sorted(ages):
        rule = rules.engagement[kind]
        kind_ages = sorted(ages[kind])  # newest first: they are the ones that count
        label = _kind_label(kind)
        if rule.points > 0 and rule.max_events > 0:
            weights = [
                decay_weight(a, half_life_days=rules.half_life_days, window_days=rules.window_days)
                for a in kind_ages[: rule.max_events]
            ]
            counted = sum(1 for w in weights if w > 0)
            points = round(rule.points * sum(weights))
            if points:
                items.append(
                    ScoreItem(
                        "engagement",
                        f"engagement:{kind}",
                        f"{label} x{counted} ({rule.points:+d} each, half-life "
                        f"{rules.half_life_days:g} d)",
                        points,
                    )
                )
        elif rule.points < 0 and rule.max_events > 0:
            counted = min(len(kind_ages), rule.max_events)
            items.append(
                ScoreItem(
                    "engagement",
                    f"engagement:{kind}",
                    f"{label} x{counted} ({rule.points:+d} each, does not fade)",
                    rule.points * counted,
                )
            )
        if rule.intent_points > 0:
            if kind_ages[0] <= dt.timedelta(days=rule.intent_window_days):
                intent_items.append(
                    ScoreItem(
                        "intent",
                        f"intent:{kind}",
                        f"{label} within {rule.intent_window_days} days",
                        rule.intent_points,
                    )
                )
        elif rule.intent_points < 0:
            intent_items.append(
                ScoreItem("intent", f"intent:{kind}", f"{label} (penalty)", rule.intent_points)
            )
    items.extend(intent_items)
    return ScoreResult(
        items=tuple(items), threshold=rules.threshold, version=rules.version, scored_at=now
    )


def _fit_spec(row: FitRule) -> FitRuleSpec:
    spec = FitRuleSpec(str(row.name), str(row.field), str(row.operator), row.value, row.points)
    return replace(spec, label=describe_fit_rule(spec))


def rules_from_rows(
    *,
    fit_rows: Sequence[FitRule],
    engagement_rows: Sequence[Any],
    threshold: int,
    half_life_days: float,
    window_days: int,
    version: int,
) -> ScoringRules:
    """Build the plain-data rules from model rows (only active ones count)."""
    return ScoringRules(
        fit=tuple(_fit_spec(r) for r in fit_rows if r.active),
        engagement={
            r.kind: EngagementRuleSpec(
                r.kind, r.points, r.max_events, r.intent_points, r.intent_window_days
            )
            for r in engagement_rows
            if r.active
        },
        threshold=threshold,
        half_life_days=half_life_days,
        window_days=window_days,
        version=version,
    )


# --- the rules a fresh install starts with (marketing edits them in admin) ----------------

DEFAULT_FIT_RULES: tuple[FitRuleSpec, ...] = (
    FitRuleSpec("Target industry", "industry", "in", ["software", "fintech", "healthcare"], 15),
    FitRuleSpec("200+ employees", "employee_band", "gte", 200, 10),
    FitRuleSpec("Tiny company", "employee_band", "lte", 10, -10),
    FitRuleSpec("VP or C-level", "seniority", "in", ["vp", "c_level"], 20),
    FitRuleSpec("Director", "seniority", "eq", "director", 10),
    FitRuleSpec("Core markets", "country", "in", ["US", "CA", "GB", "DE", "FR", "NL"], 5),
    FitRuleSpec("Free-mail address", "domain", "free_mail", [], -20),
    FitRuleSpec("Student or intern", "title", "contains", ["student", "intern"], -15),
)
DEFAULT_ENGAGEMENT_RULES: tuple[EngagementRuleSpec, ...] = (
    EngagementRuleSpec("email_open", 1, max_events=10),
    EngagementRuleSpec("email_click", 3, max_events=5),
    EngagementRuleSpec("page_view", 1, max_events=10),
    EngagementRuleSpec("content_download", 5, max_events=4),
    EngagementRuleSpec("webinar_registered", 3, max_events=2),
    EngagementRuleSpec("webinar_attended", 8, max_events=2),
    EngagementRuleSpec("event_attended", 10, max_events=2),
    EngagementRuleSpec("pricing_page_view", 5, max_events=3, intent_points=10),
    EngagementRuleSpec("contact_form", 10, max_events=1, intent_points=20),
    EngagementRuleSpec("demo_request", 15, max_events=1, intent_points=30, intent_window_days=30),
    EngagementRuleSpec("trial_signup", 15, max_events=1, intent_points=25, intent_window_days=30),
    EngagementRuleSpec("product_usage", 2, max_events=10),
    EngagementRuleSpec("unsubscribe", -30, max_events=1),
)
