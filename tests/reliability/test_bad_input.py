"""Bad files and payloads: each gets a clear error naming the line or the field, and writes
nothing (the row count before equals the row count after). Exported CSV cells that a
spreadsheet would run as a formula are escaped."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from handoff.models import Handoff, HandoffEvent
from leads import tasks
from leads.models import EngagementEvent, Lead, LeadImport
from tests.reliability.security_world import SecurityWorld, make_security_world

HEADER = "email,first_name,last_name,company,country\n"


@pytest.fixture
def world(db) -> SecurityWorld:
    return make_security_world()


def counts() -> tuple[int, int, int, int]:
    return (
        Lead.objects.count(),
        EngagementEvent.objects.count(),
        Handoff.objects.count(),
        HandoffEvent.objects.count(),
    )


# --- CSV: manage.py import_leads ------------------------------------------------------------


def import_file(path: Path, *args: str) -> str:
    """Run the import; the CommandError's message and what it printed about bad lines."""
    err = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("import_leads", str(path), "--no-progress", *args,
                     stdout=io.StringIO(), stderr=err)  # fmt: skip
    return f"{caught.value}\n{err.getvalue()}"


def good_rows(n: int, start: int = 0) -> str:
    return "".join(f"person{i}@corp{i % 5}.example,P{i},Q,Corp,US\n" for i in range(start, n))


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "latin-1",
            (HEADER + good_rows(1) + "mueller@corp.example,J\u00fcrgen,M\u00fcller,Corp,DE\n")
            .encode("latin-1"),
            "line 3: not UTF-8 text (byte 0xfc at column 23)",
        ),
        (
            "UTF-16",
            (HEADER + good_rows(2)).encode("utf-16"),
            "line 1: the file is UTF-16 or UTF-32 text; save it as CSV UTF-8",
        ),
        (
            "a spreadsheet saved as binary",
            b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xb5U\x9c\x8d",
            "line 1: not UTF-8 text",
        ),
        (
            "no email column",
            ("name,company\n" + "Ann,Corp\n").encode(),
            "The first line must be a header naming the columns, with 'email'",
        ),
        (
            "an unterminated quote",
            (HEADER + good_rows(2) + 'dana@corp.example,"Dana,Q,Corp,US\n' + good_rows(5, 2))
            .encode(),
            "line 4: a quoted cell opened here is never closed (unterminated quote)",
        ),
        (
            "a stray character after a closing quote",
            (HEADER + 'dana@corp.example,"Dana"x,Q,Corp,US\n').encode(),
            "line 2: ',' expected after '\"'",
        ),
        (
            "a NUL byte",
            (HEADER + good_rows(1) + "nul@corp.example,N\x00,Q,Corp,US\n").encode(),
            "line 3: contains a NUL byte",
        ),
    ],
)  # fmt: skip
def test_import_leads_refuses_a_broken_file_naming_the_line(
    world, tmp_path, name, content, expected
):
    path = tmp_path / "leads.csv"
    path.write_bytes(content)
    before = counts()
    message = import_file(path)
    assert expected in message, message
    assert "Traceback" not in message
    assert counts() == before


def test_import_leads_refuses_a_file_10_mb_over_the_limit_before_reading_it(
    world, tmp_path, settings
):
    settings.LEAD_IMPORT_FILE_MAX_BYTES = 2 * 1_000_000
    path = tmp_path / "big.csv"
    row = "someone@corp.example,Some,One,Corp,US\n"
    with path.open("w") as out:
        out.write(HEADER)
        out.write(row * ((12 * 1_000_000) // len(row) + 1))
    before = counts()
    message = import_file(path)
    assert "The file is 12.0 MB, over the limit of 2.0 MB" in message
    assert counts() == before


def test_import_leads_names_a_bad_row_at_line_9999_and_imports_nothing(world, tmp_path):
    path = tmp_path / "leads.csv"
    rows = [f"person{i}@corp.example,P{i},Q,Corp,US\n" for i in range(10_000)]
    rows[9_997] = "not-an-email,Bad,Row,Corp,US\n"  # line 9,999: the header is line 1
    path.write_text(HEADER + "".join(rows))
    before = counts()
    message = import_file(path)
    assert 'line 9999: column "email" ("not-an-email"):' in message
    assert "1 of 10,000 rows are bad; nothing was imported" in message
    assert counts() == before


def test_a_file_with_short_and_long_rows_names_the_long_ones(world, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(HEADER + "short@corp.example,S\n" + "long@corp.example,L,Q,Corp,US,extra\n")
    before = counts()
    message = import_file(path)
    assert "line 3: more cells than columns in the header" in message
    assert counts() == before


# --- CSV: the admin import ----------------------------------------------------------------------


def admin_upload(client: Client, content: bytes) -> Any:
    return client.post(
        "/admin/leads/lead/import/",
        {"file": SimpleUploadedFile("leads.csv", content, "text/csv")},
    )


def admin_dry_run(client: Client, content: bytes) -> str:
    """The admin's import up to its dry run (upload, the recognised mapping, check): the text
    the user reads on the way; a refused upload stops at the upload page."""
    response = admin_upload(client, content)
    if response.status_code != 302:
        return response.content.decode()
    step = client.get(response["Location"]).content.decode()
    form = {}
    for name, body in re.findall(r'<select name="(col_\d+)"[^>]*>(.*?)</select>', step, re.S):
        chosen = re.search(r'<option value="([^"]*)"[^>]*selected', body)
        form[name] = chosen.group(1) if chosen else ""
    checked = client.post(response["Location"], form, follow=True)
    return step + checked.content.decode()


@pytest.fixture
def staff(world) -> Client:
    client = Client()
    client.force_login(world.users["marketer"])
    return client


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ((HEADER + "m@corp.example,J\u00fcrgen,M,Corp,DE\n").encode("latin-1"),
         "line 2: not UTF-8 text"),
        ((HEADER + good_rows(2)).encode("utf-16"), "line 1: the file is UTF-16"),
        ((HEADER + good_rows(2) + 'd@corp.example,"Dana,Q,Corp,US\n').encode(),
         "line 4: a quoted cell opened here is never closed"),
        (b"name,company\nAnn,Corp\n", "The first line must be a header naming the columns"),
    ],
)  # fmt: skip
def test_the_admin_import_refuses_a_broken_file_naming_the_line(staff, content, expected):
    before = counts()
    page = admin_dry_run(staff, content)
    assert expected in page, page[-3000:]
    assert "Import 2 leads" not in page and "Import 3 leads" not in page
    assert counts() == before


def test_the_admin_import_refuses_a_file_10_mb_over_the_limit(staff, settings):
    settings.LEAD_IMPORT_PAGE_MAX_BYTES = 1_000_000
    row = b"someone@corp.example,Some,One,Corp,US\n"
    content = HEADER.encode() + row * (11_000_000 // len(row) + 1)
    before = counts()
    response = admin_upload(staff, content)
    assert b"The file is 11.0 MB, over the limit of 1.0 MB" in response.content
    assert counts() == before


def test_the_admin_import_names_a_bad_row_at_line_9999(staff):
    rows = [f"person{i}@corp.example,P{i},Q,Corp,US\n" for i in range(10_000)]
    rows[9_997] = "not-an-email,Bad,Row,Corp,US\n"  # line 9,999 of the file
    before = counts()
    page = admin_dry_run(staff, (HEADER + "".join(rows)).encode())
    errors = page.split('class="list import-errors"')[1].split("</table>")[0]
    assert "<td>9999</td>" in errors  # the file's line, the only numbering shown
    assert "&quot;not-an-email&quot; is not a valid email address" in errors
    assert "Import 9" not in page
    assert counts() == before


# --- JSON: wrong types, nulls, 1 MB strings, deep nesting ----------------------------------


def api(world: SecurityWorld, role: str = "marketer") -> Client:
    client = Client()
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {world.token(role)}"
    return client


def send(client: Client, url: str, body: Any, raw: bytes | None = None) -> Any:
    data = raw if raw is not None else json.dumps(body)
    return client.post(url, data, content_type="application/json")


MB = "x" * 1_000_000


def lead_cases(world: SecurityWorld) -> list[tuple[str, Any, set[str]]]:
    """(url, body, the fields the 400 must name)."""
    return [
        ("/api/leads/", {"email": True, "first_name": ["x"], "owner": "me", "campaign": {"a": 1}},
         {"email", "first_name", "owner", "campaign"}),
        ("/api/leads/", {"email": "not-an-email"}, {"email"}),
        ("/api/leads/", {"email": 12}, {"email"}),
        ("/api/leads/", {"email": "nul@ok.example", "company": "a\u0000b"}, {"company"}),
        ("/api/leads/", {"email": None, "country": None}, {"email"}),
        ("/api/leads/", {"email": MB + "@big.example"}, {"email"}),
        ("/api/leads/", {"email": "big@big.example", "first_name": MB}, {"first_name"}),
        ("/api/leads/", {"email": "ok@ok.example", "score": "high", "stage": None},
         {"score", "stage"}),
        ("/api/leads/", ["not", "an", "object"], {"non_field_errors"}),
    ]  # fmt: skip


def test_json_with_wrong_types_nulls_and_huge_strings_is_refused_naming_the_fields(world):
    client = api(world)
    for url, body, fields in lead_cases(world):
        before = counts()
        response = send(client, url, body)
        assert response.status_code == 400, (body, response.content[:300])
        answer = response.json()
        assert answer["code"] == "invalid"
        assert fields <= set(answer["errors"]), (fields, answer["errors"])
        assert len(response.content) < 20_000  # the error does not echo a megabyte back
        assert counts() == before


def test_bulk_rows_with_wrong_types_are_each_answered_and_none_written(world):
    client = api(world)
    before = counts()
    response = send(
        client,
        "/api/leads/bulk/",
        {"leads": [
            {"email": 1},
            {"email": "ok@ok.example", "first_name": 5, "employee_band": ["1-10"]},
            "a string",
            None,
            {"email": "big@big.example", "company": MB},
            {"email": "ev@ok.example", "events": [{"kind": "page_view",
                                                   "occurred_at": "yesterday"}]},
            {"email": "deep@ok.example", "events": [{"kind": "page_view",
                "occurred_at": timezone.now().isoformat(),
                "payload": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}}]},
            {"email": "fat@ok.example", "events": [{"kind": "page_view",
                "occurred_at": timezone.now().isoformat(), "payload": {"blob": MB}}]},
            {"email": "nul@ok.example", "first_name": "a\u0000b", "campaign": "x\u0000",
             "events": [{"kind": "page_view", "occurred_at": timezone.now().isoformat(),
                         "payload": {"a": "\u0000"}, "external_id": "e\u0000"}]},
            {"email": "huge-id@ok.example", "owner": 10**30, "campaign": "99999999999999999999"},
        ]},
    )  # fmt: skip
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [r["status"] for r in rows] == ["error"] * 10
    assert "email" in rows[0]["errors"]
    assert {"first_name", "employee_band"} <= set(rows[1]["errors"])
    assert "company" in rows[4]["errors"]
    assert "Nested at most 8 levels" in json.dumps(rows[6]["errors"])
    assert "At most 16 KB as JSON" in json.dumps(rows[7]["errors"])
    assert {
        "first_name",
        "campaign",
        "events[0].payload",
        "events[0].external_id",
    } <= set(rows[8]["errors"])
    assert {"owner", "campaign"} <= set(rows[9]["errors"])
    assert counts() == before


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"leads": None}, "invalid_shape"),
        ({"leads": []}, "empty"),
        ({"leads": [{"email": "a@b.example"}], "extra": 1}, "invalid_shape"),
        ([{"email": "a@b.example"}], "invalid_shape"),
        (None, "invalid_shape"),
    ],
)
def test_a_bulk_body_of_the_wrong_shape_is_a_400_naming_the_field(world, body, code):
    before = counts()
    response = send(api(world), "/api/leads/bulk/", body)
    assert response.status_code == 400 and response.json()["code"] == code
    assert counts() == before


def test_an_event_payload_too_big_or_too_deep_is_refused(world):
    lead = world.leads["own"]
    client = api(world)
    before = counts()
    for payload, message in (
        ({"blob": MB}, "At most 16 KB as JSON"),
        ({"l1": {"l2": {"l3": {"l4": {"l5": {"l6": {"l7": {"l8": {"l9": 1}}}}}}}}},
         "Nested at most 8 levels"),
        ([1, 2, 3], "dictionary"),
        ({f"k{i}": i for i in range(51)}, "At most 50 keys"),
    ):  # fmt: skip
        response = send(
            client,
            f"/api/leads/{lead.pk}/events/",
            {"kind": "page_view", "occurred_at": timezone.now().isoformat(), "payload": payload},
        )
        assert response.status_code == 400, response.content[:300]
        assert message in json.dumps(response.json()["errors"]["payload"])
    assert counts() == before


def deep(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


DEEP_URLS = [
    "/api/leads/",
    "/api/leads/bulk/",
    "/api/events/bulk/",
    "/api/auth/token/",
    "/api/scoring/fit-rules/",
]


@pytest.mark.parametrize("url", DEEP_URLS)
def test_a_body_nested_10000_levels_deep_is_a_400_not_a_crash(world, url):
    before = counts()
    response = send(api(world), url, None, raw=deep(10_000))
    assert response.status_code == 400, response.content[:300]
    assert response.json()["code"] in ("too_deep", "parse_error")
    assert counts() == before


def test_deep_nesting_on_handoff_actions_is_a_400(world):
    handoff = world.handoffs["own"]
    rep = api(world, "rep")
    # (accept takes no body: it never reads one.)
    for action in ("qualify", "request-info", "first-touch", "return", "provide-info"):
        response = send(rep, f"/api/handoffs/{handoff.pk}/{action}/", None, raw=deep(10_000))
        assert response.status_code == 400, (action, response.content[:300])
    handoff.refresh_from_db()
    assert handoff.status == "pending"


@pytest.mark.parametrize(
    ("action", "body", "field"),
    [
        ("request-info", {"question": {"text": "?"}}, "question"),
        ("request-info", {"question": "a\u0000b"}, "question"),
        ("request-info", {"question": None}, "question"),
        ("request-info", {"question": MB}, "question"),
        ("qualify", {"bant": "yes"}, "bant"),
        ("qualify", {"bant": {"budget": None}}, "bant"),
        ("first-touch", {"channel": ["call"]}, "channel"),
        ("return", {"reason": None}, "reason"),
        ("return", {"reason": "not-ready", "note": ["x"]}, "note"),
        ("return", {"reason": "not-ready", "note": MB}, "note"),
    ],
)
def test_handoff_actions_refuse_wrong_types_naming_the_field(world, action, body, field):
    handoff = world.handoffs["own"]
    before = counts()
    response = send(api(world, "rep"), f"/api/handoffs/{handoff.pk}/{action}/", body)
    assert response.status_code == 400, response.content[:300]
    answer = response.json()
    named = set(answer.get("errors") or {}) | {answer.get("field")}
    assert field in named, answer
    assert counts() == before


def test_a_body_10_mb_over_the_limit_is_a_413_and_writes_nothing(world, settings):
    client = api(world)
    before = counts()
    row = {"email": "x@y.example", "first_name": "x" * 90}
    big = json.dumps({"leads": [row] * (15 * 1024 * 1024 // len(json.dumps(row)))})
    bulk = client.post("/api/leads/bulk/", big, content_type="application/json")
    assert bulk.status_code == 413 and bulk.json()["code"] == "payload_too_large"
    single = client.post(
        "/api/leads/", json.dumps({"email": "x@y.example", "company": "x" * (15 * 1024 * 1024)}),
        content_type="application/json",
    )  # fmt: skip
    assert single.status_code == 413 and single.json()["code"] == "payload_too_large"
    assert counts() == before


# --- CSV exports: formula injection -------------------------------------------------------------

DANGEROUS = {
    "first_name": '=HYPERLINK("http://evil.example","click")',
    "last_name": "+1+cmd|' /C calc'!A0",
    "company": "-2+3",
    "title": "@SUM(1,2)",
    "industry": "\tsoftware",
    "phone": "\r=1+1",
}


def export_csv(client: Client) -> list[dict[str, str]]:
    from leads.admin import LeadResource

    fields = {f"leadresource_{f}": "on" for f in LeadResource._meta.fields}
    response = client.post("/admin/leads/lead/export/", {"format": "0", **fields})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_exported_cells_that_a_spreadsheet_would_run_are_escaped(world, staff):
    world.lead(email="formula@evil.example", score=-5, **DANGEROUS)
    rows = export_csv(staff)
    row = next(r for r in rows if r["email"] == "formula@evil.example")
    for name, value in DANGEROUS.items():
        assert row[name] == "'" + value, (name, row[name])
    assert row["score"] == "-5"  # a number is not a formula
    every_cell = [cell for r in rows for cell in r.values()]
    risky = [
        c for c in every_cell
        if c and c[0] in "=+-@\t\r" and not c.lstrip("+-").replace(".", "").isdigit()
    ]  # fmt: skip
    assert risky == []


def test_an_escaped_export_imports_back_unchanged(world, staff):
    world.lead(email="formula@evil.example", **DANGEROUS)
    exported = export_csv(staff)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["email", *DANGEROUS])
    writer.writeheader()
    for row in exported:
        if row["email"] == "formula@evil.example":
            writer.writerow({k: row[k] for k in ["email", *DANGEROUS]})
    page = admin_dry_run(staff, out.getvalue().encode())
    assert "Import 1 leads" in page, page[-2000:]
    imp = LeadImport.objects.latest("pk")
    staff.post(f"/admin/leads/lead/import/{imp.pk}/run/")
    assert tasks.lead_import_run(imp.pk) == "done"  # what the worker runs
    lead = Lead.objects.get(email="formula@evil.example")
    assert lead.first_name == DANGEROUS["first_name"]
    assert lead.company == DANGEROUS["company"]


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/handoffs/?lead=6.3e%2B44", "lead"),
        ("/api/handoffs/?team=1.5", "team"),
        ("/api/leads/?score_min=1e100", "score_min"),
        ("/api/leads/?owner=99999999999999999999", "owner"),
        ("/api/feedback/?rep=-99999999999999999999", "rep"),
        ("/api/leads/?created_before=0001-01-01T00:00:00%2B01:00", "created_before"),
        ("/api/handoffs/?due_before=9999-12-31T23:00:00-05:00", "due_before"),
    ],
)
def test_filter_values_the_database_cannot_hold_are_a_400_naming_the_parameter(world, url, field):
    response = api(world, "manager").get(url)
    assert response.status_code == 400, response.content[:300]
    assert field in response.json()["errors"]


def test_a_time_zone_offset_postgresql_cannot_hold_is_read_in_utc(world):
    # Python accepts offsets up to 23:59, PostgreSQL only up to 15:59: the filter converts.
    response = api(world, "manager").get(
        "/api/handoffs/?created_after=2020-01-01T00:00:00%2B22:50&count=true"
    )
    assert response.status_code == 200 and response.json()["count"] == 4


@pytest.mark.parametrize(
    ("field", "operator", "value"),
    [
        ("seniority", "gte", ["director"]),
        ("seniority", "lte", {"rank": 3}),
        ("employee_band", "gte", ["201-500"]),
        ("employee_band", "lte", {"min": 200}),
    ],
)
def test_a_fit_rule_value_of_the_wrong_type_is_a_400_naming_value(world, field, operator, value):
    """Found by the fuzzer: a list or an object compared against the ranks crashed (500)."""
    from leads.models import FitRule

    rule = FitRule.objects.create(
        name="Matrix seniority", field=field, operator=operator, value=3, points=5
    )
    client = api(world)
    response = client.patch(
        f"/api/scoring/fit-rules/{rule.pk}/", json.dumps({"value": value}),
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 400, response.content[:300]
    assert "value" in response.json()["errors"]
    rule.refresh_from_db()
    assert rule.value == 3
