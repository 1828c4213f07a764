"""`manage.py import_leads FILE.csv`: all or nothing, bad rows by line number, a summary."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from leads.models import Lead
from tests.factories import CampaignFactory, LeadFactory

pytestmark = pytest.mark.usefixtures("default_rules")
HEADER = "email,first_name,last_name,company,industry,employee_band,title,country,source,campaign\n"


def run(path, *args):
    out, err = StringIO(), StringIO()
    call_command("import_leads", str(path), "--no-progress", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def write(tmp_path, body: str, header: str = HEADER):
    path = tmp_path / "leads.csv"
    path.write_text(header + body, encoding="utf-8")
    return path


def test_a_good_file_is_imported_scored_and_summarised(tmp_path):
    CampaignFactory(name="Spring")
    LeadFactory(email="known@corp.example", company="Old name", industry="retail")
    rows = "".join(
        f"Person{i}@Corp.example,P{i},Q,Corp,software,201-500,VP Sales,us,webinar,Spring\n"
        for i in range(2500)
    )
    path = write(tmp_path, rows + "known@corp.example,,,New name,,,,,,\n")

    out, _ = run(path, "--batch-size", "1000")

    assert "Imported 2,501 leads (2,500 created, 1 updated, 0 bad rows skipped)" in out
    assert Lead.objects.count() == 2501
    lead = Lead.objects.get(email="person7@corp.example")
    assert (lead.seniority, lead.country, lead.campaign.name, lead.score) == (
        "vp",
        "US",
        "Spring",
        50,
    )
    known = Lead.objects.get(email="known@corp.example")
    assert (known.company, known.industry) == ("New name", "retail")  # empty cells left alone


def test_a_file_with_bad_rows_imports_nothing_and_names_each_line(tmp_path):
    path = write(
        tmp_path,
        "good@corp.example,A,B,Corp,software,201-500,,US,email,\n"
        "not-an-email,A,B,Corp,software,201-500,,US,email,\n"
        "other@corp.example,A,B,Corp,software,huge,,USA,email,\n"
        '"multi@corp.example",A,"two\nlines",Corp,software,,,US,email,Nope\n'
        "GOOD@corp.example,A,B,Corp,software,,,US,email,\n",
    )

    with pytest.raises(CommandError) as caught:
        run(path)

    assert "4 of 5 rows are bad; nothing was imported" in str(caught.value)
    assert Lead.objects.count() == 0


def test_bad_rows_are_reported_with_their_line_numbers(tmp_path):
    path = write(
        tmp_path,
        "good@corp.example,A,B,Corp,software,201-500,,US,email,\n"
        "not-an-email,A,B,Corp,software,201-500,,US,email,\n"
        "other@corp.example,A,B,Corp,software,huge,,USA,email,\n"
        "GOOD@corp.example,A,B,Corp,software,,,US,email,\n",
    )
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_leads", str(path), "--no-progress", stdout=StringIO(), stderr=err)

    lines = err.getvalue().splitlines()
    assert lines[0].startswith('line 3: column "email" ("not-an-email"): ')
    assert lines[1] == (
        'line 4: column "employee_band": "huge" is not a number of employees or a band '
        "(1-10 ... 5001+)."
    )  # and USA is read as the United States
    assert lines[2] == "line 5: email: good@corp.example is also on line 2"


def test_skip_bad_rows_imports_the_good_ones_and_lists_the_bad(tmp_path):
    path = write(
        tmp_path,
        "good@corp.example,A,B,Corp,software,201-500,,US,email,\n"
        "bad@corp.example,A,B,Corp,software,201-500,,US,carrier-pigeon,\n",
    )
    out, err = run(path, "--skip-bad-rows")
    assert "1 created, 0 updated, 1 bad rows skipped" in out
    assert 'line 3: column "source": "carrier-pigeon" is not a known source' in err
    assert list(Lead.objects.values_list("email", flat=True)) == ["good@corp.example"]


def test_a_dry_run_checks_and_writes_nothing(tmp_path):
    path = write(tmp_path, "good@corp.example,A,B,Corp,software,201-500,,US,email,\n")
    out, _ = run(path, "--dry-run")
    assert "1 good rows (1 to create, 0 to update), 0 bad; nothing written" in out
    assert Lead.objects.count() == 0


def test_an_unknown_column_is_refused_before_reading_rows(tmp_path):
    path = write(tmp_path, "a@b.example,1\n", header="email,shoe_size\n")
    with pytest.raises(CommandError, match="Unknown column"):
        run(path)


def test_protected_columns_of_an_export_are_read_past(tmp_path):
    path = write(tmp_path, "a@corp.example,customer,999\n", header="email,stage,score\n")
    run(path)
    lead = Lead.objects.get()
    assert (lead.stage, lead.score) == ("lead", 0)
