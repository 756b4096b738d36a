"""CSV cells (analytics/tables.py): customer-written text a spreadsheet would run
as a formula stays text; figures stay numbers."""

from datetime import timedelta

import pytest

from analytics.tables import csv_value


@pytest.mark.parametrize("text", ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_text_a_spreadsheet_would_run_is_kept_as_text(text):
    assert csv_value(text, "text") == "'" + text
    assert csv_value((text, "/inbox/c/1/"), "link") == "'" + text


def test_plain_text_and_figures_are_untouched():
    assert csv_value("Where is my parcel?", "text") == "Where is my parcel?"
    assert csv_value(-2.5, "pct") == "-2.5"
    assert csv_value(timedelta(seconds=90), "duration") == "90.0"
    assert csv_value(7, "int") == 7
