"""XLSX files people open in a spreadsheet: the one way the application writes them.

Same rule as CSV (app/csv_export.py): a text cell that starts with = + - @, a tab or a carriage
return is written with a leading apostrophe. XlsxWriter never turns a string into a formula when
asked with `write_string`, but the file is often saved again as CSV or copied into another sheet,
where the text would become a formula: the cell is quoted here as it is in the CSV.

Numbers are written as numbers (int, float, Decimal), dates and times as spreadsheet dates (naive:
the caller gives them in the zone the file is read in), booleans as booleans, None as an empty cell.
The workbook is written in constant-memory mode: each row goes to a temporary file as soon as it is
written, so a million rows take as little memory as a hundred.
"""

import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import BinaryIO

import xlsxwriter

from app.csv_export import neutralise

MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Excel's own limits: 31 characters for a sheet's name, 1,048,576 rows, 32,767 characters per cell.
MAX_SHEET_NAME = 31
MAX_ROWS = 1_048_576
MAX_CELL_TEXT = 32_767
_SHEET_NAME_FORBIDDEN = str.maketrans({character: " " for character in "[]:*?/\\"})


class TooManyRows(ValueError):
    """More rows than a sheet holds: the caller should have split or refused the range."""


def sheet_title(name: str) -> str:
    """A sheet name Excel accepts: no []:*?/\\, at most 31 characters, never empty."""
    return (name or "Sheet").translate(_SHEET_NAME_FORBIDDEN).strip()[:MAX_SHEET_NAME] or "Sheet"


def write_xlsx(out: BinaryIO, sheet_name: str, header: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Write one sheet, its header row and `rows` as an XLSX file to the binary file object `out`.

    `rows` may be a generator: it is consumed once, row by row. Returns how many rows (header excluded).
    """
    workbook = xlsxwriter.Workbook(
        out,
        {
            "constant_memory": True,
            # Text stays text: no cell of ours becomes a formula, a link or a number by its look.
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    bold = workbook.add_format({"bold": True})
    formats = {
        datetime: workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        date: workbook.add_format({"num_format": "yyyy-mm-dd"}),
        time: workbook.add_format({"num_format": "hh:mm:ss"}),
    }
    sheet = workbook.add_worksheet(sheet_title(sheet_name))
    for column, title in enumerate(header):
        sheet.write_string(0, column, str(neutralise(str(title))), bold)
    count = 0
    for count, row in enumerate(rows, start=1):
        if count >= MAX_ROWS:
            workbook.close()
            raise TooManyRows(f"a sheet holds at most {MAX_ROWS - 1} rows besides its header")
        for column, value in enumerate(row):
            _write_cell(sheet, count, column, value, formats)
    workbook.close()
    return count


def xlsx_bytes(sheet_name: str, header: Sequence[str], rows: Iterable[Sequence]) -> bytes:
    """The XLSX file as bytes: for small files (a report, a statement); large ones go to a file."""
    out = io.BytesIO()
    write_xlsx(out, sheet_name, header, rows)
    return out.getvalue()


def _write_cell(sheet, row: int, column: int, value, formats) -> None:
    if value is None or value == "":
        return
    if isinstance(value, bool):
        sheet.write_boolean(row, column, value)
    elif isinstance(value, int | float):
        sheet.write_number(row, column, value)
    elif isinstance(value, Decimal):
        # Excel keeps 15 significant digits; our figures (percentages, seconds) have far fewer.
        sheet.write_number(row, column, float(value))
    elif isinstance(value, datetime):
        if value.tzinfo is not None:
            raise ValueError("give XLSX times naive, in the zone the file is read in")
        sheet.write_datetime(row, column, value, formats[datetime])
    elif isinstance(value, date):
        sheet.write_datetime(row, column, value, formats[date])
    elif isinstance(value, time):
        sheet.write_datetime(row, column, value, formats[time])
    else:
        sheet.write_string(row, column, str(neutralise(str(value)))[:MAX_CELL_TEXT])
