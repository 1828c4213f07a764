"""Admin screens for marketing and managers, one module per subject: leads, events and
campaigns (`leads`), the CSV import and export and the import's tables (`imports`), the
scoring rules (`scoring`), accounts (`accounts`), people's settings (`people`). Importing this
package registers them all. Writes go through leads.services."""

from leads.admin.accounts import AccountAdmin, AccountAdminForm
from leads.admin.imports import (
    ImportMappingAdmin,
    LeadImportAdmin,
    LeadImportExportAdmin,
    LeadResource,
    SourceAliasAdmin,
)
from leads.admin.leads import (
    RECENT_EVENTS_SHOWN,
    CampaignAdmin,
    EngagementEventAdmin,
    LeadAdmin,
    LeadAdminForm,
)
from leads.admin.people import UserProfileAdmin
from leads.admin.scoring import (
    EngagementRuleAdmin,
    FitRuleAdmin,
    PqlCriterionAdmin,
    ScoringAdminMixin,
    ScoringConfigAdmin,
)

__all__ = [
    "RECENT_EVENTS_SHOWN",
    "AccountAdmin",
    "AccountAdminForm",
    "CampaignAdmin",
    "EngagementEventAdmin",
    "EngagementRuleAdmin",
    "FitRuleAdmin",
    "ImportMappingAdmin",
    "LeadAdmin",
    "LeadAdminForm",
    "LeadImportAdmin",
    "LeadImportExportAdmin",
    "LeadResource",
    "PqlCriterionAdmin",
    "ScoringAdminMixin",
    "ScoringConfigAdmin",
    "SourceAliasAdmin",
    "UserProfileAdmin",
]
