"""Reads an XLSX file back from the XML inside its zip (no spreadsheet library): the first sheet's cells.

Text cells come back as str, numbers as float, booleans as bool, empty cells as None: a number written
as text would come back as str, which is what the tests check against.
"""

import io
import re
import zipfile
from xml.etree import ElementTree

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
_COLUMN = re.compile(r"([A-Z]+)")


def _column_index(reference: str) -> int:
    letters = _COLUMN.match(reference).group(1)
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


def sheet_names(content: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))  # noqa: S314 - a file the application just wrote
    return [sheet.get("name") for sheet in workbook.iterfind("m:sheets/m:sheet", NS)]


def read_rows(content: bytes) -> list[list]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        names = archive.namelist()
        shared = []
        if "xl/sharedStrings.xml" in names:
            strings = ElementTree.fromstring(archive.read("xl/sharedStrings.xml"))  # noqa: S314 - a file the application just wrote
            shared = ["".join(t.text or "" for t in item.iterfind(".//m:t", NS)) for item in strings]
        sheet = ElementTree.fromstring(archive.read("xl/worksheets/sheet1.xml"))  # noqa: S314 - a file the application just wrote
    rows = []
    for row in sheet.iterfind("m:sheetData/m:row", NS):
        values: dict[int, object] = {}
        for cell in row.iterfind("m:c", NS):
            kind, index = cell.get("t"), _column_index(cell.get("r"))
            if kind == "inlineStr":
                values[index] = "".join(t.text or "" for t in cell.iterfind(".//m:t", NS))
            elif kind == "s":
                values[index] = shared[int(cell.find("m:v", NS).text)]
            elif kind == "b":
                values[index] = cell.find("m:v", NS).text == "1"
            else:
                value = cell.find("m:v", NS)
                values[index] = None if value is None else float(value.text)
        width = max(values, default=-1) + 1
        rows.append([values.get(i) for i in range(width)])
    return rows
