"""What every PDF of the application shares: the DejaVu fonts, the colours and the paragraph styles.

The text font is DejaVu Sans (vendored with its licence in app/static/vendor/dejavu): the PDF
standard fonts and reportlab's bundled Vera lack Polish letters such as ą, ę, ś and ż. On the ground
floor so that each domain's PDF (reports, SLA statements, GDPR exports) draws with the same kit.
"""

import threading
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph

FONT, FONT_BOLD = "DejaVuSans", "DejaVuSans-Bold"
_FONT_FOLDER = Path(__file__).resolve().parent / "static" / "vendor" / "dejavu"
_font_lock = threading.Lock()

INK = colors.HexColor("#1f2937")
MUTED = colors.HexColor("#6b7280")
ACCENT = colors.HexColor("#0172ad")
MISSED = colors.HexColor("#b91c1c")
RULE = colors.HexColor("#d1d5db")


def register_fonts() -> None:
    with _font_lock:
        if FONT in pdfmetrics.getRegisteredFontNames():
            return
        pdfmetrics.registerFont(TTFont(FONT, str(_FONT_FOLDER / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont(FONT_BOLD, str(_FONT_FOLDER / "DejaVuSans-Bold.ttf")))
        pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT, boldItalic=FONT_BOLD)


def styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=FONT, fontSize=8.5, leading=11, textColor=INK)
    return {
        "base": base,
        "title": ParagraphStyle("title", base, fontName=FONT_BOLD, fontSize=20, leading=24),
        "subtitle": ParagraphStyle("subtitle", base, fontSize=11, leading=15, textColor=MUTED),
        "h2": ParagraphStyle("h2", base, fontName=FONT_BOLD, fontSize=12.5, leading=16, spaceBefore=8, spaceAfter=4),
        "small": ParagraphStyle("small", base, fontSize=7, leading=9, textColor=MUTED),
        "cell": ParagraphStyle("cell", base, fontSize=8, leading=10),
        "num": ParagraphStyle("num", base, fontSize=8, leading=10, alignment=TA_RIGHT),
        # Long German headers ("SLA-Verletzungen") break at their hyphen, never inside a word.
        "head": ParagraphStyle(
            "head", base, fontName=FONT_BOLD, fontSize=7, leading=9, splitLongWords=0, embeddedHyphenation=1
        ),
        "headnum": ParagraphStyle(
            "headnum",
            base,
            fontName=FONT_BOLD,
            fontSize=7,
            leading=9,
            alignment=TA_RIGHT,
            splitLongWords=0,
            embeddedHyphenation=1,
        ),
        "kpi": ParagraphStyle("kpi", base, fontName=FONT_BOLD, fontSize=16, leading=19),
    }


def paragraph(text: str, style: ParagraphStyle) -> Paragraph:
    """Plain text (escaped) as a paragraph."""
    return Paragraph(escape(str(text)), style)
