"""Routing a promoted lead: which team takes it, which SLA policy times it, which rep gets it.

Reads only, except `pick_rep(lock=True)`, which row-locks the rotation state; the caller (a
service, inside its transaction) writes the outcome. Lock order everywhere in the handoff app:
handoff rows, then the team row, then membership rows, then the lead row, so that two services
never wait on each other in opposite orders.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, Q

from core.errors import RuleViolation
from handoff import sla
from handoff.models import Handoff, SlaPolicy, Team, TeamMembership, TimeOff
from handoff.selectors import calendar_for
from handoff.states import Status
from handoff.time_off import describe as describe_time_off
from leads.models import Lead

# A lead has "high intent" when it did something high-intent (demo request, pricing page,
# trial sign-up, contact form: leads.models.HIGH_INTENT_KINDS) within this window before the
# promotion. Policies with `requires_high_intent` cover only those leads.
HIGH_INTENT_WINDOW = dt.timedelta(days=7)

# Handoffs that count against a rep's capacity: the ones still waiting for the rep's decision.
CAPACITY_STATUSES = (Status.PENDING, Status.WAITING)

# ISO 3166-1 alpha-2 country -> sales region. Countries not listed have no region and match
# only teams without a region rule.
_REGIONS: dict[str, str] = {
    "AMER": (
        "US CA MX BR AR CL CO PE VE EC BO PY UY GY SR CR PA GT HN SV NI BZ CU DO HT JM TT BS BB "
        "PR AG DM GD KN LC VC AW CW BM KY TC VG VI GL PM"
    ),
    "EMEA": (
        "GB IE FR DE NL BE LU CH AT IT ES PT SE NO DK FI IS PL CZ SK HU RO BG GR HR SI RS BA ME "
        "MK AL XK EE LV LT UA BY MD MT CY TR IL AE SA QA KW BH OM JO LB EG MA DZ TN LY ZA NG KE "
        "GH ET TZ UG RW SN CI CM AO MZ ZM ZW BW NA MU IR IQ SY YE PS AD MC SM VA LI GI FO GE AM "
        "AZ KZ UZ SD"
    ),
    "APAC": (
        "AU NZ JP CN HK MO TW KR SG MY TH ID PH VN IN PK BD LK NP MM KH LA BN MN FJ PG MV BT TL "
        "NC PF"
    ),
}  # fmt: skip
REGION_BY_COUNTRY: dict[str, str] = {
    country: region for region, countries in _REGIONS.items() for country in countries.split()
}
REGIONS: tuple[str, ...] = tuple(_REGIONS)


def region_for_country(country: str) -> str:
    """The sales region of an ISO country code ("" when unknown)."""
    return REGION_BY_COUNTRY.get((country or "").strip().upper(), "")


def has_recent_high_intent(lead: Lead, now: dt.datetime) -> bool:
    return lead.last_high_intent_at is not None and (
        now - HIGH_INTENT_WINDOW <= lead.last_high_intent_at <= now
    )


# --- teams ------------------------------------------------------------------------------------


def _norm(values: Iterable[Any]) -> set[str]:
    return {str(v).strip().lower() for v in values if str(v).strip()}


def team_match(team: Team, lead: Lead) -> dict[str, Any] | None:
    """The criteria on which the team takes the lead ({} for a catch-all), or None."""
    matched: dict[str, Any] = {}
    if team.match_regions:
        region = region_for_country(lead.country)
        if region.lower() not in _norm(team.match_regions):
            return None
        matched["region"] = region
    if team.match_countries:
        if (lead.country or "").lower() not in _norm(team.match_countries):
            return None
        matched["country"] = lead.country.upper()
    if team.match_industries:
        if (lead.industry or "").strip().lower() not in _norm(team.match_industries):
            return None
        matched["industry"] = lead.industry
    if team.match_employee_bands:
        if (lead.employee_band or "").lower() not in _norm(team.match_employee_bands):
            return None
        matched["employee_band"] = lead.employee_band
    if team.match_min_score is not None or team.match_max_score is not None:
        if team.match_min_score is not None and lead.score < team.match_min_score:
            return None
        if team.match_max_score is not None and lead.score > team.match_max_score:
            return None
        matched["score"] = lead.score
        matched["score_band"] = [team.match_min_score, team.match_max_score]
    return matched


def describe_match(matched: dict[str, Any]) -> str:
    if not matched:
        return "catch-all team (no matching rules)"
    parts = []
    for key, value in matched.items():
        if key == "score_band":
            low, high = value
            parts.append(f"score band {low if low is not None else '-'}..{high or '-'}")
        elif key != "score":
            parts.append(f"{key.replace('_', ' ')} {value}")
    return "matched on " + ", ".join(parts)


def match_team(*, lead: Lead, team: Team | None = None) -> tuple[Team, dict[str, Any]]:
    """The team for the lead, tried by priority (or the one asked for), with why it matched."""
    if team is not None:
        if not team.active:
            raise RuleViolation(
                f"Team {team.name} is not active.", code="team_inactive", field="team"
            )
        return team, {"rule": f"team chosen at promotion: {team.name}", "matched": {}}
    for candidate in Team.objects.filter(active=True).select_related("calendar"):
        matched = team_match(candidate, lead)
        if matched is not None:
            return candidate, {
                "rule": describe_match(matched),
                "matched": matched,
                "priority": candidate.priority,
            }
    raise RuleViolation(
        "No active team takes this lead (region "
        f"{region_for_country(lead.country) or 'unknown'}, industry {lead.industry or '-'}, "
        f"size {lead.employee_band or '-'}, score {lead.score}). Add a catch-all team.",
        code="no_matching_team",
    )


# --- policies ---------------------------------------------------------------------------------


def policy_matches(policy: SlaPolicy, *, lead: Lead, team: Team, now: dt.datetime) -> bool:
    if not policy.active:
        return False
    if policy.team_id is not None and policy.team_id != team.pk:
        return False
    if policy.min_score is not None and lead.score < policy.min_score:
        return False
    if policy.max_score is not None and lead.score > policy.max_score:
        return False
    if policy.sources and lead.source not in policy.sources:
        return False
    if policy.requires_pql and not lead.pql:
        return False
    return not (policy.requires_high_intent and not has_recent_high_intent(lead, now))


def match_policy(*, lead: Lead, team: Team, now: dt.datetime) -> SlaPolicy:
    """The matching active policy with the lowest precedence; never a silent default."""
    candidates = (
        SlaPolicy.objects.filter(active=True)
        .filter(Q(team__isnull=True) | Q(team=team))
        .select_related("calendar")
        .order_by("precedence", "name", "id")
    )
    for policy in candidates:
        if policy_matches(policy, lead=lead, team=team, now=now):
            return policy
    raise RuleViolation(
        f"No active SLA policy covers this lead (team {team.name}, score {lead.score}, "
        f"source {lead.source}). Add a catch-all policy in the admin.",
        code="no_sla_policy",
    )


def policy_snapshot(policy: SlaPolicy, calendar_id: int, calendar_name: str, tz: str) -> dict:
    """The policy as it stood: the handoff keeps this, so editing a policy rewrites nothing."""
    return {
        "id": policy.pk,
        "name": policy.name,
        "version": policy.version,
        "accept_within_minutes": policy.accept_within_minutes,
        "first_touch_within_minutes": policy.first_touch_within_minutes,
        "at_risk_ratio": policy.at_risk_ratio,
        "notify_manager_on_breach": policy.notify_manager_on_breach,
        "reassign_on_breach": policy.reassign_on_breach,
        "max_reassignments": policy.max_reassignments,
        "skip_reps_off_hours": policy.skip_reps_off_hours,
        "requires_high_intent": policy.requires_high_intent,
        "requires_pql": policy.requires_pql,
        "calendar_id": calendar_id,
        "calendar_name": calendar_name,
        "timezone": tz,
    }


# --- reps -------------------------------------------------------------------------------------


@dataclass
class RepChoice:
    membership: TeamMembership | None
    position_before: int
    position_chosen: int | None
    cycle: list[str]
    skipped: list[dict[str, Any]] = field(default_factory=list)
    # Account-based routing, when the team prefers the account's owner: who, and the outcome.
    account_owner: dict[str, Any] | None = None

    @property
    def rep(self) -> Any:
        return self.membership.rep if self.membership else None

    @property
    def position_after(self) -> int:
        if self.position_chosen is None:
            return self.position_before
        return self.position_chosen + 1

    def as_routing(self) -> dict[str, Any]:
        rep = self.rep
        return {
            "rotation": {
                "position_before": self.position_before,
                "position_chosen": self.position_chosen,
                "position_after": self.position_after,
                "cycle": self.cycle,
            },
            "rep": {"id": rep.pk, "username": rep.get_username()} if rep else None,
            "skipped": self.skipped,
            "queue": "rep" if rep else "manager",
            "account_owner": self.account_owner,
        }


def rotation_cycle(memberships: list[TeamMembership]) -> list[TeamMembership]:
    """One rotation cycle: each member `weight` times, interleaved (A2 B1 C1 -> A B C A), so a
    heavier rep gets more turns without taking them all in a row."""
    cycle: list[TeamMembership] = []
    rounds = max((m.weight for m in memberships), default=0)
    for turn in range(rounds):
        cycle.extend(m for m in memberships if m.weight > turn)
    return cycle


def pick_rep(
    *,
    team: Team,
    now: dt.datetime,
    skip_off_hours: bool,
    exclude_rep_ids: Collection[int] = (),
    lock: bool = True,
    account_owner_id: int | None = None,
) -> RepChoice:
    """The next eligible rep of the team in its weighted rotation, and who was skipped and why.

    With lock=True (inside the caller's transaction) the team row is locked first, then every
    membership of the team's reps (in all teams, ordered by id): a rep's capacity counts open
    handoffs from every team, so two promotions through two teams sharing a rep serialise too.
    Counts are read after the locks, so they see every committed assignment.
    """
    if lock:
        team = (
            Team.objects.select_for_update(of=("self",)).select_related("calendar").get(pk=team.pk)
        )
    team_rep_ids = TeamMembership.objects.filter(team_id=team.pk).values("rep_id")
    rows = TeamMembership.objects.filter(rep_id__in=team_rep_ids).select_related("rep", "calendar")
    if lock:
        rows = rows.select_for_update(of=("self",))
    memberships = [m for m in rows.order_by("id") if m.team_id == team.pk]
    memberships.sort(key=lambda m: (m.position, m.pk))
    cycle = rotation_cycle(memberships)
    choice = RepChoice(
        membership=None,
        position_before=team.rotation_position,
        position_chosen=None,
        cycle=[m.rep.get_username() for m in cycle],
    )
    for m in memberships:
        if m.weight == 0:
            choice.skipped.append(_skip(m, "no_turns", "weight 0: takes no turns"))
    if not cycle:
        return choice

    rep_ids = [m.rep_id for m in memberships]
    open_counts = dict(
        Handoff.objects.filter(assigned_to_id__in=rep_ids, status__in=CAPACITY_STATUSES)
        .order_by()
        .values("assigned_to_id")
        .annotate(n=Count("id"))
        .values_list("assigned_to_id", "n")
    )
    # Days off are read in each rep's own zone (their calendar, else the team's): fetch the
    # ranges touching the day either side of UTC today, and decide per rep below.
    utc_today = now.astimezone(dt.UTC).date()
    time_off: dict[int, list[TimeOff]] = {}
    for row in TimeOff.objects.filter(
        rep_id__in=rep_ids,
        starts_on__lte=utc_today + dt.timedelta(days=1),
        ends_on__gte=utc_today - dt.timedelta(days=1),
    ):
        time_off.setdefault(row.rep_id, []).append(row)
    if account_owner_id is not None and team.route_to_account_owner:
        owner = next((m for m in memberships if m.rep_id == account_owner_id), None)
        if owner is None:
            choice.account_owner = {
                "rep_id": account_owner_id,
                "outcome": "not_in_team",
                "detail": "the account's owner is not in this team: rotation",
            }
        else:
            reason = _ineligible(
                owner,
                team,
                now,
                skip_off_hours,
                exclude_rep_ids,
                open_counts,
                time_off.get(owner.rep_id, []),
            )
            choice.account_owner = {
                "rep_id": owner.rep_id,
                "username": owner.rep.get_username(),
                "outcome": reason[0] if reason else "chosen",
                "detail": (
                    f"account owner {reason[1]}: rotation" if reason else "owns the account"
                ),
            }
            if reason is None:
                # The owner's turn is not a rotation turn: the rotation stays where it was.
                choice.membership = owner
                return choice
    seen: set[int] = {m.rep_id for m in memberships if m.weight == 0}
    start = team.rotation_position % len(cycle)
    for step in range(len(cycle)):
        index = (start + step) % len(cycle)
        m = cycle[index]
        if m.rep_id in seen:
            continue
        seen.add(m.rep_id)
        reason = _ineligible(
            m, team, now, skip_off_hours, exclude_rep_ids, open_counts, time_off.get(m.rep_id, [])
        )
        if reason:
            choice.skipped.append(_skip(m, *reason))
            continue
        choice.membership = m
        choice.position_chosen = index
        break
    return choice


def _skip(m: TeamMembership, reason: str, detail: str) -> dict[str, Any]:
    return {
        "rep_id": m.rep_id,
        "username": m.rep.get_username(),
        "reason": reason,
        "detail": detail,
    }


def _ineligible(
    m: TeamMembership,
    team: Team,
    now: dt.datetime,
    skip_off_hours: bool,
    exclude_rep_ids: Collection[int],
    open_counts: dict[int, int],
    time_off: Sequence[TimeOff] = (),
) -> tuple[str, str] | None:
    if m.rep_id in exclude_rep_ids:
        return ("excluded", "already had this lead (reassignment)")
    if not m.active or not m.rep.is_active:
        return ("inactive", "membership or account inactive")
    if time_off:
        zone = (m.calendar or team.calendar).timezone or "UTC"
        today = now.astimezone(ZoneInfo(zone)).date()
        for row in time_off:
            if row.covers(today):
                return ("time_off", describe_time_off(row))
    if m.is_away:
        return ("away", "marked away")
    held = open_counts.get(m.rep_id, 0)
    if held >= m.capacity:
        return ("at_capacity", f"{held} open of capacity {m.capacity}")
    if skip_off_hours:
        calendar = m.calendar or team.calendar
        if not sla.is_business_time(now, calendar_for(calendar)):
            return ("off_hours", f"outside working hours ({calendar.name})")
    return None


def available_from(*, skipped: dict[str, Any], team: Team, now: dt.datetime) -> dt.datetime | None:
    """When a rep skipped for being off hours is next at work (their calendar's next working
    window); None for any other reason (away, at capacity: nobody knows when that ends)."""
    if skipped.get("reason") != "off_hours":
        return None
    membership = (
        TeamMembership.objects.filter(team_id=team.pk, rep_id=skipped["rep_id"])
        .select_related("calendar")
        .first()
    )
    calendar = (membership.calendar if membership is not None else None) or team.calendar
    try:
        return sla.next_business_moment(now, calendar_for(calendar))
    except ValueError:
        return None


def who_could_take_it(*, team: Team, now: dt.datetime, choice: RepChoice) -> list[dict[str, Any]]:
    """When nobody can take a handoff now: each skipped rep, why, and when the off-hours ones
    are back, soonest first (the others after them, in rotation order)."""
    people = []
    for skipped in choice.skipped:
        if skipped.get("reason") in ("excluded", "no_turns", "inactive"):
            continue
        people.append({**skipped, "from": available_from(skipped=skipped, team=team, now=now)})
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    people.sort(key=lambda p: p["from"] or far)
    return people
