"""The chat widget's own words, in the patient's language: GET /chat/v1/texts?lang=xx → {key: text}.

Every word the widget shows comes from the server (the widget holds none of its own), so a text is
translated once, in the catalogues, like every other. A language without a catalogue gets English. The
texts are the same for every clinic and hold nothing secret: any origin may read them (CORS `*`), no
widget key is asked for, and no cookie is set or read.
"""

from flask import Blueprint, jsonify, request

from app.auth.access import PUBLIC, default_rule
from app.i18n import _l, force_locale, interface_language

# Placeholders in braces ({name}) are filled in by the widget.
TEXTS = {
    "open": _l("Chat with us"),
    "close": _l("Close the chat window"),
    "title": _l("Chat"),
    "intro": _l("Ask us anything about your appointments, results or our services."),
    "language": _l("Language"),
    "topic": _l("Topic"),
    "name": _l("Your name"),
    "email": _l("E-mail address (optional)"),
    "phone": _l("Phone number (optional)"),
    "consent": _l("I agree that the clinic processes my details and this conversation as its privacy notice says."),
    "privacy_notice": _l("Privacy notice"),
    "start": _l("Start the chat"),
    "message": _l("Your message"),
    "send": _l("Send"),
    "answered": _l("This answered my question"),
    "person": _l("Talk to a person"),
    "waiting": _l("An agent will be with you shortly."),
    "closed": _l("We are closed right now, so nobody can chat with you."),
    "nobody": _l("Nobody is free to chat right now."),
    "leave_intro": _l("Leave us a message and we will get back to you by e-mail or phone."),
    "leave_needs_contact": _l("Enter your e-mail address or your phone number so that we can answer you."),
    "leave_send": _l("Send the message"),
    "left": _l("Thank you. We have your message and will get back to you."),
    "agent_typing": _l("The agent is typing…"),
    "read": _l("Read"),
    "agent_joined": _l("{name} has joined the chat."),
    "agent_joined_anonymous": _l("An agent has joined the chat."),
    "handed_over": _l("We are passing your chat on to a person."),
    "agent_closed": _l("The agent closed the chat."),
    "patient_left": _l("You left the chat."),
    "ended": _l("The chat has ended."),
    "answered_end": _l("We are glad we could help. The chat has ended."),
    "transcript": _l("Send me the transcript"),
    "transcript_email": _l("E-mail address for the transcript"),
    "transcript_sent": _l("The transcript is on its way to your e-mail address."),
    "end": _l("End the chat"),
    "new_chat": _l("Start a new chat"),
    "you": _l("You"),
    "assistant": _l("Assistant"),
    "agent": _l("Agent"),
    "reconnecting": _l("The connection was lost. Reconnecting…"),
    "error": _l("Something went wrong. Please try again."),
}

bp = default_rule(Blueprint("chat_widget_texts", __name__, url_prefix="/chat/v1"), PUBLIC)


def widget_texts(language: str | None) -> dict[str, str]:
    """The widget's texts in `language` (an interface language), else in English."""
    with force_locale(interface_language(language)):
        return {key: str(text) for key, text in TEXTS.items()}


@bp.get("/texts")
def texts():
    response = jsonify(widget_texts((request.args.get("lang") or "").strip().lower().split("-")[0]))
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
