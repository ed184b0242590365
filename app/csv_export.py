"""CSV files people open in a spreadsheet: no cell runs as a formula.

The rule (CSV injection, OWASP): a text cell that starts with = + - @, a tab or a carriage return
is written with a leading apostrophe, so a spreadsheet shows it as text instead of evaluating it
(a queue named `=HYPERLINK(…)` would otherwise become a link in the clinic's report). Numbers are
written as they are: give them as int or Decimal, never pre-formatted as text.
"""

import csv

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """The cell as it must be written: text that a spreadsheet would read as a formula, quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeCsvWriter:
    """csv.writer with every cell neutralised; the only way the application writes CSV."""

    def __init__(self, out, **kwargs):
        self._writer = csv.writer(out, **kwargs)

    def writerow(self, row) -> None:
        self._writer.writerow([neutralise(value) for value in row])
