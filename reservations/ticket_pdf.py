"""A ticket as a one-page PDF (``GET /api/tickets/{id}/pdf/``): event, venue,
the date in the event's time zone, seat, grade, price and the QR code of
the ticket's code, in the reader's language.

fpdf2 (pure Python) writes it; the text is set in Ticketing Sans KR, a
subset of Pretendard vendored in ``reservations/fonts`` (SIL OFL 1.1), so
Hangul prints wherever the product runs, with no system font. The QR code
is drawn as vector squares from ``core.qr``'s matrix: sharp at any zoom or
printer resolution. A void ticket prints without its code, marked void.
"""

from __future__ import annotations

from pathlib import Path

from django.utils.translation import gettext, override
from fpdf import FPDF
from fpdf.enums import TextMode

from core.l10n import date_text, money_text, time_text
from core.qr import qr_matrix
from reservations.models import Ticket
from reservations.selectors import event_time_zone

FONT = Path(__file__).resolve().parent / "fonts" / "TicketingSansKR-Regular.ttf"
FONT_NAME = "TicketingSansKR"
INK = (26, 26, 46)
MUTED = (96, 96, 120)
ACCENT = (59, 47, 201)
PAGE_WIDTH, MARGIN = 210.0, 18.0
QR_SIZE = 52.0


def ticket_pdf(*, ticket: Ticket, language: str) -> bytes:
    """The ticket's PDF, its words in ``language``."""
    with override(language):
        pdf = _TicketPage(ticket, language)
        pdf.draw()
        return bytes(pdf.output())


class _TicketPage(FPDF):
    def __init__(self, ticket: Ticket, language: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.ticket = ticket
        self.language = language
        self.set_auto_page_break(auto=False)
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.c_margin = 0  # values line up with their labels
        self.add_font(FONT_NAME, fname=str(FONT))
        self.set_lang(language)
        event = ticket.event
        self.set_title(gettext("Ticket for %(event)s") % {"event": event.name})
        self.set_creator("Ticketing")
        self.set_creation_date(ticket.created_at)

    def draw(self) -> None:
        ticket, event, seat = self.ticket, self.ticket.event, self.ticket.seat
        zone = event_time_zone(event)
        self.add_page()
        self.set_fill_color(*ACCENT)
        self.rect(0, 0, PAGE_WIDTH, 14, style="F")
        self._text(MARGIN, 9.5, gettext("Ticketing") + "  ·  " + gettext("E-ticket"), size=11, color=(255, 255, 255))

        top = 30.0
        self._label(MARGIN, top, gettext("Event"))
        self.set_xy(MARGIN, top + 2)
        self._font(20, INK, bold=True)
        self.multi_cell(PAGE_WIDTH - 2 * MARGIN - QR_SIZE - 8, 9, event.name, new_x="LMARGIN", new_y="NEXT")
        y = max(self.get_y() + 6, top + 22)
        venue = event.venue
        where = ", ".join(part for part in (venue.name, venue.address, venue.city) if part)
        y = self._fact(y, gettext("Venue"), where)
        y = self._fact(y, gettext("Date"), date_text(event.starts_at, zone, self.language))
        y = self._fact(y, gettext("Time"), time_text(event.starts_at, zone, self.language))

        y = max(y + 4, top + QR_SIZE + 14)
        self.set_draw_color(*MUTED)
        self.set_dash_pattern(dash=1.5, gap=1.5)
        self.line(MARGIN, y, PAGE_WIDTH - MARGIN, y)
        self.set_dash_pattern()
        y += 8
        boxes = [
            (gettext("Section"), seat.section),
            (gettext("Row"), seat.row),
            (gettext("Seat"), str(seat.number)),
            (gettext("Grade"), seat.grade.code),
        ]
        width = (PAGE_WIDTH - 2 * MARGIN) / len(boxes)
        for index, (label, value) in enumerate(boxes):
            x = MARGIN + index * width
            self._label(x, y, label)
            self._text(x, y + 11, value, size=22, color=INK, bold=True)
        y += 24
        y = self._fact(y, gettext("Price"), money_text(ticket.price, ticket.order.currency, self.language))
        y = self._fact(y, gettext("Order"), f"#{ticket.order_id}")
        y = self._fact(y, gettext("Ticket holder"), ticket.user.get_full_name() or ticket.user.get_username())
        y = self._fact(y, gettext("Ticket code"), ticket.code)

        qr_x = PAGE_WIDTH - MARGIN - QR_SIZE
        if ticket.status == Ticket.Status.VOID:
            self._text(qr_x + 4, top + QR_SIZE / 2 + 4, gettext("VOID"), size=24, color=(176, 32, 48), bold=True)
            note = gettext("This ticket is void: it no longer admits anyone.")
        else:
            self._qr(qr_x, top - 2, ticket.code)
            note = gettext(
                "Show this QR code at the entrance, on paper or on your phone. "
                "It admits one person, once. Keep it private: whoever shows it first gets in."
            )
        self.set_xy(MARGIN, y + 6)
        self._font(10, MUTED)
        self.multi_cell(PAGE_WIDTH - 2 * MARGIN, 5.5, note, align="L")
        self.set_draw_color(*MUTED)
        self.set_line_width(0.3)
        self.rect(
            MARGIN - 6,
            top - 10,
            PAGE_WIDTH - 2 * MARGIN + 12,
            self.get_y() + 16 - top,
            round_corners=True,
            corner_radius=4,
        )

    def _qr(self, x: float, y: float, code: str) -> None:
        matrix = qr_matrix(data=code)
        module = QR_SIZE / len(matrix)
        self.set_fill_color(0, 0, 0)
        for row_index, row in enumerate(matrix):
            column = 0
            while column < len(row):  # one rectangle per run of dark modules
                if not row[column]:
                    column += 1
                    continue
                start = column
                while column < len(row) and row[column]:
                    column += 1
                self.rect(x + start * module, y + row_index * module, (column - start) * module, module, style="F")

    def _fact(self, y: float, label: str, value: str) -> float:
        self._label(MARGIN, y, label)
        self.set_xy(MARGIN, y + 1.5)
        self._font(12, INK)
        self.multi_cell(PAGE_WIDTH - 2 * MARGIN - QR_SIZE - 8, 6, value, new_x="LMARGIN", new_y="NEXT")
        return self.get_y() + 3

    def _label(self, x: float, y: float, text: str) -> None:
        self._text(x, y, text.upper() if self.language == "en" else text, size=8, color=MUTED)

    def _text(self, x: float, y: float, text: str, *, size: float, color: tuple, bold: bool = False) -> None:
        self._font(size, color, bold=bold)
        self.text(x, y, text)
        self.text_mode = TextMode.FILL

    def _font(self, size: float, color: tuple, *, bold: bool = False) -> None:
        """The one font has one weight: bold is its outline stroked too."""
        self.set_font(FONT_NAME, size=size)
        self.set_text_color(*color)
        self.set_draw_color(*color)
        self.set_line_width(0.25 if bold else 0.2)
        self.text_mode = TextMode.FILL_STROKE if bold else TextMode.FILL
