"""Team chat messages (Slack-compatible incoming webhooks: `text` plus blocks).

A chat endpoint gets the alerts a team's channel wants: a handoff nobody could take, one at
risk, one breached; each with a link to the handoff's page.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.urls import reverse

CHAT_TYPES = {
    "handoff.unassigned": ":warning: Needs an owner",
    "handoff.at_risk": ":hourglass_flowing_sand: At risk",
    "handoff.breached": ":rotating_light: SLA breached",
}


def handoff_link(handoff_id: int) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("handoff:handoff-detail", args=[handoff_id])


def matches(event: dict[str, Any], *, team_id: int | None) -> bool:
    if event["type"] not in CHAT_TYPES:
        return False
    if team_id is None:
        return True
    team = event["data"].get("team") or {}
    return team.get("id") == team_id


def body(event: dict[str, Any]) -> str:
    data = event["data"]
    handoff = data.get("handoff") or {}
    lead = data.get("lead") or {}
    rep = (data.get("rep") or {}).get("username") or "nobody"
    team = (data.get("team") or {}).get("name") or "no team"
    link = handoff_link(int(handoff.get("id") or 0))
    who = lead.get("name") or lead.get("email") or f"lead #{lead.get('id')}"
    company = f" ({lead['company']})" if lead.get("company") else ""
    headline = f"{CHAT_TYPES[event['type']]}: {who}{company}"
    detail = f"Team {team}, assigned to {rep}, due {handoff.get('due_at') or '-'}."
    return json.dumps(
        {
            "text": f"{headline}. {detail} {link}",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline}*\n{detail}"}},
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "Open the handoff"},
                            "url": link,
                        }
                    ],
                },
            ],
        },
        separators=(",", ":"),
    )
