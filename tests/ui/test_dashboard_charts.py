"""The dashboard's SVG charts: accessible, escaped, proportional, honest about gaps."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from django.template import Context, Template
from django.utils.safestring import mark_safe

from feedback import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(chart: charts.Chart) -> ET.Element:
    return ET.fromstring(str(chart.svg))  # well-formed XML, or this raises


def test_a_bar_chart_is_an_image_named_by_its_title_and_description():
    chart = charts.bar_chart(
        chart_id="c1",
        title="Return reasons",
        description="Why sales returned leads.",
        bars=[charts.Bar("No budget", 3), charts.Bar("Not ready", 1)],
    )
    root = parse(chart)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.find(f"{SVG}title").text == "Return reasons"
    assert root.find(f"{SVG}desc").text == "Why sales returned leads."
    assert chart.rows == (("No budget", "3"), ("Not ready", "1"))


def test_bars_are_proportional_to_their_values():
    chart = charts.bar_chart(
        chart_id="c", title="t", description="d",
        bars=[charts.Bar("a", 4), charts.Bar("b", 2), charts.Bar("c", 0)],
    )  # fmt: skip
    widths = [float(r.get("width")) for r in parse(chart).iter(f"{SVG}rect")]
    assert widths[0] == 2 * widths[1] and widths[2] == 0


def test_labels_are_escaped_so_a_lead_name_cannot_inject_markup():
    chart = charts.bar_chart(
        chart_id="c", title="<b>t</b>", description="d & e",
        bars=[charts.Bar('<script>alert("x")</script>', 1)],
    )  # fmt: skip
    assert "<script>" not in chart.svg and "&lt;script&gt;" in chart.svg
    parse(chart)


def test_an_empty_chart_says_there_is_nothing_and_has_no_rows():
    chart = charts.bar_chart(
        chart_id="c", title="t", description="d", bars=[], empty_text="Nothing returned."
    )
    assert chart.empty and "Nothing returned." in chart.svg
    parse(chart)


def test_a_stacked_bar_splits_each_row_into_its_series_with_a_legend():
    chart = charts.stacked_bar_chart(
        chart_id="s", title="Outcomes", description="d", series=["Met", "Missed"],
        rows=[charts.StackedRow("AMER", (6, 2), "75%"), charts.StackedRow("EMEA", (1, 0), "100%")],
        note_header="Compliance",
    )  # fmt: skip
    rects = list(parse(chart).iter(f"{SVG}rect"))
    legend, bars = rects[:2], rects[2:]
    assert len(legend) == 2 and len(bars) == 3  # a zero segment draws nothing
    assert float(bars[0].get("width")) == 3 * float(bars[1].get("width"))
    assert chart.columns == ("", "Met", "Missed", "Compliance")
    assert chart.rows[0] == ("AMER", "6", "2", "75%")
    assert chart.legend[0][0] == "Met"


def test_a_funnel_shows_each_step_with_its_conversion():
    chart = charts.funnel_chart(
        chart_id="f", title="Funnel", description="d",
        steps=[charts.FunnelStep("MQL", 10, None), charts.FunnelStep("SAL", 6, 0.6)],
    )  # fmt: skip
    widths = [float(r.get("width")) for r in parse(chart).iter(f"{SVG}rect")]
    assert widths[1] / widths[0] == 0.6
    assert chart.rows == (("MQL", "10", ""), ("SAL", "6", "60%"))
    assert "SAL: 6 \u00b7 60%" in chart.svg


def test_a_line_leaves_a_gap_for_a_week_without_data():
    chart = charts.line_chart(
        chart_id="l", title="Compliance", description="d", value_header="Compliance",
        points=[charts.Point("W01", 0.5), charts.Point("W02", 1.0), charts.Point("W03", None),
                charts.Point("W04", 0.75), charts.Point("W05", 0.8)],
    )  # fmt: skip
    root = parse(chart)
    lines = list(root.iter(f"{SVG}polyline"))
    assert [len(line.get("points").split()) for line in lines] == [2, 2]
    assert len(list(root.iter(f"{SVG}circle"))) == 4
    assert chart.rows[2] == ("W03", "-")
    # 0% at the bottom of the plot, 100% at the top
    y = {
        c.find(f"{SVG}title").text.split(":")[0]: float(c.get("cy"))
        for c in root.iter(f"{SVG}circle")
    }
    assert y["W02"] < y["W05"] < y["W01"]


def test_a_line_without_any_value_says_so():
    chart = charts.line_chart(
        chart_id="l", title="t", description="d", points=[charts.Point("W01", None)]
    )
    assert "No data in this range." in chart.svg
    parse(chart)


def test_many_weeks_get_at_most_about_eight_axis_labels():
    points = [charts.Point(f"W{i:02d}", 0.9) for i in range(1, 53)]
    chart = charts.line_chart(chart_id="l", title="t", description="d", points=points)
    labels = re.findall(r">W\d\d</text>", str(chart.svg))
    assert 2 <= len(labels) <= 10


# The chart's table as the template once wrote it cell by cell (templates/dashboard/_chart.html
# now writes the strings Chart builds); the two must stay the same to the byte.
CELL_BY_CELL = (
    '<thead><tr>{% for column in chart.columns %}<th scope="col"{% if not forloop.first %} '
    'class="num"{% endif %}>{% if column %}{{ column }}{% else %}<span class="sr-only">Row'
    "</span>{% endif %}</th>{% endfor %}</tr></thead>\n"
    "        {% for row in chart.rows %}<tr>{% for cell in row %}{% if forloop.first %}"
    '<th scope="row">{{ cell }}</th>{% else %}<td class="num">{{ cell }}</td>{% endif %}'
    "{% endfor %}</tr>\n        {% endfor %}"
)


def test_the_chart_tables_strings_equal_the_template_cell_by_cell():
    chart = charts.Chart(
        chart_id="c",
        title="t",
        description="d",
        svg=mark_safe("<svg></svg>"),
        columns=("", "Count <all>", "Share & more"),
        rows=(
            ("R&D <team>", "1,234", "12%"),
            ('O\'Brien "quoted"', 5, 2.5),  # numbers localized as the template did
            ("Empty", "-", ""),
        ),
    )
    expected = Template(CELL_BY_CELL).render(Context({"chart": chart}))
    built = Template(
        "<thead><tr>{{ chart.head_html }}</tr></thead>\n        {{ chart.rows_html }}"
    ).render(Context({"chart": chart}))
    assert built == expected
