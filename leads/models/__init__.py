"""The leads app's models, one module per subject; every model is imported here, so
`from leads.models import Lead` and the migrations see them all.

- `choices`: stages, sources, seniority, employee bands, event kinds (and their tables);
- `campaigns`, `accounts`: where a lead came from, the company it belongs to;
- `lead`: the lead (and the lists of its fields by who writes them), its stage history, its
  engagement events;
- `scoring`: the scoring settings, fit rules, engagement rules and PQL criteria;
- `imports`: CSV imports, source aliases, saved mappings;
- `idempotency`, `outbox`: stored answers of Idempotency-Keys, the task outbox;
- `privacy`, `people`: erasures of a person's data, a person's own settings.
"""

from leads.models.accounts import Account
from leads.models.campaigns import Campaign
from leads.models.choices import (
    EMPLOYEE_BAND_MIN,
    HIGH_INTENT_KINDS,
    PROMOTABLE_STAGES,
    SENIORITY_RANK,
    STAGE_REACHED_FIELD,
    EmployeeBand,
    EventKind,
    Seniority,
    Source,
    Stage,
)
from leads.models.idempotency import IdempotencyRecord
from leads.models.imports import (
    ImportMapping,
    ImportStatus,
    LeadImport,
    LeadImportChange,
    SourceAlias,
)
from leads.models.lead import (
    LEAD_CHOICE_FIELDS,
    LEAD_PROTECTED_FIELDS,
    LEAD_REFERENCE_FIELDS,
    LEAD_STAGE_DATE_FIELDS,
    LEAD_TEXT_FIELDS,
    LEAD_WRITABLE_FIELDS,
    EngagementEvent,
    Lead,
    LeadStageChange,
)
from leads.models.people import UserProfile
from leads.models.privacy import Erasure
from leads.models.scoring import (
    EngagementRule,
    FitRule,
    PqlCriterion,
    ScoringConfig,
    fit_rule_value_problem,
    pql_criterion_problem,
)

__all__ = [
    "EMPLOYEE_BAND_MIN",
    "HIGH_INTENT_KINDS",
    "LEAD_CHOICE_FIELDS",
    "LEAD_PROTECTED_FIELDS",
    "LEAD_REFERENCE_FIELDS",
    "LEAD_STAGE_DATE_FIELDS",
    "LEAD_TEXT_FIELDS",
    "LEAD_WRITABLE_FIELDS",
    "PROMOTABLE_STAGES",
    "SENIORITY_RANK",
    "STAGE_REACHED_FIELD",
    "Account",
    "Campaign",
    "EmployeeBand",
    "EngagementEvent",
    "EngagementRule",
    "Erasure",
    "EventKind",
    "FitRule",
    "IdempotencyRecord",
    "ImportMapping",
    "ImportStatus",
    "Lead",
    "LeadImport",
    "LeadImportChange",
    "LeadStageChange",
    "PqlCriterion",
    "ScoringConfig",
    "Seniority",
    "Source",
    "SourceAlias",
    "Stage",
    "UserProfile",
    "fit_rule_value_problem",
    "pql_criterion_problem",
]
