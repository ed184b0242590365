"""The SLA report as a PDF: header, per-queue targets against achieved, charts and breakdowns.

Rendered with reportlab in the current locale (flask-babel formats every date and number), so
the same function serves the download in the reader's UI language and the monthly e-mail in
the clinic's language. The charts are drawn as PDF vector shapes, not images.

Fonts, colours and paragraph styles come from app/pdf_kit.py (DejaVu Sans: every letter of the five
languages), shared with the SLA statement's PDF.
"""

import io
from datetime import UTC, datetime
from decimal import Decimal
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from babel.dates import format_datetime as babel_format_datetime
from babel.dates import format_skeleton
from flask_babel import format_date, format_decimal, get_locale
from reportlab.graphics.shapes import Drawing, Line, PolyLine, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.platypus import (
    CondPageBreak,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from app.hotline.models import Channel, Topic
from app.i18n import WEEKDAY_NAMES, _, format_duration
from app.languages import language_name
from app.pdf_kit import ACCENT, FONT, FONT_BOLD, INK, MISSED, MUTED, RULE
from app.pdf_kit import paragraph as _p
from app.pdf_kit import register_fonts as _register_fonts
from app.pdf_kit import styles as _styles
from app.reports.services import SlaReport
from app.sla.services import CONVENTION_FORMULAS

__all__ = ["FONT", "FONT_BOLD", "INK", "MUTED", "ACCENT", "MISSED", "RULE", "_register_fonts", "report_pdf"]

BAR = colors.HexColor("#d1d5db")
HEAT_LOW, HEAT_HIGH = colors.HexColor("#eff6ff"), colors.HexColor("#1d4ed8")

PAGE = landscape(A4)
MARGIN = 14 * mm
WIDTH = PAGE[0] - 2 * MARGIN


def _percent(value: Decimal | None) -> str:
    return f"{format_decimal(value)} %" if value is not None else "—"


def _seconds(value: Decimal | None) -> str:
    return format_duration(value)


def _duration(seconds: int | None) -> str:
    return format_duration(seconds) if seconds else ""


def _measure(achieved: str, target: str | None, missed: bool, styles) -> Paragraph:
    """A figure with its target below it; a missed target in red."""
    colour = MISSED.hexval()[2:] if missed else INK.hexval()[2:]
    text = f'<font color="#{colour}">{escape(achieved)}</font>'
    if target:
        text += f'<br/><font size="6.5" color="#{MUTED.hexval()[2:]}">{escape(target)}</font>'
    return Paragraph(text, styles["num"])


def report_pdf(report: SlaReport, *, clinic_name: str, generated_at: datetime | None = None) -> bytes:
    """The report as a PDF document (bytes), worded and formatted in the current locale.

    The same report, generation moment and locale give the same bytes: reportlab's own
    creation date and document id are pinned (invariant mode) and the footer states
    `generated_at`, so a stored PDF can be checked against a regenerated one.
    """
    _register_fonts()
    styles = _styles()
    generated_at = generated_at or datetime.now(UTC)
    period = report.period
    period_text = _(
        "From %(start)s to %(end)s (%(zone)s).",
        start=format_date(period.first_day, "medium"),
        end=format_date(period.last_day, "medium"),
        zone=period.time_zone,
    )

    story = [
        _p(clinic_name, styles["title"]),
        _p(_("SLA report"), styles["subtitle"]),
        _p(period_text, styles["subtitle"]),
        Spacer(1, 5 * mm),
        _kpis(report, styles),
        Spacer(1, 4 * mm),
    ]
    if not report.rows:
        story.append(_p(_("No contacts in this period."), styles["base"]))
    else:
        story += [
            _p(_("Per queue"), styles["h2"]),
            _queue_table(report, styles),
            Spacer(1, 2 * mm),
            _p(
                _("Below each figure: its target. Red: target missed.")
                + " "
                + _("Headline figures are met when every queue with a target reached its own.")
                + " "
                + _(
                    "A: answered, Ab: abandoned, T: answer target, S: short-abandon threshold. "
                    "An interval without contacts has no service level (—)."
                ),
                styles["small"],
            ),
            CondPageBreak(40 * mm),
            KeepTogether(
                [_p(_("Offered contacts by topic, language and channel"), styles["h2"]), _breakdowns(report, styles)]
            ),
            CondPageBreak(80 * mm),
            KeepTogether(
                [
                    _p(_("Service level per day"), styles["h2"]),
                    _trend_chart(report, styles),
                    _p(
                        _(
                            "Line: service level of calls and chats, answered of offered (left axis). "
                            "Bars: offered contacts (right axis)."
                        )
                        + (
                            " "
                            + _(
                                "Dashed line: the target (%(targets)s).",
                                targets=" / ".join(_percent(target) for target in report.headlines[0].targets),
                            )
                            if report.headlines[0].targets
                            else ""
                        ),
                        styles["small"],
                    ),
                ]
            ),
            CondPageBreak(75 * mm),
            KeepTogether([_p(_("Offered contacts by weekday and hour"), styles["h2"]), _heat_map(report)]),
        ]

    # In the clinic's time zone whoever renders it (a job has no request, hence no user time zone).
    footer = _(
        "%(clinic)s · SLA report · generated %(moment)s",
        clinic=clinic_name,
        moment=babel_format_datetime(
            generated_at, "short", tzinfo=ZoneInfo(period.time_zone), locale=get_locale() or "en"
        ),
    )

    def _decorate(canvas, doc):
        canvas.saveState()
        canvas.setFont(FONT, 7)
        canvas.setFillColor(MUTED)
        canvas.drawString(MARGIN, 8 * mm, footer)
        canvas.drawRightString(PAGE[0] - MARGIN, 8 * mm, _("Page %(number)d", number=doc.page))
        canvas.restoreState()

    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=PAGE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=14 * mm,
        title=f"{clinic_name} · {_('SLA report')} · {period.first_day.isoformat()} – {period.last_day.isoformat()}",
        author="Switchboard",
        lang=str(get_locale() or "en"),
        # A fixed creation date and document id (the footer says when it was generated): the
        # same figures give the same bytes.
        invariant=1,
    )
    document.build(story, onFirstPage=_decorate, onLaterPages=_decorate)
    return buffer.getvalue()


def _headline_label(key: str) -> str:
    return {
        "service_level": _("Service level (voice and chat, answered of offered)"),
        "asa": _("Average speed of answer (calls and chats)"),
        "abandonment": _("Abandoned (calls and chats)"),
        "first_response": _("First response on time (e-mail)"),
    }[key]


def verdict_words(headline) -> tuple[str, str]:
    """A headline's figure and its reading beside the target: ("78.4 %", "target 80 % · missed")."""
    shown = [format_duration(target) if headline.key == "asa" else _percent(target) for target in headline.targets]
    value = format_duration(headline.value) if headline.key == "asa" else _percent(headline.value)
    if headline.value is None:
        return value, str(headline.empty_reason or _("nothing measured yet"))
    words = []
    if shown:
        joined = " / ".join(shown)
        maximum = headline.key in ("asa", "abandonment")
        words.append(_("max. %(value)s", value=joined) if maximum else _("target %(value)s", value=joined))
    words.append({"met": _("met"), "missed": _("missed"), "no_target": _("no target")}[headline.status])
    if headline.status == "missed" and len(headline.verdicts) > 1:
        words[-1] += (
            " (" + _("%(missed)d of %(queues)d queues", missed=headline.missed, queues=len(headline.verdicts)) + ")"
        )
    return value, " · ".join(words)


def _kpis(report: SlaReport, styles) -> Table:
    """The headline figures, each with its target and met/missed in words (and red when missed)."""
    figures = [(_("Offered"), format_decimal(report.total.offered), "", False)]
    for headline in report.headlines:
        value, reading = verdict_words(headline)
        figures.append((_headline_label(headline.key), value, reading, headline.status == "missed"))
    figures.append((_("Breaches"), format_decimal(report.total.breaches), _("first responses late or overdue"), False))
    width = WIDTH / len(figures)
    kpi, small = styles["kpi"], styles["small"]
    cells = [
        [_p(label, small) for label, _value, _reading, _missed in figures],
        [
            Paragraph(f'<font color="#{(MISSED if missed else INK).hexval()[2:]}">{escape(value)}</font>', kpi)
            for _label, value, _reading, missed in figures
        ],
        [
            Paragraph(f'<font color="#{(MISSED if missed else MUTED).hexval()[2:]}">{escape(reading)}</font>', small)
            for _label, _value, reading, missed in figures
        ],
    ]
    table = Table(cells, colWidths=[width] * len(figures))
    table.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 0.5, RULE),
                ("LINEAFTER", (0, 0), (-2, -1), 0.5, RULE),
                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#f9fafb")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 4),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )
    return table


def _queue_table(report: SlaReport, styles) -> Table:
    head = [_p(_("Queue"), styles["head"])] + [
        _p(label, styles["headnum"])
        for label in (
            _("Offered"),
            _("Answered"),
            _("Abandoned"),
            _("Service level"),
            _("ASA"),
            _("Abandoned (%%)").replace("%%", "%"),
            _("First response on time (%%)").replace("%%", "%"),
            _("Resolved on time (%%)").replace("%%", "%"),
            _("Breaches"),
        )
    ]
    rows = [head]
    for row in report.rows:
        policy = row.policy_name or _("Queue target")
        rule = f"{CONVENTION_FORMULAS[row.convention]}, T = {format_duration(row.answer_within_seconds)}"
        name = Paragraph(
            f"<b>{escape(row.queue_name)}</b> ({escape(str(Channel.label_of(row.channel)))})<br/>"
            f'<font size="6.5" color="#{MUTED.hexval()[2:]}">{escape(policy)} · {escape(rule)}</font>',
            styles["cell"],
        )
        ticket = not row.is_queue_channel
        sl_target = (
            _("target %(value)s", value=_percent(row.service_level_target))
            if row.service_level_target is not None and not ticket
            else None
        )
        asa_target = (
            _("max. %(value)s", value=_seconds(Decimal(row.max_asa_seconds)))
            if row.max_asa_seconds is not None
            else None
        )
        abandon_target = (
            _("max. %(value)s", value=_percent(row.max_abandon_percent))
            if row.max_abandon_percent is not None
            else None
        )
        first_target = None
        if row.first_response_seconds:
            first_target = _("within %(duration)s", duration=_duration(row.first_response_seconds))
            if ticket and row.service_level_target is not None:
                first_target = _(
                    "%(share)s within %(duration)s",
                    share=_percent(row.service_level_target),
                    duration=_duration(row.first_response_seconds),
                )
        resolution_target = (
            _("within %(duration)s", duration=_duration(row.resolution_seconds)) if row.resolution_seconds else None
        )
        rows.append(
            [
                name,
                _p(format_decimal(row.counts.offered), styles["num"]),
                _p(format_decimal(row.counts.answered), styles["num"]),
                _p(format_decimal(row.counts.abandoned), styles["num"]),
                _measure(_percent(row.service_level), sl_target, not ticket and row.meets_target is False, styles),
                _measure(_seconds(row.asa), asa_target, row.asa_over_target, styles),
                _measure(_percent(row.abandonment), abandon_target, row.abandonment_over_target, styles),
                _measure(_percent(row.first_response), first_target, ticket and row.meets_target is False, styles),
                _measure(_percent(row.resolution), resolution_target, False, styles),
                _measure(format_decimal(row.counts.breaches), None, row.counts.breaches > 0, styles),
            ]
        )
    first = 56 * mm
    table = Table(rows, colWidths=[first] + [(WIDTH - first) / 9] * 9, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, INK),
                ("LINEBELOW", (0, 1), (-1, -1), 0.3, RULE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f9fafb")]),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def _short_day(day) -> str:
    return format_skeleton("MMMd", day, locale=get_locale() or "en")


def _trend_chart(report: SlaReport, styles) -> Drawing:
    """Service level per day as a line over the offered contacts as bars; a day without contacts is a gap."""
    height = 62 * mm
    drawing = Drawing(WIDTH, height)
    left, right, bottom, top = 12 * mm, WIDTH - 14 * mm, 10 * mm, height - 4 * mm
    plot_w, plot_h = right - left, top - bottom
    days = len(report.trend) or 1
    step = plot_w / days
    peak = max((offered for _day, _sl, offered in report.trend), default=0) or 1

    for percent in range(0, 101, 20):
        y = bottom + plot_h * percent / 100
        drawing.add(Line(left, y, right, y, strokeColor=RULE, strokeWidth=0.3))
        drawing.add(
            String(left - 2, y - 2.5, f"{percent} %", fontName=FONT, fontSize=6.5, fillColor=MUTED, textAnchor="end")
        )
    drawing.add(String(right + 2, top - 2.5, format_decimal(peak), fontName=FONT, fontSize=6.5, fillColor=MUTED))
    drawing.add(String(right + 2, bottom - 2.5, "0", fontName=FONT, fontSize=6.5, fillColor=MUTED))

    label_every = max(1, round(days / 12))
    segment: list[float] = []
    segments = []
    for index, (day, level, offered) in enumerate(report.trend):
        x = left + step * index
        if offered:
            bar_h = plot_h * offered / peak
            drawing.add(Rect(x + step * 0.15, bottom, step * 0.7, bar_h, fillColor=BAR, strokeColor=None))
        if level is None:
            if segment:
                segments.append(segment)
            segment = []
        else:
            segment += [x + step / 2, bottom + plot_h * float(level) / 100]
        if index % label_every == 0:
            drawing.add(
                String(
                    x + step / 2,
                    bottom - 9,
                    _short_day(day),
                    fontName=FONT,
                    fontSize=6.5,
                    fillColor=MUTED,
                    textAnchor="middle",
                )
            )
    if segment:
        segments.append(segment)
    for points in segments:
        if len(points) == 2:  # a lone day between gaps: a dot-like tick
            x, y = points
            drawing.add(Rect(x - 1.2, y - 1.2, 2.4, 2.4, fillColor=ACCENT, strokeColor=None))
        else:
            drawing.add(PolyLine(points, strokeColor=ACCENT, strokeWidth=1.4))
    # The service level target(s) in force: a dashed red line each, labelled at its right end.
    for target in report.headlines[0].targets:
        y = bottom + plot_h * float(target) / 100
        drawing.add(Line(left, y, right, y, strokeColor=MISSED, strokeWidth=0.9, strokeDashArray=[4, 3]))
        drawing.add(
            String(
                right - 2,
                y + 2,
                _("target %(value)s", value=_percent(target)),
                fontName=FONT,
                fontSize=6.5,
                fillColor=MISSED,
                textAnchor="end",
            )
        )
    drawing.add(Line(left, bottom, right, bottom, strokeColor=INK, strokeWidth=0.6))
    return drawing


def _heat_colour(share: float):
    return colors.linearlyInterpolatedColor(HEAT_LOW, HEAT_HIGH, 0, 1, share)


def _heat_map(report: SlaReport) -> Drawing:
    """Offered contacts per weekday (rows, Monday first) and local hour (columns), darker when busier."""
    label_w, cell_h, head_h = 24 * mm, 7 * mm, 5 * mm
    cell_w = (WIDTH - label_w) / 24
    drawing = Drawing(WIDTH, head_h + 7 * cell_h + 2)
    peak = max(report.heat_map.values(), default=0)
    top = head_h + 7 * cell_h
    for hour in range(24):
        drawing.add(
            String(
                label_w + cell_w * (hour + 0.5),
                top - head_h + 1.5,
                str(hour),
                fontName=FONT,
                fontSize=6.5,
                fillColor=MUTED,
                textAnchor="middle",
            )
        )
    for weekday in range(1, 8):
        y = top - head_h - weekday * cell_h
        drawing.add(
            String(0, y + cell_h / 2 - 2.5, str(WEEKDAY_NAMES[weekday - 1]), fontName=FONT, fontSize=7, fillColor=INK)
        )
        for hour in range(24):
            count = report.heat_map.get((weekday, hour), 0)
            share = count / peak if peak else 0
            x = label_w + cell_w * hour
            drawing.add(
                Rect(
                    x,
                    y,
                    cell_w,
                    cell_h,
                    fillColor=_heat_colour(share) if count else colors.white,
                    strokeColor=RULE,
                    strokeWidth=0.25,
                )
            )
            if count:
                drawing.add(
                    String(
                        x + cell_w / 2,
                        y + cell_h / 2 - 2.2,
                        format_decimal(count),
                        fontName=FONT,
                        fontSize=5.5,
                        fillColor=colors.white if share > 0.55 else INK,
                        textAnchor="middle",
                    )
                )
    return drawing


def _breakdowns(report: SlaReport, styles) -> Table:
    columns = []
    for title, data, label_of in (
        (_("By topic"), report.by_topic, Topic.label_of),
        (_("By language"), report.by_language, language_name),
        (_("By channel"), report.by_channel, Channel.label_of),
    ):
        total = sum(data.values())
        rows = [[_p(title, styles["head"]), _p(_("Offered"), styles["headnum"]), _p("%", styles["headnum"])]]
        for key, count in sorted(data.items(), key=lambda item: (-item[1], str(item[0]))):
            share = (Decimal(100) * count / total).quantize(Decimal("0.1")) if total else None
            rows.append(
                [
                    _p(str(label_of(key) if key is not None else "—"), styles["cell"]),
                    _p(format_decimal(count), styles["num"]),
                    _p(_percent(share), styles["num"]),
                ]
            )
        inner = Table(
            rows, colWidths=[(WIDTH / 3 - 8 * mm) * 0.5, (WIDTH / 3 - 8 * mm) * 0.3, (WIDTH / 3 - 8 * mm) * 0.2]
        )
        inner.setStyle(
            TableStyle(
                [
                    ("LINEBELOW", (0, 0), (-1, 0), 0.8, INK),
                    ("LINEBELOW", (0, 1), (-1, -1), 0.3, RULE),
                    ("TOPPADDING", (0, 0), (-1, -1), 2),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ]
            )
        )
        columns.append(inner)
    outer = Table([columns], colWidths=[WIDTH / 3] * 3)
    outer.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    return outer
