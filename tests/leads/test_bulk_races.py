"""Lost races on the bulk path end in a clear 409, never a 500 or a duplicate (PostgreSQL)."""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from leads import services
from leads.models import Lead
from tests.leads.builders import lead_row

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("default_rules")]


def other_connection() -> psycopg.Connection:
    s = connection.settings_dict
    return psycopg.connect(
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        user=s["USER"],
        password=s["PASSWORD"] or None,
        dbname=s["NAME"],
    )


def post_in_thread(user, payload, answers):
    def run():
        client = APIClient()
        client.force_authenticate(user)
        answers.append(
            client.post(
                "/api/leads/bulk/", data=json.dumps(payload), content_type="application/json"
            )
        )
        connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_batch_that_loses_the_race_for_a_new_email_gets_a_409_and_writes_nothing(marketer):
    # Another request is inserting the same new lead and has not committed yet.
    rival = other_connection()
    now = timezone.now()
    rival.execute(
        "INSERT INTO leads_lead (email, first_name, last_name, phone, title, seniority, company, "
        "domain, industry, employee_band, country, source, stage, score, score_breakdown, "
        "ready_for_sales, return_count, created_at, updated_at) VALUES ('buyer1@corp1.example', "
        "'', '', '', '', '', '', 'corp1.example', '', '', '', 'other', 'lead', 0, '{}', false, 0, "
        "%s, %s)",
        [now, now],
    )
    answers: list = []
    thread = post_in_thread(marketer, {"leads": [lead_row(1), lead_row(2)]}, answers)
    time.sleep(1.0)  # our INSERT now waits on the rival's uncommitted row
    assert thread.is_alive()

    rival.commit()
    thread.join(timeout=30)
    rival.close()

    response = answers[0]
    assert response.status_code == 409
    assert response.json()["code"] == "concurrent_upsert"
    assert list(Lead.objects.values_list("email", flat=True)) == ["buyer1@corp1.example"]

    # Sent again, the batch updates the lead the rival created and creates the other.
    client = APIClient()
    client.force_authenticate(marketer)
    again = client.post(
        "/api/leads/bulk/",
        data=json.dumps({"leads": [lead_row(1), lead_row(2)]}),
        content_type="application/json",
    ).json()
    assert [r["status"] for r in again["results"]] == ["updated", "created"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_batches_updating_the_same_leads_at_once_both_land_one_after_the_other(marketer):
    services.leads_bulk_upsert(rows=[lead_row(n) for n in range(50)])
    answers: list = []
    threads = [
        post_in_thread(
            marketer, {"leads": [lead_row(n, title=f"Title {k}") for n in range(50)]}, answers
        )
        for k in range(2)
    ]
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(r.status_code for r in answers) == [200, 200]
    assert Lead.objects.count() == 50
    assert Lead.objects.values("title").distinct().count() == 1  # one batch wrote last, whole
