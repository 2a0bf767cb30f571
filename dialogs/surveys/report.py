"""Survey results for people: figure lines, warnings, the chart PNG and the XLSX workbook.

Everything takes a ``locale`` instead of a chat context, so the staff chat and the command line
say the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from io import BytesIO

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter
from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from dialogs import i18n
from dialogs.surveys.drawing import cjk_text
from dialogs.surveys.templates import Template, scale5_label, text
from store.surveys import MULTI, SCALE5, SINGLE, TEXT, Results

SMALL_SAMPLE = 30  # below this (and short of a census) the normal approximation is shaky
WIDE_MARGIN = 0.10  # a margin of error above ±10 points is too wide to act on
COLORS = ("#c0392b", "#e67e22", "#bdc3c7", "#7fb3d5", "#1f618d")  # 1 … 5

SMALL, NOT_PUBLIC, OVER_RECIPIENTS = "small_sample", "not_public", "over_recipients"


def percent(locale: str, share: float | None) -> str:
    if share is None:
        return i18n.t(locale, "survey.none")
    return i18n.t(locale, "survey.percent", value=f"{share * 100:.1f}")


def number(locale: str, value: float | None, digits: int = 1) -> str:
    return i18n.t(locale, "survey.none") if value is None else f"{value:.{digits}f}"


def shown_margin(results: Results) -> float | None:
    """The margin of error worth printing: none below a small sample (one answer gives a meaningless
    ±0.0) unless everyone answered, where the margin is truly 0."""
    census = results.recipients is not None and results.valid_responses >= results.recipients
    if results.valid_responses < SMALL_SAMPLE and not census:
        return None
    return results.margin_of_error


def survey_title(template: Template, results: Results, locale: str) -> str:
    return i18n.t(locale, "survey.imported") if results.imported else text(template.title, locale)


def period(results: Results, locale: str) -> str:
    return i18n.t(locale, "survey.period", opens=i18n.day(locale, results.opens_on), closes=i18n.day(locale, results.closes_on))


def warnings(results: Results, min_responses: int) -> list[str]:
    """Codes of what a reader should know before trusting the figures."""
    found = []
    census = results.recipients is not None and results.valid_responses >= results.recipients
    margin = results.margin_of_error
    if results.valid_responses and (
        (results.valid_responses < SMALL_SAMPLE and not census) or (margin is not None and margin > WIDE_MARGIN)
    ):
        found.append(SMALL)
    if not (results.closed and results.valid_responses >= min_responses):
        found.append(NOT_PUBLIC)
    if results.recipients is not None and results.valid_responses > results.recipients:
        found.append(OVER_RECIPIENTS)
    return found


def warning_lines(results: Results, min_responses: int, locale: str) -> list[str]:
    keys = {SMALL: "survey.warn_small", NOT_PUBLIC: "survey.warn_not_public", OVER_RECIPIENTS: "survey.warn_over_recipients"}
    return [
        i18n.t(locale, keys[code], valid=results.valid_responses, min=min_responses)
        if code != OVER_RECIPIENTS else i18n.t(locale, keys[code])
        for code in warnings(results, min_responses)
    ]


def figure_lines(results: Results, template: Template, locale: str, project: str) -> list[str]:
    """The results as lines of text: counts, response rate, 满意率 ± margin, mean score, NPS, items."""
    t = i18n.t
    lines = [
        t(locale, "survey.results_title", title=survey_title(template, results, locale), project=project),
        t(locale, "survey.results_period", period=period(results, locale),
          status=t(locale, "survey.status_closed" if results.closed else "survey.status_open")),
        t(locale, "survey.results_valid", valid=results.valid_responses, responses=results.responses),
    ]
    if results.response_rate_basis == "invitations":
        lines.append(t(locale, "survey.rate_invitations", rate=percent(locale, results.response_rate), count=results.invitations))
    elif results.response_rate_basis == "recipients":
        lines.append(t(locale, "survey.rate_recipients", rate=percent(locale, results.response_rate), count=results.recipients))
    else:
        lines.append(t(locale, "survey.rate_unknown"))
    if not results.valid_responses:
        lines.append(t(locale, "survey.no_answers"))
        return lines
    margin = shown_margin(results)
    if margin is not None:
        margin_text = t(locale, "survey.points", value=f"{margin * 100:.1f}")
    elif results.margin_of_error is not None:
        margin_text = t(locale, "survey.points_small", valid=results.valid_responses)
    else:
        margin_text = t(locale, "survey.none")
    lines.append(t(locale, "survey.results_satisfaction", rate=percent(locale, results.satisfaction_rate), margin=margin_text))
    lines.append(t(locale, "survey.results_mean", score=number(locale, results.mean_score)))
    lines.append(t(locale, "survey.results_nps", nps=number(locale, results.nps)))
    scaled = [(item, results.items.get(item.code)) for item in template.items if item.kind == SCALE5]
    shown = [(item, found) for item, found in scaled if found is not None and found.answered]
    if shown:
        lines.append(t(locale, "survey.results_items"))
        lines.extend(
            t(locale, "survey.results_item", label=text(item.label, locale), share=percent(locale, found.top_two_share),
              answered=found.answered)
            for item, found in shown
        )
    return lines


def suggestion_lines(template: Template, answers: Sequence[tuple[str, str]], total: int, locale: str) -> list[str]:
    """Free-text answers for staff: the first of ``total``, and how many more there are."""
    if not answers:
        return []
    labels = {item.code: text(item.label, locale) for item in template.items}
    lines = [i18n.t(locale, "survey.suggestions_title", count=total)]
    lines.extend(i18n.t(locale, "survey.suggestion_line", label=labels.get(item, item), text=words) for item, words in answers)
    if total > len(answers):
        lines.append(i18n.t(locale, "survey.suggestions_more", count=total - len(answers)))
    return lines


# --- chart -------------------------------------------------------------------------------------

def chart_texts(template: Template, locale: str) -> list[str]:
    """Every fixed text a chart may show in ``locale`` (the font test checks their glyphs)."""
    texts = [text(template.title, locale), i18n.t(locale, "survey.imported"), i18n.t(locale, "survey.chart.axis"),
             i18n.t(locale, "survey.chart.empty"), i18n.t(locale, "survey.chart.subtitle", project="", valid=0, rate="",
                                                           score="", nps=""),
             i18n.t(locale, "survey.chart.top_two", share=""), i18n.t(locale, "survey.none")]
    texts += [text(item.label, locale) for item in template.items if item.kind == SCALE5]
    texts += [scale5_label(template, score, locale) for score in range(1, 6)] if template.scale5 else []
    return texts


def chart_png(results: Results, template: Template, locale: str, project: str) -> bytes:
    """A horizontal stacked bar per 5-point item (非常不满意 … 非常满意), with the headline figures on top."""
    rows = [item for item in template.items if item.kind == SCALE5]
    rows.reverse()  # the first item at the top
    with cjk_text():
        figure = Figure(figsize=(8.5, 1.9 + 0.48 * len(rows)), dpi=150)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        for y, item in enumerate(rows):
            found = results.items.get(item.code)
            if found is None or not found.answered:
                axes.text(0.01, y, i18n.t(locale, "survey.chart.empty"), va="center", fontsize=8, color="#777777")
                continue
            left = 0.0
            for score in range(1, 6):
                share = found.distribution.get(str(score), 0) / found.answered
                axes.barh(y, share, left=left, color=COLORS[score - 1], height=0.62, edgecolor="white", linewidth=0.5)
                if share >= 0.07:
                    axes.text(left + share / 2, y, f"{share * 100:.0f}%", ha="center", va="center", fontsize=7,
                              color="white" if score in (1, 5) else "#222222")
                left += share
            axes.text(1.01, y, i18n.t(locale, "survey.chart.top_two", share=percent(locale, found.top_two_share)),
                      va="center", fontsize=8, transform=axes.get_yaxis_transform())
        axes.set_yticks(range(len(rows)), [text(item.label, locale) for item in rows], fontsize=9)
        axes.set_xlim(0, 1)
        axes.set_ylim(-0.6, len(rows) - 0.4)
        axes.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        axes.set_xlabel(i18n.t(locale, "survey.chart.axis"), fontsize=8)
        axes.tick_params(axis="x", labelsize=8)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        if template.scale5:
            handles = [Patch(color=COLORS[s - 1], label=scale5_label(template, s, locale)) for s in range(1, 6)]
            below = 0.62 / (figure.get_figheight() * (figure.subplotpars.top - figure.subplotpars.bottom))
            axes.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -below), ncol=5, fontsize=8,
                        frameon=False)
        figure.suptitle(survey_title(template, results, locale), fontsize=13, x=0.02, ha="left")
        axes.set_title(
            i18n.t(locale, "survey.chart.subtitle", project=project, valid=results.valid_responses,
                   rate=percent(locale, results.satisfaction_rate), score=number(locale, results.mean_score),
                   nps=number(locale, results.nps)),
            fontsize=8.5, loc="left", color="#333333",
        )
        out = BytesIO()
        figure.savefig(out, format="png", bbox_inches="tight", facecolor="white")
    return out.getvalue()


# --- workbook ----------------------------------------------------------------------------------

def _append(sheet: Worksheet, values: Sequence[object]) -> None:
    """A row of plain values: text that starts with "=" stays text, never a formula (people wrote it)."""
    sheet.append(list(values))
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str) and cell.value.startswith("="):
            cell.data_type = "s"


def _margin_cell(results: Results, locale: str) -> float | str | None:
    margin = shown_margin(results)
    if margin is None and results.margin_of_error is not None:
        return i18n.t(locale, "survey.points_small", valid=results.valid_responses)
    return margin


def workbook(
    results: Results, template: Template, locale: str, project: str, answers: Sequence[tuple[str, str]]
) -> Workbook:
    """Sheets ``Summary`` (the figures), ``Items`` (every answer count) and ``Suggestions`` (free text)."""
    t = i18n.t
    book = Workbook()
    summary = book.worksheets[0]
    summary.title = "Summary"
    _append(summary, [t(locale, "survey.xlsx.figure"), t(locale, "survey.xlsx.value")])
    rows: list[tuple[str, object, str | None]] = [
        ("project", project, None),
        ("survey", f"{survey_title(template, results, locale)} · {period(results, locale)}", None),
        ("responses", results.responses, None),
        ("valid_responses", results.valid_responses, None),
        ("invitations", results.invitations, None),
        ("recipients", results.recipients, None),
        ("response_rate", results.response_rate, "0.0%"),
        ("satisfaction_rate", results.satisfaction_rate, "0.0%"),
        ("margin_of_error", _margin_cell(results, locale), "0.0%"),
        ("mean_score", results.mean_score, "0.0"),
        ("nps", results.nps, "0.0"),
    ]
    for key, value, fmt in rows:
        _append(summary, [t(locale, f"survey.xlsx.{key}"), value])
        if fmt is not None:
            summary.cell(row=summary.max_row, column=2).number_format = fmt
    summary.column_dimensions["A"].width = 28
    summary.column_dimensions["B"].width = 48

    items = book.create_sheet("Items")
    _append(items, [t(locale, "survey.xlsx.item"), t(locale, "survey.xlsx.answer"), t(locale, "survey.xlsx.count"),
                  t(locale, "survey.xlsx.share")])
    for item in template.items:
        found = results.items.get(item.code)
        if found is None or item.kind == TEXT:
            continue
        choices = {c.code: text(c.label, locale) for c in item.choices}
        for answer, count in found.distribution.items():
            if item.kind == SCALE5:
                shown = f"{answer} {scale5_label(template, int(answer), locale)}"
            elif item.kind in (SINGLE, MULTI):
                shown = choices.get(answer, answer)
            else:
                shown = answer
            _append(items, [text(item.label, locale), shown, count, count / found.answered if found.answered else None])
            items.cell(row=items.max_row, column=4).number_format = "0.0%"
    items.column_dimensions["A"].width = 24
    items.column_dimensions["B"].width = 24

    free = book.create_sheet("Suggestions")
    _append(free, [t(locale, "survey.xlsx.item"), t(locale, "survey.xlsx.text")])
    labels = {item.code: text(item.label, locale) for item in template.items}
    for code, words in answers:
        _append(free, [labels.get(code, code), words])
    free.column_dimensions["A"].width = 20
    free.column_dimensions["B"].width = 80
    return book
