"""The widget's words through HTTP: every key in the patient's language (English without a catalogue), for
any origin, without a cookie, and nothing but plain text."""

import pytest

from app.chat.widget_texts import TEXTS


def test_every_text_comes_in_the_language_asked_for(app):
    response = app.test_client().get("/chat/v1/texts?lang=de", headers={"Origin": "https://praxis.example"})
    assert response.status_code == 200
    texts = response.get_json()
    assert set(texts) == set(TEXTS)
    assert (texts["language"], texts["topic"], texts["name"]) == ("Sprache", "Anliegen", "Ihr Name")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("asked", ["", "xx", "tr", "DE-AT", "en-GB", "<script>"])
def test_a_language_without_a_catalogue_gets_english_and_a_region_its_language(app, asked):
    texts = app.test_client().get("/chat/v1/texts", query_string={"lang": asked}).get_json()
    if asked == "DE-AT":
        assert texts["language"] == "Sprache"
    else:
        assert (texts["language"], texts["send"], texts["waiting"]) == (
            "Language",
            "Send",
            "An agent will be with you shortly.",
        )


def test_the_texts_are_plain_text_for_textcontent_with_placeholders_in_braces(app):
    texts = app.test_client().get("/chat/v1/texts?lang=en").get_json()
    assert all(isinstance(text, str) and text and "<" not in text for text in texts.values())
    assert texts["agent_joined"] == "{name} has joined the chat."


def test_a_control_character_in_the_language_is_refused(app):
    assert app.test_client().get("/chat/v1/texts?lang=d%00e").status_code == 400
