"""Exports of HubSpot, Salesforce and Marketo and a plain spreadsheet import unedited: their
headers are recognised, their countries, head counts and sources turned into the desk's values,
and a header that names a column twice is refused naming it, writing nothing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from leads.imports.recognition import recognise
from leads.imports.values import country_code, employee_band
from leads.models import ImportMapping, Lead, SourceAlias

pytestmark = pytest.mark.usefixtures("default_rules")

HUBSPOT = (
    "Record ID,First Name,Last Name,Email,Phone Number,Company Name,Job Title,Lifecycle Stage,"
    "Lead Status,Original Source,Country/Region,Industry,Number of Employees,Create Date\n"
    "101,Hana,Schmidt,Hana@Acme.example,+49 30 1234,Acme,VP Engineering,lead,New,"
    "Organic Search,Germany,software,250,2026-01-05\n"
)
SALESFORCE_LEADS = (
    "Lead ID,First Name,Last Name,Title,Company / Account,Email,Phone,Lead Source,Lead Status,"
    "Industry,No. of Employees,Country,Lead Owner\n"
    "00Q1,Sam,Lee,Director of IT,Globex,sam@globex.example,555,Trade Show,Open,fintech,1200,"
    "United States of America,Jane Rep\n"
)
SALESFORCE_CONTACTS = (
    "Contact ID,First Name,Last Name,Title,Account Name,Email,Mailing Country,Lead Source,"
    "Contact Owner\n"
    "0031,Ola,Berg,CTO,Initech,ola@initech.example,UK,Web,Jane Rep\n"
)
MARKETO = (
    "Id,First Name,Last Name,Email Address,Job Title,Company Name,Country,Number of Employees,"
    "Person Source,Lead Score\n"
    "7,Mia,Rossi,mia@umbrella.example,Marketing Manager,Umbrella,U.S.A.,12k,Webinar,55\n"
)
SPREADSHEET = (
    "E-mail, company , TITLE,Employees,Country\nkai@stark.example,Stark,Engineer,8,Viet Nam\n"
)


def run(tmp_path, content: str, *args: str):
    path = tmp_path / "export.csv"
    path.write_text(content, encoding="utf-8")
    out, err = StringIO(), StringIO()
    call_command("import_leads", str(path), "--no-progress", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_hubspot_contacts_export_imports_unedited(tmp_path):
    out, _ = run(tmp_path, HUBSPOT)

    assert "Recognised: HubSpot contacts." in out
    assert (
        "Columns skipped (no lead field): Record ID, Lifecycle Stage, Lead Status, Create Date."
        in out
    )
    lead = Lead.objects.get(email="hana@acme.example")
    assert (lead.first_name, lead.company, lead.country, lead.employee_band) == (
        "Hana",
        "Acme",
        "DE",
        "201-500",
    )
    assert (lead.seniority, lead.source, lead.stage, lead.domain) == (
        "vp",
        "organic_search",
        "lead",
        "acme.example",
    )
    assert lead.score > 0


def test_salesforce_lead_and_contact_reports_import_unedited(tmp_path):
    run(tmp_path, SALESFORCE_LEADS)
    run(tmp_path, SALESFORCE_CONTACTS)

    sam = Lead.objects.get(email="sam@globex.example")
    ola = Lead.objects.get(email="ola@initech.example")
    assert (sam.company, sam.country, sam.employee_band, sam.source, sam.seniority) == (
        "Globex",
        "US",
        "1001-5000",
        "event",
        "director",
    )
    assert (sam.owner_id, ola.owner_id) == (None, None)  # CRM owners are not the desk's marketers
    assert (ola.company, ola.country, ola.source, ola.seniority) == (
        "Initech",
        "GB",
        "organic_search",
        "c_level",
    )


def test_a_marketo_lead_list_imports_unedited(tmp_path):
    run(tmp_path, MARKETO)
    mia = Lead.objects.get(email="mia@umbrella.example")
    assert (mia.country, mia.employee_band, mia.source, mia.seniority, mia.score != 55) == (
        "US",
        "5001+",
        "webinar",
        "manager",
        True,
    )


def test_a_plain_spreadsheet_header_is_read_whatever_its_case_and_spaces(tmp_path):
    run(tmp_path, SPREADSHEET)
    kai = Lead.objects.get(email="kai@stark.example")
    assert (kai.company, kai.title, kai.employee_band, kai.country) == (
        "Stark",
        "Engineer",
        "1-10",
        "VN",
    )


@pytest.mark.parametrize(
    ("spelling", "code"),
    [
        ("Germany", "DE"),
        ("germany", "DE"),
        ("DEU", "DE"),
        ("de", "DE"),
        ("United States", "US"),
        ("USA", "US"),
        ("U.S.", "US"),
        ("United Kingdom", "GB"),
        ("Great Britain", "GB"),
        ("Korea, Republic of", "KR"),
        ("South Korea", "KR"),
        ("Czechia", "CZ"),
        ("Czech Republic", "CZ"),
        ("Russia", "RU"),
    ],
)
def test_country_names_in_several_spellings_become_iso_codes(spelling, code):
    assert country_code(spelling) == code


@pytest.mark.parametrize(
    ("count", "band"),
    [("1", "1-10"), ("10", "1-10"), ("11", "11-50"), ("200", "51-200"), ("1,000", "501-1000"),
     ("5000", "1001-5000"), ("5001", "5001+"), ("250000", "5001+"), ("51-200", "51-200"),
     ("10k", "5001+"), ("", "")],
)  # fmt: skip
def test_employee_numbers_become_bands(count, band):
    assert employee_band(count) == band


def test_unmappable_values_are_row_errors_naming_line_column_and_value(tmp_path):
    content = HUBSPOT + (
        "102,Bo,Ek,bo@acme.example,,Acme,Engineer,lead,New,Carrier Pigeon,Atlantis,software,"
        "lots,2026-01-05\n"
    )
    with pytest.raises(CommandError, match="1 of 2 rows are bad; nothing was imported"):
        run(tmp_path, content)
    err = StringIO()
    path = tmp_path / "export.csv"
    with pytest.raises(CommandError):
        call_command("import_leads", str(path), "--no-progress", stdout=StringIO(), stderr=err)
    line = err.getvalue().splitlines()[0]
    assert line.startswith("line 3: ")
    assert 'column "Original Source": "Carrier Pigeon" is not a known source' in line
    assert 'column "Country/Region": "Atlantis" is not a country name or ISO 3166-1 code' in line
    assert 'column "Number of Employees": "lots" is not a number of employees' in line
    assert Lead.objects.count() == 0


def test_a_source_added_to_the_alias_table_maps_on_the_next_import(tmp_path):
    SourceAlias.objects.create(name="Carrier Pigeon", key="carrierpigeon", source="other")
    run(tmp_path, HUBSPOT.replace("Organic Search", "carrier-pigeon"))
    assert Lead.objects.get().source == "other"


def test_a_header_naming_a_column_twice_is_refused_naming_it(tmp_path):
    with pytest.raises(
        CommandError, match=r'The column "email" is named twice \(columns 1 and 3\)'
    ):
        run(tmp_path, "email,first_name,email\na@b.example,A,c@d.example\n")
    assert Lead.objects.count() == 0


def test_two_columns_filling_one_field_are_refused_naming_both(tmp_path):
    with pytest.raises(
        CommandError,
        match=r'"Country" \(column 2\) and "Billing Country" \(column 3\) both fill country',
    ):
        run(tmp_path, "Email,Country,Billing Country\na@b.example,DE,FR\n")
    assert Lead.objects.count() == 0


def test_a_saved_mapping_that_skips_one_of_them_imports(tmp_path):
    ImportMapping.objects.create(
        name="Billing", columns={"billingcountry": ""}, updated_at="2026-01-01T00:00Z"
    )
    run(tmp_path, "Email,Country,Billing Country\na@b.example,DE,FR\n", "--mapping", "Billing")
    assert Lead.objects.get().country == "DE"


def test_an_unknown_mapping_name_is_refused_naming_it(tmp_path):
    with pytest.raises(CommandError, match='No saved mapping "Nope"'):
        run(tmp_path, HUBSPOT, "--mapping", "Nope")


def test_unknown_columns_refuse_the_desk_format_but_are_skipped_in_an_export():
    desk = recognise(["email", "first_name", "shoe_size"])
    export = recognise(["Email", "First Name", "Shoe Size"])

    assert desk.strict and not desk.ok
    assert 'Unknown column(s): "shoe_size" (column 3)' in desk.problems[0]
    assert export.ok and [c.header for c in export.skipped] == ["Shoe Size"]
    skipped = recognise(["email", "first_name", "shoe_size"], chosen={"shoesize": ""})
    assert skipped.ok


def test_a_dry_run_counts_creates_and_updates_and_writes_nothing(tmp_path):
    run(tmp_path, HUBSPOT)
    more = HUBSPOT + (
        "102,Bo,Ek,bo@acme.example,,Acme,Engineer,lead,New,Referrals,Sweden,software,40,2026\n"
    )
    out, _ = run(tmp_path, more, "--dry-run")
    assert "2 good rows (1 to create, 1 to update), 0 bad; nothing written" in out
    assert Lead.objects.count() == 1
