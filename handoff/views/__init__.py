"""The server-rendered pages of the handoff app, one module per job:

- `leads`: the marketer's lead list, a lead's page, "Promote to sales" and its preview;
- `queues`: marketing's questions from sales, the rep's queue and accepted leads, the manager's
  queue;
- `handoff`: one handoff's page and the actions posted from it (`HandoffAction`);
- `display`: what those pages share (an SLA clock as shown, a queue row, a score breakdown).

Views are thin: they read through selectors, write through one service call each
(core.pages.perform maps domain errors to fields and messages), and redirect after a successful
POST. The return form and a lead's earlier returns belong to the feedback app: the project
templates pull them in with its template tags (feedback_ui), so nothing here imports feedback.
The names below are the ones urls.py and the feedback views use.
"""

from handoff.views.display import ClockView, Row, clock_view
from handoff.views.handoff import (
    AcceptAction,
    AnswerAction,
    AskAction,
    FirstTouchAction,
    HandoffAction,
    QualifyAction,
    ReassignAction,
    detail_url,
    handoff_accept,
    handoff_answer,
    handoff_ask,
    handoff_detail,
    handoff_first_touch,
    handoff_page_context,
    handoff_qualify,
    handoff_reassign,
    render_handoff_page,
    visible_handoff,
)
from handoff.views.leads import (
    LEAD_SORTS,
    lead_detail,
    lead_list,
    lead_promote,
    lead_promote_preview,
)
from handoff.views.queues import manager_queue, my_accepted, my_queue, questions

__all__ = [
    "LEAD_SORTS",
    "AcceptAction",
    "AnswerAction",
    "AskAction",
    "ClockView",
    "FirstTouchAction",
    "HandoffAction",
    "QualifyAction",
    "ReassignAction",
    "Row",
    "clock_view",
    "detail_url",
    "handoff_accept",
    "handoff_answer",
    "handoff_ask",
    "handoff_detail",
    "handoff_first_touch",
    "handoff_page_context",
    "handoff_qualify",
    "handoff_reassign",
    "lead_detail",
    "lead_list",
    "lead_promote",
    "lead_promote_preview",
    "manager_queue",
    "my_accepted",
    "my_queue",
    "questions",
    "render_handoff_page",
    "visible_handoff",
]
