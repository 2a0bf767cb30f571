"""Invitations on paper and screens: deep links, QR-code PNGs, and A4 sheets of cards to cut out."""

from __future__ import annotations

from collections.abc import Sequence
from io import BytesIO

import numpy as np
import qrcode
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from qrcode.constants import ERROR_CORRECT_M

from dialogs import i18n
from dialogs.surveys.drawing import cjk_text, wrap

A4 = (8.27, 11.69)  # inches
COLUMNS, ROWS = 2, 4
CARDS_PER_PAGE = COLUMNS * ROWS
MARGIN = 0.35  # inches around the grid
SHEET_DPI = 200


def deep_link(username: str | None, token: str) -> str | None:
    """The Telegram link that opens the bot with ``/start <token>``, when the bot's username is known."""
    return f"https://t.me/{username.lstrip('@')}?start={token}" if username else None


def web_link(web_url: str | None, token: str) -> str | None:
    """The web chat's link that opens the survey in any browser, when the web chat's address is known."""
    return f"{web_url.rstrip('/')}/s/{token}" if web_url else None


def invitation_link(web_url: str | None, username: str | None, token: str) -> str | None:
    """The link to print and put in QR codes: the web one opens everywhere, Telegram's only with Telegram."""
    return web_link(web_url, token) or deep_link(username, token)


def _qr_image(data: str) -> qrcode.image.pil.PilImage:
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=10, border=2)
    code.add_data(data)
    code.make(fit=True)
    return code.make_image(fill_color="black", back_color="white")


def qr_png(data: str) -> bytes:
    out = BytesIO()
    _qr_image(data).save(out, format="PNG")
    return out.getvalue()


def _page(links: Sequence[str], project: str, closes: str, locale: str) -> Figure:
    figure = Figure(figsize=A4, dpi=SHEET_DPI)
    FigureCanvasAgg(figure)
    page_w, page_h = A4
    card_w = (page_w - 2 * MARGIN) / COLUMNS
    card_h = (page_h - 2 * MARGIN) / ROWS
    title = i18n.t(locale, "survey.card.title")
    scan = wrap(i18n.t(locale, "survey.card.scan"), 34, 3)
    name = wrap(project, 30, 3)
    for n, link in enumerate(links):
        col, row = n % COLUMNS, n // COLUMNS
        x0 = MARGIN + col * card_w
        y0 = page_h - MARGIN - (row + 1) * card_h

        def at(dx: float, dy: float, x0: float = x0, y0: float = y0) -> tuple[float, float]:
            return (x0 + dx) / page_w, (y0 + dy) / page_h

        figure.add_artist(Rectangle(at(0, 0), card_w / page_w, card_h / page_h, transform=figure.transFigure,
                                    fill=False, linestyle=(0, (4, 3)), linewidth=0.6, edgecolor="#999999"))
        qr_size = 1.55
        axes = figure.add_axes((*at(0.15, card_h - 0.2 - qr_size - 0.35), qr_size / page_w, qr_size / page_h))
        axes.imshow(np.asarray(_qr_image(link).convert("L")), cmap="gray", interpolation="nearest", vmin=0, vmax=255)
        axes.set_axis_off()
        text_x = 0.15 + qr_size + 0.12
        figure.text(*at(text_x, card_h - 0.35), title, fontsize=11, va="top")
        y = card_h - 0.68
        for line in name:
            figure.text(*at(text_x, y), line, fontsize=8.5, va="top")
            y -= 0.2
        y -= 0.08
        for line in scan:
            figure.text(*at(text_x, y), line, fontsize=6.5, va="top", color="#333333")
            y -= 0.16
        figure.text(*at(text_x, 0.5), i18n.t(locale, "survey.card.closes", day=closes), fontsize=7.5, va="bottom")
        figure.text(*at(text_x, 0.3), i18n.t(locale, "survey.card.once"), fontsize=6.5, va="bottom", color="#333333")
        figure.text(*at(0.15, 0.12), link, fontsize=4.8, va="bottom", color="#555555", family="DejaVu Sans")
    return figure


def _pages(links: Sequence[str]) -> list[Sequence[str]]:
    return [links[i:i + CARDS_PER_PAGE] for i in range(0, len(links), CARDS_PER_PAGE)]


def sheet_pdf(links: Sequence[str], project: str, closes: str, locale: str) -> bytes:
    """A printable A4 PDF of invitation cards (eight a page): QR code, project, closing day."""
    out = BytesIO()
    with cjk_text(), PdfPages(out) as pdf:
        for chunk in _pages(links):
            pdf.savefig(_page(chunk, project, closes, locale))
    return out.getvalue()


def sheet_pngs(links: Sequence[str], project: str, closes: str, locale: str) -> list[bytes]:
    """The same sheets as PNG images, one per page."""
    pages = []
    with cjk_text():
        for chunk in _pages(links):
            out = BytesIO()
            _page(chunk, project, closes, locale).savefig(out, format="png", facecolor="white")
            pages.append(out.getvalue())
    return pages
