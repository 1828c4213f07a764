"""Hooks that apps above `leads` register to act on what `leads` records.

`leads` must not import the apps that depend on it, yet the handoff app promotes leads the
moment a qualifying event arrives. So handoff registers a callback here (in its
AppConfig.ready) and the event services call every registered callback inside the transaction
that recorded the events, with the leads still row-locked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RecordedEvent:
    """An event just recorded (not a replay): what a hook needs, without the row."""

    lead_id: int
    kind: str
    occurred_at: dt.datetime
    received_at: dt.datetime


EventsRecordedHook = Callable[..., object]

_events_recorded: list[EventsRecordedHook] = []


def on_events_recorded(hook: EventsRecordedHook) -> EventsRecordedHook:
    """Register `hook(*, events, now)`; registering the same callable twice keeps one."""
    if hook not in _events_recorded:
        _events_recorded.append(hook)
    return hook


def events_recorded(*, events: Sequence[RecordedEvent], now: dt.datetime) -> None:
    """Call every hook with the events just recorded. Call inside the recording transaction,
    after the leads were rescored (hooks read the new scores)."""
    if not events:
        return
    for hook in list(_events_recorded):
        hook(events=events, now=now)


LeadsReEngagedHook = Callable[..., object]

_leads_re_engaged: list[LeadsReEngagedHook] = []


def on_leads_re_engaged(hook: LeadsReEngagedHook) -> LeadsReEngagedHook:
    """Register `hook(*, lead_ids, now)`, called when recycled leads just became ready for
    sales again as re-engaged after their return (handoff writes the owner's notification in
    its outbox); registering the same callable twice keeps one."""
    if hook not in _leads_re_engaged:
        _leads_re_engaged.append(hook)
    return hook


def leads_re_engaged(*, lead_ids: Sequence[int], now: dt.datetime) -> None:
    """Call every hook with the leads that just became re-engaged, inside the transaction that
    stored their new readiness (a rolled-back rescore notifies nobody)."""
    if not lead_ids:
        return
    for hook in list(_leads_re_engaged):
        hook(lead_ids=lead_ids, now=now)
