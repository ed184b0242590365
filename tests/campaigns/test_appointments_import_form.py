"""The appointment import page as a browser first gets it: a form that can upload a CSV file."""

import re


def test_import_page_offers_a_form_that_uploads_a_csv_file(login_as, two_tenants):
    a = two_tenants.a
    page = login_as(a.manager).get(f"/t/{a.slug}/appointments/import")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    [form] = re.findall(r'<form[^>]*action="/t/clinic-a/appointments/import"[^>]*>', text)
    # Without multipart encoding a real browser would send the file's name instead of its content.
    assert 'method="post"' in form and 'enctype="multipart/form-data"' in form
    assert re.search(r'<input[^>]*type="file"[^>]*name="file"|<input[^>]*name="file"[^>]*type="file"', text)
