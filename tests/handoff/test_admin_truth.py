"""The admin tells the truth: read-only records offer no Save, snapshots read as tables, the
import errors count file lines once, and a lead's owner can only be picked among marketers."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from core.roles import MARKETING
from feedback import services as feedback_services
from feedback.models import ReturnFeedback
from handoff.models import Notification
from tests.factories import LeadFactory, UserFactory
from tests.handoff.world import World, make_world


@pytest.fixture
def world(db, marketer, rep, other_rep, manager) -> World:
    return make_world(marketer=marketer, rep=rep, other_rep=other_rep, manager=manager)


@pytest.fixture
def manager_client(world) -> Client:
    client = Client()
    client.force_login(world.manager)
    return client


def test_the_handoff_page_has_no_save_button_and_shows_snapshots_as_tables(world, manager_client):
    h = world.promote()
    html = manager_client.get(f"/admin/handoff/handoff/{h.pk}/change/").content.decode()
    assert 'name="_save"' not in html and 'name="_continue"' not in html
    assert 'name="_addanother"' not in html
    assert "Close" in html  # the way back
    assert 'class="snapshot"' in html
    # The policy snapshot and the routing are label/value rows, not JSON text.
    assert '<th scope="row">accept within minutes</th><td>240</td>' in html
    assert '{"' not in html.split('id="handoff_form"')[1].split("</form>")[0]


@pytest.mark.parametrize("model", ["notification", "returnfeedback"])
def test_other_read_only_records_have_no_save_button(world, manager_client, model):
    h = world.promote()
    if model == "notification":
        url = f"/admin/handoff/notification/{Notification.objects.first().pk}/change/"
    else:
        feedback_services.feedback_return_handoff(
            handoff=h, actor=h.assigned_to, reason="not-ready"
        )
        url = f"/admin/feedback/returnfeedback/{ReturnFeedback.objects.get().pk}/change/"
    html = manager_client.get(url).content.decode()
    assert 'name="_save"' not in html and 'name="_continue"' not in html


def test_the_lead_owner_dropdown_offers_only_marketers(world):
    other_marketer = UserFactory(username="mo.marketer", role=MARKETING, is_staff=True)
    lead = LeadFactory(owner=world.marketer)
    client = Client()
    world.manager.is_staff = True
    world.manager.save()
    client.force_login(world.manager)
    html = client.get(f"/admin/leads/lead/{lead.pk}/change/").content.decode()
    owner_select = html.split('name="owner"')[1].split("</select>")[0]
    assert f'value="{world.marketer.pk}"' in owner_select
    assert f'value="{other_marketer.pk}"' in owner_select
    for not_marketer in (world.rep, world.other_rep, world.manager):
        assert f'value="{not_marketer.pk}"' not in owner_select


def test_import_errors_name_each_row_once_by_its_file_line(world):
    world.marketer.is_staff = True
    world.marketer.save()
    client = Client()
    client.force_login(world.marketer)
    content = "email,employee_band\nfine@corp.example,201-500\nnot-an-email,huge\n"
    uploaded = client.post(
        "/admin/leads/lead/import/",
        {"file": SimpleUploadedFile("leads.csv", content.encode(), "text/csv")},
    )
    # The mapping step as recognised, then the dry run.
    checked = client.post(
        uploaded["Location"], {"col_0": "email", "col_1": "employee_band"}, follow=True
    )
    html = checked.content.decode()
    table = html.split('class="list import-errors"')[1].split("</table>")[0]
    assert "<th>Line</th>" in table
    assert "<td>3</td>" in table  # the bad row is line 3 of the file (the header is line 1)
    assert ">Row<" not in table and "line 3:" not in table
    assert "is not a valid email address" in table
