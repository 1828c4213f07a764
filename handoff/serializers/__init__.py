"""API shapes of handoffs, one job per module:

- ``refs``: the small shapes other answers nest (user, lead, team, policy, clock);
- ``handoffs``: the list row, event, attempt chain and detail serializers (the schema);
- ``rows``: the same answers built directly (list rows, from values too, the detail);
- ``actions``: the request bodies of the handoff actions;
- ``preview``: the promotion preview's answer;
- ``configuration``: marketing's auto-promotion rules.

Import the names below from ``handoff.serializers``.
"""

from handoff.serializers.actions import (
    BantSerializer,
    FirstTouchRequestSerializer,
    PromoteRequestSerializer,
    ProvideInfoRequestSerializer,
    QualifyRequestSerializer,
    ReassignRequestSerializer,
    RequestInfoRequestSerializer,
    User,
)
from handoff.serializers.configuration import AutoPromotionRuleSerializer
from handoff.serializers.handoffs import (
    EVENT_STATUS_CHOICES,
    AttemptEndingSerializer,
    ChainAttemptSerializer,
    ChainSerializer,
    HandoffDetailSerializer,
    HandoffEventSerializer,
    HandoffListSerializer,
)
from handoff.serializers.preview import (
    PreviewAccountHandoffSerializer,
    PreviewAccountOwnerSerializer,
    PreviewAccountSerializer,
    PreviewBlockSerializer,
    PreviewCalendarSerializer,
    PreviewPolicySerializer,
    PreviewRepSerializer,
    PromotionPreviewSerializer,
    SkippedRepSerializer,
)
from handoff.serializers.refs import (
    AutoPromotionRefSerializer,
    ClockSerializer,
    LeadRefSerializer,
    PersonRefSerializer,
    PolicyRefSerializer,
    TeamRefSerializer,
    UserRefSerializer,
)
from handoff.serializers.rows import (
    chain_row,
    detail_row,
    event_row,
    list_row,
    list_row_of_values,
)

__all__ = [
    "EVENT_STATUS_CHOICES",
    "AttemptEndingSerializer",
    "AutoPromotionRefSerializer",
    "AutoPromotionRuleSerializer",
    "BantSerializer",
    "ChainAttemptSerializer",
    "ChainSerializer",
    "ClockSerializer",
    "FirstTouchRequestSerializer",
    "HandoffDetailSerializer",
    "HandoffEventSerializer",
    "HandoffListSerializer",
    "LeadRefSerializer",
    "PersonRefSerializer",
    "PolicyRefSerializer",
    "PreviewAccountHandoffSerializer",
    "PreviewAccountOwnerSerializer",
    "PreviewAccountSerializer",
    "PreviewBlockSerializer",
    "PreviewCalendarSerializer",
    "PreviewPolicySerializer",
    "PreviewRepSerializer",
    "PromoteRequestSerializer",
    "PromotionPreviewSerializer",
    "ProvideInfoRequestSerializer",
    "QualifyRequestSerializer",
    "ReassignRequestSerializer",
    "RequestInfoRequestSerializer",
    "SkippedRepSerializer",
    "TeamRefSerializer",
    "User",
    "UserRefSerializer",
    "chain_row",
    "detail_row",
    "event_row",
    "list_row",
    "list_row_of_values",
]
