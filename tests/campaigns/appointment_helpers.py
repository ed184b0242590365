"""Helpers shared by the appointment tests: CSV files, uploads, the signed confirm payload."""

import re

from app.patients.appointments import COLUMNS

HEADER = ",".join(COLUMNS)
_PAYLOAD = re.compile(r'name="payload"[^>]*value="([^"]+)"')


def csv_file(*rows: str, header: str = HEADER, bom: bool = False, delimiter: str = ",") -> bytes:
    text = "\n".join([header.replace(",", delimiter), *rows]) + "\n"
    return (("\ufeff" if bom else "") + text).encode()


def row(
    external_id="A-1",
    reference="P-1",
    email="anna@example.org",
    phone="+49 151 12345678",
    language="de",
    consent_email="yes",
    consent_sms="1",
    starts_at="2030-05-06 09:30",
    location="Main building",
    practitioner="Dr. Weber",
) -> str:
    return ",".join(
        [external_id, reference, email, phone, language, consent_email, consent_sms, starts_at, location, practitioner]
    )


def upload(browser, slug: str, data: bytes, filename: str = "appointments.csv"):
    """POST the file as a browser would. The multipart body is built here: the test client spools large
    bodies to a temporary file it never closes, which pytest reports as an unclosed file."""
    boundary = "----switchboard-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{browser.csrf_token()}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: text/csv\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return browser.client.post(
        f"/t/{slug}/appointments/import",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers={"Accept-Language": "en"},
    )


def payload_of(page) -> str | None:
    match = _PAYLOAD.search(page.get_data(as_text=True))
    return match.group(1) if match else None


def confirm(browser, slug: str, payload: str):
    return browser.post(
        f"/t/{slug}/appointments/import/confirm", {"payload": payload}, headers={"Accept-Language": "en"}
    )
