"""Leads API, one module per resource: leads and their events (`leads`), the bulk endpoints
(`bulk`), the scoring rules (`scoring`), and what they share (`common`: permissions,
documented errors, the Idempotency-Key headers).

The API-wide pieces (Pagination, exception_handler) live in core.api and are re-exported
here; settings point at core.api so that importing this package (which imports DRF's
generics, which read the pagination setting) is not circular.
"""

from core.api.errors import exception_handler
from core.api.pagination import Pagination
from leads.apis.bulk import (
    BULK_ERRORS,
    EventBulkApi,
    LeadBulkApi,
    _gc_paused,
    _json_response,
    _read_json_body,
    _rows,
    _run_idempotent,
)
from leads.apis.common import (
    AUTH_ERRORS,
    E400,
    E400_BODY,
    E401,
    E403,
    E404,
    E409,
    E413,
    E415,
    E422,
    IDEMPOTENCY_KEY,
    IDEMPOTENT_REPLAYED,
    CanEditScoring,
    CanWriteLeads,
)
from leads.apis.leads import LeadDetailApi, LeadEventsApi, LeadListCreateApi
from leads.apis.scoring import (
    EngagementRuleViewSet,
    FitRuleViewSet,
    PqlCriterionViewSet,
    ScoringConfigApi,
)

__all__ = [
    "AUTH_ERRORS",
    "BULK_ERRORS",
    "E400",
    "E400_BODY",
    "E401",
    "E403",
    "E404",
    "E409",
    "E413",
    "E415",
    "E422",
    "IDEMPOTENCY_KEY",
    "IDEMPOTENT_REPLAYED",
    "CanEditScoring",
    "CanWriteLeads",
    "EngagementRuleViewSet",
    "EventBulkApi",
    "FitRuleViewSet",
    "LeadBulkApi",
    "LeadDetailApi",
    "LeadEventsApi",
    "LeadListCreateApi",
    "Pagination",
    "PqlCriterionViewSet",
    "ScoringConfigApi",
    "_gc_paused",
    "_json_response",
    "_read_json_body",
    "_rows",
    "_run_idempotent",
    "exception_handler",
]
