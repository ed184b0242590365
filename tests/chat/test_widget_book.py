"""The book of widget keys each process keeps for a few seconds, and the widgets tests make behind its back."""

ORIGIN = "http://127.0.0.1:8765"


def test_a_widget_made_for_a_test_is_known_at_once_though_the_book_was_just_read(app, two_tenants, create_chat_widget):
    client = app.test_client()
    first = create_chat_widget(two_tenants.a.id, origins=(ORIGIN,))
    # This request reads the book; the next widget is made within its 5 s.
    assert client.get(f"/chat/v1/config?key={first}&lang=en", headers={"Origin": ORIGIN}).status_code == 200
    second = create_chat_widget(two_tenants.b.id, origins=(ORIGIN,))
    answer = client.get(f"/chat/v1/config?key={second}&lang=en", headers={"Origin": ORIGIN})
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
