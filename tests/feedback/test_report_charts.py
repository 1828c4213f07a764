"""The feedback report's charts tell the truth: each names its one measure in its title and on
its axis, draws every row its table shows, and the score bands hold scores above 100."""

from __future__ import annotations

import re

import pytest

from feedback import selectors
from leads.models import Source
from tests.ui.world import World, logged_in, make_world

SOURCES = [
    Source.PARTNER,
    Source.WEBINAR,
    Source.EMAIL,
    Source.EVENT,
    Source.REFERRAL,
    Source.DIRECT,
    Source.CONTENT,
    Source.PAID_SEARCH,
    Source.ORGANIC_SEARCH,
]


@pytest.fixture
def world(db) -> World:
    w = make_world()
    # Nine sources (more than eight): partner mostly returned, the others mostly accepted.
    for i, source in enumerate(SOURCES):
        for j in range(3):
            handoff = w.promote(w.lead(source=source, score=70 + 50 * (i % 2)))
            if source == Source.PARTNER or j == 0:
                w.give_back(handoff, "not-ready")
            else:
                w.accept(handoff)
    return w


def chart(html: str, chart_id: str) -> str:
    match = re.search(rf'<svg[^>]*id="{chart_id}".*?</svg>', html, flags=re.S)
    assert match, chart_id
    return match.group(0)


def test_each_chart_names_its_measure_in_title_and_axis(world):
    html = logged_in(world.marketer).get("/feedback/?all=1").content.decode()
    bands, sources = chart(html, "fb-bands"), chart(html, "fb-sources")
    assert '<title id="fb-bands-title">Acceptance rate by score band</title>' in bands
    assert "Accepted, % of decided handoffs" in bands
    assert '<title id="fb-sources-title">Return rate by source</title>' in sources
    assert "Returned, % of decided handoffs" in sources
    assert "Return rate by campaign" in chart(html, "fb-campaigns")
    assert "Returns (number of handoffs)" in chart(html, "fb-reasons")
    # One measure per chart: no accepted/returned/open legend mixing counts with a rate.
    assert ">Open</text>" not in sources and ">Accepted</text>" not in sources


def test_the_source_chart_draws_every_row_of_its_table(world):
    html = logged_in(world.marketer).get("/feedback/?all=1").content.decode()
    sources = chart(html, "fb-sources")
    rows = selectors.outcomes_by("source")
    assert len(rows) == 9
    for row in rows:
        assert f">{row['label']}</text>" in sources, row["label"]
    assert "100% of 3 decided" in sources  # Partner: every one returned


def test_scores_above_100_have_a_band_that_says_so(world):
    bands = selectors.acceptance_by_score_band()
    labels = [b["label"] for b in bands]
    assert labels[-1] == "100+"
    top = bands[-1]
    assert top["handoffs"] == 12  # the four sources promoted at score 120
    html = logged_in(world.marketer).get("/feedback/?all=1").content.decode()
    assert ">100+</text>" in chart(html, "fb-bands")
    assert "80-100" not in html
