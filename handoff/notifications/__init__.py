"""The notification outbox: rows written in the transaction that caused them, sent by a task.

- messages.py: composing (per-kind templates, `Person`, `About`, `render`, `message_values`)
- outbox.py: writing rows in the caller's transaction (`notify`, `notify_re_engaged`,
  `outbox_write`, `ManagerDirectory`)
- delivery.py: sending them (`notifications_send`, `retry_delay`, `unsent_backlog`)

The public names are re-exported here: `from handoff.notifications import notify` keeps working.
"""

from handoff.notifications.delivery import (
    SendResult,
    notifications_send,
    retry_delay,
    unsent_backlog,
)
from handoff.notifications.messages import (
    BREACHES_ITEM,
    BREACHES_TEMPLATES,
    GROUP_LIST_CAP,
    TEMPLATES,
    About,
    Kind,
    Person,
    breached_list_link,
    breaches_values,
    handoff_link,
    message_values,
    render,
    render_breaches,
    when_in,
    zone_named,
)
from handoff.notifications.outbox import (
    ManagerDirectory,
    managers_of,
    notify,
    notify_re_engaged,
    outbox_write,
)

__all__ = [
    "BREACHES_ITEM",
    "BREACHES_TEMPLATES",
    "GROUP_LIST_CAP",
    "TEMPLATES",
    "About",
    "Kind",
    "ManagerDirectory",
    "Person",
    "SendResult",
    "breached_list_link",
    "breaches_values",
    "handoff_link",
    "managers_of",
    "message_values",
    "notifications_send",
    "notify",
    "notify_re_engaged",
    "outbox_write",
    "render",
    "render_breaches",
    "retry_delay",
    "unsent_backlog",
    "when_in",
    "zone_named",
]
