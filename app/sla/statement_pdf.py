"""An SLA statement as a PDF in the current locale, drawn from its frozen figures with the shared PDF kit."""

import io
from datetime import date
from xml.sax.saxutils import escape

from flask_babel import format_date
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from app.feedback.figures import FeedbackFigures
from app.i18n import _
from app.pdf_kit import FONT, FONT_BOLD, INK, MISSED, RULE, paragraph, register_fonts, styles
from app.sla import contracts, statements
from app.sla.contract_models import SlaStatement

MARGIN = 16 * mm


def month_name(statement: SlaStatement) -> str:
    return format_date(date.fromisoformat(statement.figures["month"] + "-01"), "MMMM y")


def statement_pdf(statement: SlaStatement, *, clinic_name: str) -> bytes:
    """The statement's PDF; `invariant` keeps reportlab's own dates out, so the same figures give the same bytes."""
    register_fonts()
    look = styles()
    figures = statement.figures
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=_("SLA statement"),
        invariant=1,
    )
    story = [
        paragraph(_("SLA statement %(month)s", month=month_name(statement)), look["title"]),
        paragraph(
            _("%(clinic)s · contract version %(version)s", clinic=clinic_name, version=figures["contract_version"]),
            look["subtitle"],
        ),
        Spacer(1, 4 * mm),
    ]
    rows = [
        [
            paragraph(text, look["head"])
            for text in (_("Metric"), _("Contract target"), _("Result"), _("Verdict"), _("Credit"))
        ]
    ]
    for row in figures["metrics"]:
        missed = row["met"] is False
        verdict = str(statements.VERDICT_WORDS[row["met"]])
        colour = (MISSED if missed else INK).hexval()[2:]
        rows.append(
            [
                paragraph(contracts.metric_label(row["key"]), look["cell"]),
                paragraph(statements.shown_value(row["target"], row["unit"]), look["num"]),
                paragraph(statements.shown_value(row["result"], row["unit"]), look["num"]),
                Paragraph(f'<font color="#{colour}">{escape(verdict)}</font>', look["cell"]),
                paragraph(statements.shown_value(row["credit_percent"], "%"), look["num"]),
            ]
        )
    table = Table(rows, colWidths=[70 * mm, 25 * mm, 25 * mm, 30 * mm, 25 * mm], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), FONT),
                ("FONTNAME", (0, 0), (-1, 0), FONT_BOLD),
                ("LINEBELOW", (0, 0), (-1, 0), 0.6, INK),
                ("LINEBELOW", (0, 1), (-1, -1), 0.3, RULE),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    story += [table, Spacer(1, 5 * mm), paragraph(_("Service credit"), look["h2"])]
    story.append(paragraph(statements.arithmetic(figures), look["base"]))
    if statement.adjusted_credit_amount is not None:
        story.append(
            paragraph(
                _("After a dispute, the credit is %(credit)s %(currency)s.", credit=statement.adjusted_credit_amount,
                  currency=figures["currency"] or ""),
                look["base"],
            )
        )  # fmt: skip
    story += [Spacer(1, 4 * mm), paragraph(_("Exclusions"), look["h2"])]
    if figures["exclusions"]:
        for exclusion in figures["exclusions"]:
            story.append(
                paragraph(
                    f"{statements.exclusion_label(exclusion['kind'])}: {exclusion['what']} — {exclusion['reason']}",
                    look["base"],
                )
            )
        story.append(
            paragraph(_("%(count)s contacts left out in all.", count=figures["excluded_contacts"]), look["small"])
        )
    else:
        story.append(paragraph(_("No exclusions this month."), look["small"]))
    if figures.get("feedback"):
        story += [Spacer(1, 4 * mm), paragraph(_("Patient feedback after contacts"), look["h2"])]
        for sentence in FeedbackFigures.from_dict(figures["feedback"]).sentences():
            story.append(paragraph(sentence, look["base"]))
    story.append(Spacer(1, 4 * mm))
    story.append(
        paragraph(
            _("Counted at %(moment)s (UTC), in the time zone %(zone)s.", moment=figures["counted_at"][:16],
              zone=figures["time_zone"]),
            look["small"],
        )
    )  # fmt: skip
    document.build(story)
    return out.getvalue()
