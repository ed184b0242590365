"""An uploaded CSV file read for an import: the bytes as text, the header checked against the known columns, and
each row with its line number. What the values must be is the importing domain's rule (app/patients/appointments.py,
app/waitlist/entries.py): it checks the rows this returns and adds its problems to each.
"""

import csv
import io
from collections import Counter
from dataclasses import dataclass, field

from app.errors import DomainError
from app.i18n import _l


@dataclass(frozen=True)
class FieldError:
    """One problem with one field (column) of a record; `message` is translated when shown."""

    field: str
    message: object

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass
class CsvRow:
    line: int  # the line of the file, the header being line 1
    values: dict[str, str]
    errors: list[FieldError] = field(default_factory=list)


@dataclass
class CsvTable:
    rows: list[CsvRow] = field(default_factory=list)
    file_errors: list[object] = field(default_factory=list)  # problems of the file as a whole
    delimiter: str = ","


def decode(data: bytes, max_bytes: int) -> str:
    """The file as text: UTF-8, with or without a byte-order mark, at most `max_bytes`."""
    if len(data) > max_bytes:
        raise DomainError(_l("The file is larger than %(n)s KB.", n=max_bytes // 1024), "file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DomainError(_l("The file is not UTF-8 text. Save it as CSV UTF-8 and try again."), "file") from None


def sniff_delimiter(header_line: str) -> str:
    """`;` when the header has more semicolons than commas (spreadsheets in many European locales)."""
    return ";" if header_line.count(";") > header_line.count(",") else ","


def read_table(text: str, *, columns: tuple[str, ...], required: tuple[str, ...], max_rows: int) -> CsvTable:
    """The header (exactly the known columns, in any order, the required ones present, none twice) and every
    non-blank row below it; a row whose field count differs from the header's carries that problem. Nothing is
    checked of the values."""
    table = CsvTable()
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        table.file_errors.append(_l("The file is empty: the first line must name the columns."))
        return table
    table.delimiter = sniff_delimiter(lines[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=table.delimiter, strict=True)
    try:
        header = [name.strip().lower() for name in next(reader)]
        _check_header(table, header, columns, required)
        if table.file_errors:
            return table
        for fields in reader:
            if not any(value.strip() for value in fields):
                continue  # blank lines (often at the end of a file) are not rows
            if len(table.rows) >= max_rows:
                table.file_errors.append(_l("The file has more than %(n)s rows: split it.", n=max_rows))
                return table
            row = CsvRow(line=reader.line_num, values=dict(zip(header, fields, strict=False)))
            if len(fields) != len(header):
                row.errors.append(
                    FieldError(
                        "—",
                        _l(
                            "%(found)s fields where the header has %(expected)s.",
                            found=len(fields),
                            expected=len(header),
                        ),
                    )
                )
            table.rows.append(row)
    except csv.Error as error:
        table.file_errors.append(
            _l("The file is not valid CSV near line %(line)s: %(problem)s.", line=reader.line_num, problem=str(error))
        )
        return table
    if not table.rows:
        table.file_errors.append(_l("The file has no rows below its header."))
    return table


def _check_header(table: CsvTable, header: list[str], columns: tuple[str, ...], required: tuple[str, ...]) -> None:
    unknown = [name for name in header if name not in columns]
    missing = [name for name in required if name not in header]
    repeated = sorted(name for name, n in Counter(header).items() if n > 1)
    if missing:
        table.file_errors.append(_l("Missing columns: %(columns)s.", columns=", ".join(missing)))
    if unknown:
        table.file_errors.append(
            _l(
                "Unknown columns: %(columns)s. The columns are: %(known)s.",
                columns=", ".join(unknown),
                known=", ".join(columns),
            )
        )
    if repeated:
        table.file_errors.append(_l("Columns named twice: %(columns)s.", columns=", ".join(repeated)))
