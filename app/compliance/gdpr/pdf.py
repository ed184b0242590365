"""The GDPR export (app/compliance/gdpr/services.py) as a PDF, in the reader's language and the clinic's time zone.

It shows the very document the JSON export holds, section by section, so the two never disagree. The
font set-up (DejaVu Sans, for letters such as ą, ę, ś) and the colours are the SLA report's
(app/reports/pdf.py).
"""

import io
from datetime import datetime
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from babel.dates import format_datetime as babel_format_datetime
from flask_babel import get_locale
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from app.campaigns.models import CampaignKind, FailureReason, MessageStatus, Reply
from app.chat.models import ChatAuthor, ChatState, EndReason
from app.complaints.models import ComplaintSeverity, ComplaintStatus
from app.complaints.services import category_label
from app.hotline.models import Channel, ContactStatus, DeliveryStatus, Disposition, EventKind, MessageDirection, Topic
from app.i18n import _
from app.labels import LabelledEnum
from app.languages import language_name
from app.patients.models import AppointmentStatus, MessageChannel
from app.reports.pdf import FONT, FONT_BOLD, INK, MUTED, RULE, _register_fonts

PAGE = A4
MARGIN = 16 * mm
WIDTH = PAGE[0] - 2 * MARGIN


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=FONT, fontSize=8.5, leading=11, textColor=INK)
    return {
        "base": base,
        "title": ParagraphStyle("title", base, fontName=FONT_BOLD, fontSize=18, leading=22),
        "subtitle": ParagraphStyle("subtitle", base, fontSize=10.5, leading=14, textColor=MUTED),
        "h2": ParagraphStyle("h2", base, fontName=FONT_BOLD, fontSize=12, leading=15, spaceBefore=8, spaceAfter=4),
        "small": ParagraphStyle("small", base, fontSize=7, leading=9, textColor=MUTED),
        "cell": ParagraphStyle("cell", base, fontSize=8, leading=10),
        "head": ParagraphStyle("head", base, fontName=FONT_BOLD, fontSize=7.5, leading=9),
    }


def _p(text, style: ParagraphStyle) -> Paragraph:
    # Line breaks of free text (notes, message bodies) are kept.
    return Paragraph(escape("—" if text is None or text == "" else str(text)).replace("\n", "<br/>"), style)


def _label(kind: type[LabelledEnum], value) -> str:
    return "—" if value is None else str(kind.label_of(value))


def _yes_no(value: bool) -> str:
    return _("yes") if value else _("no")


def _table(head: list[str], rows: list[list], widths: list[float], styles) -> Table:
    data = [[_p(text, styles["head"]) for text in head]]
    data += [[cell if isinstance(cell, Paragraph) else _p(cell, styles["cell"]) for cell in row] for row in rows]
    table = Table(data, colWidths=[WIDTH * share for share in widths], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, INK),
                ("LINEBELOW", (0, 1), (-1, -1), 0.3, RULE),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


# How much of an e-mail's text the PDF shows in its table (the JSON export has all of it).
PDF_MESSAGE_CHARS = 1500


def _message_line(message: dict, when) -> str:
    """One e-mail of a contact: time, direction, addresses, subject, text (HTML-only mail: its HTML as text),
    the attachments' names, and for a reply its delivery."""
    head = (
        f"{when(message['created_at'])} · {_label(MessageDirection, message['direction'])}: "
        f"{message['from_address']} → {message['to_address']}"
    )
    text = message["body_text"] or message["body_html"] or ""
    if len(text) > PDF_MESSAGE_CHARS:  # a table cell cannot span pages: the JSON export holds the whole text
        text = text[:PDF_MESSAGE_CHARS] + " …"
    parts = [head, message["subject"] or "", text]
    if message["attachments"]:
        parts.append(", ".join(f"{a['filename']} ({a['size']} B)" for a in message["attachments"]))
    if message["delivery_status"]:
        parts.append(f"{_label(DeliveryStatus, message['delivery_status'])} {message['delivery_error'] or ''}".strip())
    return "\n".join(part for part in parts if part)


def _chat_line(message: dict, when) -> str:
    """One message of a chat: time, who wrote it (patient, assistant, agent, system), its text."""
    text = message["body"]
    if len(text) > PDF_MESSAGE_CHARS:  # as for e-mails: the JSON export holds the whole text
        text = text[:PDF_MESSAGE_CHARS] + " …"
    return f"{when(message['created_at'])} · {_label(ChatAuthor, message['author'])}: {text}"


def export_pdf(document: dict, *, time_zone: str) -> bytes:
    """The export `document` (format version 1) as PDF bytes, worded in the current locale."""
    _register_fonts()
    styles = _styles()
    zone = ZoneInfo(time_zone)
    locale = get_locale() or "en"

    def when(value: str | None) -> str:
        if value is None:
            return "—"
        return babel_format_datetime(datetime.fromisoformat(value), "short", tzinfo=zone, locale=locale)

    patient, clinic = document["patient"], document["clinic"]
    story = [
        _p(clinic["name"], styles["title"]),
        _p(_("Personal data held about patient %(reference)s", reference=patient["reference"]), styles["subtitle"]),
        _p(
            _(
                "Export under Art. 15 and 20 GDPR, generated %(moment)s. Times in %(zone)s.",
                moment=when(document["generated_at"]),
                zone=time_zone,
            ),
            styles["subtitle"],
        ),
        Spacer(1, 4 * mm),
        _p(_("Patient record"), styles["h2"]),
        _table(
            [_("Field"), _("Value")],
            [
                [_("Reference"), patient["reference"]],
                [_("E-mail"), patient["email"]],
                [_("Phone"), patient["phone"]],
                [_("Language"), language_name(patient["language"])],
                [_("Consent to e-mails"), _yes_no(patient["consent_email"])],
                [_("Consent to SMS"), _yes_no(patient["consent_sms"])],
                [_("Opted out"), when(patient["opted_out_at"])],
                [_("Recorded"), when(patient["created_at"])],
                [_("Last changed"), when(patient["updated_at"])],
            ],
            [0.3, 0.7],
            styles,
        ),
    ]

    story.append(_p(_("Appointments"), styles["h2"]))
    if document["appointments"]:
        story.append(
            _table(
                [_("Time"), _("Clinic's reference"), _("Location"), _("Practitioner"), _("Status")],
                [
                    [
                        when(a["starts_at"]),
                        a["external_id"],
                        a["location"],
                        a["practitioner"],
                        _label(AppointmentStatus, a["status"]),
                    ]
                    for a in document["appointments"]
                ],
                [0.18, 0.18, 0.24, 0.24, 0.16],
                styles,
            )
        )
    else:
        story.append(_p(_("None."), styles["base"]))

    story.append(_p(_("Messages"), styles["h2"]))
    if document["messages"]:
        rows = []
        for m in document["messages"]:
            status = _label(MessageStatus, m["status"])
            if m["failure_reason"]:
                status = f"{status}: {_label(FailureReason, m['failure_reason'])}"
            if m["reply"]:
                status = f"{status} · {_label(Reply, m['reply'])}"
            text = "\n".join(part for part in (m["subject"], m["body"]) if part) or _("Not sent.")
            rows.append(
                [
                    when(m["sent_at"] or m["send_at"]),
                    f"{m['campaign']} ({_label(CampaignKind, m['campaign_kind'])})",
                    f"{_label(MessageChannel, m['channel'])}\n{m['recipient'] or '—'}",
                    status,
                    text,
                ]
            )
        story.append(
            _table(
                [_("Time"), _("Campaign"), _("Channel and recipient"), _("Status"), _("Text")],
                rows,
                [0.14, 0.16, 0.18, 0.14, 0.38],
                styles,
            )
        )
    else:
        story.append(_p(_("None."), styles["base"]))

    story.append(_p(_("Survey answers"), styles["h2"]))
    if document["survey_answers"]:
        story.append(
            _table(
                [_("Time"), _("Scale"), _("Score"), _("Comment")],
                [
                    [when(s["answered_at"]), s["scale"].upper(), s["score"], s["comment"]]
                    for s in document["survey_answers"]
                ],
                [0.18, 0.1, 0.1, 0.62],
                styles,
            )
        )
    else:
        story.append(_p(_("None."), styles["base"]))

    story.append(_p(_("Surveys after contacts"), styles["h2"]))
    if document.get("contact_surveys"):
        story.append(
            _table(
                [_("Time"), _("Scale"), _("Score"), _("Comment")],
                [
                    [when(s["answered_at"] or s["sent_at"]), s["scale"].upper(), s["score"], s["comment"]]
                    for s in document["contact_surveys"]
                ],
                [0.18, 0.1, 0.1, 0.62],
                styles,
            )
        )
    else:
        story.append(_p(_("None."), styles["base"]))

    story.append(_p(_("Hotline contacts"), styles["h2"]))
    if document["contacts"]:
        rows = []
        for c in document["contacts"]:
            details = [c["subject"] or "", c["complaint_reason"] or ""]
            details += [f"{when(n['created_at'])}: {n['body']}" for n in c["notes"]]
            details += [_message_line(m, when) for m in c.get("messages", [])]
            timeline = ", ".join(f"{_label(EventKind, e['kind'])} {when(e['occurred_at'])}" for e in c["events"])
            kind = f"{_label(Channel, c['channel'])} · {_label(Topic, c['topic'])}"
            outcome = f"{_label(ContactStatus, c['status'])}\n{_label(Disposition, c['disposition'])}"
            rows.append([when(c["offered_at"]), kind, outcome, "\n".join(part for part in details if part), timeline])
        story.append(
            _table(
                [_("Time"), _("Channel and topic"), _("Status"), _("Subject and notes"), _("Timeline")],
                rows,
                [0.14, 0.17, 0.15, 0.30, 0.24],
                styles,
            )
        )
    else:
        story.append(_p(_("None."), styles["base"]))

    story.append(_p(_("Chats"), styles["h2"]))
    if document.get("chats"):
        rows = []
        for c in document["chats"]:
            visitor = "\n".join(part for part in (c["visitor_name"], c["visitor_email"], c["visitor_phone"]) if part)
            status = _label(ChatState, c["state"])
            if c["end_reason"]:
                status = f"{status}\n{_label(EndReason, c['end_reason'])}"
            consent = f"{when(c['consent_at'])}\n{c['privacy_notice_url']}"
            transcript = "\n".join(_chat_line(m, when) for m in c["messages"])
            rows.append([f"{when(c['started_at'])}\n{_label(Topic, c['topic'])}", visitor, status, consent, transcript])
        story.append(
            _table(
                [_("Time and topic"), _("Patient"), _("Status"), _("Consent"), _("Conversation")],
                rows,
                [0.14, 0.16, 0.14, 0.18, 0.38],
                styles,
            )
        )
    else:
        story.append(_p(_("None."), styles["base"]))

    story.append(_p(_("Complaints"), styles["h2"]))
    if document.get("complaints"):
        rows = []
        for c in document["complaints"]:
            kind = f"{c['reference']}\n{category_label(c['category'])} · {_label(ComplaintSeverity, c['severity'])}"
            text = [c["summary"] or "", c["root_cause"] or "", c["outcome"] or ""]
            text += [f"{when(a['taken_at'])}: {a['body'] or ''}" for a in c["actions"]]
            rows.append(
                [when(c["received_at"]), kind, _label(ComplaintStatus, c["status"]), "\n".join(t for t in text if t)]
            )
        story.append(
            _table(
                [_("Received"), _("Complaint"), _("Status"), _("What is the complaint about?")],
                rows,
                [0.16, 0.24, 0.14, 0.46],
                styles,
            )
        )
    else:
        story.append(_p(_("None."), styles["base"]))

    story.append(_p(_("Audit trail entries about this patient"), styles["h2"]))
    if document["audit_events"]:
        story.append(
            _table(
                [_("Time"), _("Action"), _("Object")],
                [
                    [when(e["occurred_at"]), e["action"], f"{e['object_type']} #{e['object_id']}"]
                    for e in document["audit_events"]
                ],
                [0.25, 0.4, 0.35],
                styles,
            )
        )
    else:
        story.append(_p(_("None."), styles["base"]))
    story += [
        Spacer(1, 4 * mm),
        _p(_("The same data, machine-readable, is available as a JSON export."), styles["small"]),
    ]

    footer = _("%(clinic)s · personal data export · key %(key)s", clinic=clinic["name"], key=patient["key"])

    def _decorate(canvas, doc):
        canvas.saveState()
        canvas.setFont(FONT, 7)
        canvas.setFillColor(MUTED)
        canvas.drawString(MARGIN, 8 * mm, footer)
        canvas.drawRightString(PAGE[0] - MARGIN, 8 * mm, _("Page %(number)d", number=doc.page))
        canvas.restoreState()

    buffer = io.BytesIO()
    document_title = _("Personal data export")  # outside the f-string, where pybabel finds it
    pdf = SimpleDocTemplate(
        buffer,
        pagesize=PAGE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=14 * mm,
        title=f"{clinic['name']} · {document_title}",
        author="Switchboard",
        lang=str(locale),
    )
    pdf.build(story, onFirstPage=_decorate, onLaterPages=_decorate)
    return buffer.getvalue()
