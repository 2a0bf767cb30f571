"""``civicbot survey invite`` and ``civicbot survey results``: satisfaction surveys from the command line.

``invite`` opens a survey with the standard template when the project has none open, then prints
one deep link per line (QR PNGs and a printable A4 sheet on request). ``results`` prints the
figures of the project's latest survey (or ``--survey ID|imported``), as text or ``--json``, and can
write an XLSX workbook and a chart PNG. Warnings (small sample, not yet public) go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from bot.app import open_app
from bot.config import Settings
from dialogs import i18n
from dialogs.surveys import cards, report
from dialogs.surveys.sending import send_invitations
from dialogs.surveys.templates import STANDARD, TemplateError, get_template
from store import projects, surveys
from store.audit import record
from store.conversations import ensure_identity
from store.db import reading

DEFAULT_DAYS_OPEN = 30
IMPORTED = "imported"


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {value!r}") from None


def _survey_choice(value: str) -> int | str:
    if value == IMPORTED or (value.isdigit() and len(value) < 10):
        return int(value) if value.isdigit() else value
    raise argparse.ArgumentTypeError(f"expected a survey id or {IMPORTED!r}, got {value!r}")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("survey", help="satisfaction surveys (满意度测评): invitations and results")
    survey_sub = p.add_subparsers(dest="survey_command", required=True, metavar="ACTION")
    lang: dict[str, Any] = {"choices": list(i18n.LOCALES), "default": None, "help": "language of the texts (default: CIVICBOT_DEFAULT_LOCALE)"}

    inv = survey_sub.add_parser(
        "invite", help="make N single-use invitations (opens a survey if none is open)",
        description="Prints one link per line: the web chat's (CIVICBOT_WEB_URL), then the Telegram deep link "
                    "when both are known (the bot's username comes from getMe when CIVICBOT_TELEGRAM_TOKEN is "
                    "set, else CIVICBOT_TELEGRAM_USERNAME; without either and without a web URL, the tokens, to "
                    "be sent as /start TOKEN).",
    )
    inv.add_argument("project", metavar="PROJECT_CODE")
    inv.add_argument("--count", type=int, required=True, metavar="N")
    inv.add_argument("--closes", type=_day, metavar="DATE",
                     help=f"last day of a newly opened survey (default: {DEFAULT_DAYS_OPEN} days on)")
    inv.add_argument("--json", action="store_true", help='a JSON list of {"token", "link"}')
    inv.add_argument("--qr", metavar="DIR", help="also write one QR-code PNG per invitation into DIR")
    inv.add_argument("--sheet", metavar="FILE", help="also write printable A4 invitation cards (FILE.pdf or FILE.png)")
    inv.add_argument("--lang", **lang)
    inv.set_defaults(handler=cmd_survey_invite)

    snd = survey_sub.add_parser(
        "send", help="send single-use invitations to chat identities through the outbox (one each)")
    snd.add_argument("project", metavar="PROJECT_CODE")
    snd.add_argument("--to", required=True, metavar="CHANNEL:ID,…",
                     help="recipients, e.g. telegram:123456,telegram:234567")
    snd.add_argument("--closes", type=_day, metavar="DATE",
                     help="closing day when a survey has to be opened (default: in 30 days)")
    snd.set_defaults(handler=cmd_survey_send)

    res = survey_sub.add_parser("results", help="satisfaction results of a project's survey")
    res.add_argument("project", metavar="PROJECT_CODE")
    res.add_argument("--survey", type=_survey_choice, metavar="ID|imported",
                     help="which survey (default: the one that closes last)")
    res.add_argument("--json", action="store_true", help="machine-readable figures")
    res.add_argument("--xlsx", metavar="FILE", help="write the figures, every answer count and the comments to FILE")
    res.add_argument("--chart", metavar="FILE.png", help="write a chart of the 5-point items to FILE.png")
    res.add_argument("--lang", **lang)
    res.set_defaults(handler=cmd_survey_results)


NO_USERNAME = ("the bot's username is unknown (set CIVICBOT_TELEGRAM_TOKEN, so that getMe tells it, "
               "or CIVICBOT_TELEGRAM_USERNAME)")


async def _bot_username(settings: Settings) -> str | None:
    """The username for links: the one resolver every command that prints links uses."""
    from bot.channels.telegram import bot_username

    return await bot_username(settings)


def _fail(*lines: str) -> int:
    for line in lines:
        print(line, file=sys.stderr)
    return 1


def _templates_ok() -> list[str]:
    try:
        get_template(STANDARD)
    except TemplateError as exc:
        return exc.problems
    return []


async def _open_survey(session: Any, project: Any, closes: date | None, now: datetime, zone: Any) -> Any:
    """The project's open survey, or a new one with the standard template closing after ``closes`` (default:
    in 30 days); None when ``closes`` is not after today."""
    survey = await surveys.open_survey_of(session, project.id, now)
    if survey is not None:
        if closes is not None:
            print(f"warning: {project.code} already has a survey open until {survey.closes_at.isoformat()};"
                  " --closes is ignored", file=sys.stderr)
        return survey
    today = now.astimezone(zone).date()
    last_day = closes or today + timedelta(days=DEFAULT_DAYS_OPEN)
    if last_day <= today:
        return None
    closes_at = datetime.combine(last_day + timedelta(days=1), time(), zone)
    survey = await surveys.open_survey(session, project.id, now, closes_at, template=STANDARD)
    await record(session, now, "cli", "survey.open", "survey", str(survey.id), project=project.code,
                 closes_at=closes_at.isoformat())
    return survey


async def _project_and_survey(session: Any, args: argparse.Namespace, now: datetime, zone: Any) -> tuple[Any, Any] | str:
    """The project ``--project`` names and the survey its invitations are for (``_open_survey``), or what is
    wrong with the arguments."""
    project = await projects.project_by_code(session, args.project)
    if project is None:
        return f"{args.project}: no such project"
    survey = await _open_survey(session, project, args.closes, now, zone)
    if survey is None:  # only a --closes that is not after today (the default is)
        return f"--closes {args.closes}: the survey must close after today"
    return project, survey


async def cmd_survey_invite(args: argparse.Namespace, settings: Settings) -> int:
    if not 1 <= args.count <= surveys.MAX_INVITATIONS:
        return _fail(f"--count must be between 1 and {surveys.MAX_INVITATIONS}")
    username = await _bot_username(settings)
    if (args.qr or args.sheet) and not username and not settings.web_url:
        return _fail(f"--qr and --sheet need links: set CIVICBOT_WEB_URL (the web chat), or {NO_USERNAME}")
    sheet = Path(args.sheet) if args.sheet else None
    if sheet is not None and sheet.suffix.lower() not in (".pdf", ".png"):
        return _fail(f"{sheet}: the sheet is written as .pdf or .png")
    if problems := _templates_ok():
        return _fail(*problems)
    zone, now = settings.zone, datetime.now(UTC)
    locale = args.lang or settings.default_locale
    app = await open_app(settings)
    try:
        async with app.sessions() as session, session.begin():
            found = await _project_and_survey(session, args, now, zone)
            if isinstance(found, str):
                return _fail(found)
            project, survey = found
            issued = await surveys.create_invitations(session, survey, args.count, now)
            await record(session, now, "cli", "survey.invite", "survey", str(survey.id), project=project.code,
                         count=args.count)
            name = i18n.name(locale, project.title_zh, project.title_en)
            last_open = surveys.last_open_day(survey.closes_at, zone)
            survey_id, code = survey.id, project.code
    finally:
        await app.close()

    # the web link (it opens in any browser) is the one printed first and put in QR codes and on cards
    links = [cards.invitation_link(settings.web_url, username, i.token) for i in issued]
    telegram = [cards.deep_link(username, i.token) if settings.web_url else None for i in issued]
    if args.json:
        print(json.dumps([{"token": i.token, "link": link, **({"telegram_link": tg} if tg else {})}
                          for i, link, tg in zip(issued, links, telegram, strict=True)]))
    else:
        for i, link, tg in zip(issued, links, telegram, strict=True):
            print("\t".join(filter(None, (link or i.token, tg))))
    if not username and not settings.web_url:
        print(f"warning: {NO_USERNAME}, so these are tokens, not links: each recipient sends /start TOKEN "
              "to the bot", file=sys.stderr)
    if args.qr:
        folder = Path(args.qr)
        folder.mkdir(parents=True, exist_ok=True)
        for i, link in zip(issued, links, strict=True):
            (folder / f"{code}-survey{survey_id}-{i.invitation_id}.png").write_bytes(cards.qr_png(link or ""))
    if sheet is not None:
        day = i18n.day(locale, last_open)
        valid = [link for link in links if link]
        if sheet.suffix.lower() == ".pdf":
            sheet.write_bytes(cards.sheet_pdf(valid, name, day, locale))
        else:
            for n, page in enumerate(cards.sheet_pngs(valid, name, day, locale), start=1):
                target = sheet if n == 1 else sheet.with_name(f"{sheet.stem}-{n}{sheet.suffix}")
                target.write_bytes(page)
    return 0


def _recipients(value: str) -> list[tuple[str, str]] | None:
    pairs = []
    for entry in filter(None, (v.strip() for v in value.split(","))):
        channel, sep, external_id = entry.partition(":")
        if not sep or not channel or not external_id:
            return None
        pairs.append((channel, external_id))
    return pairs or None


async def cmd_survey_send(args: argparse.Namespace, settings: Settings) -> int:
    recipients = _recipients(args.to)
    if recipients is None:
        return _fail(f"--to {args.to!r}: give recipients as CHANNEL:ID, separated by commas")
    if len(recipients) > surveys.MAX_INVITATIONS:
        return _fail(f"at most {surveys.MAX_INVITATIONS} recipients at a time")
    zone, now = settings.zone, datetime.now(UTC)
    username = await _bot_username(settings)
    app = await open_app(settings)
    try:
        async with app.sessions() as session, session.begin():
            found = await _project_and_survey(session, args, now, zone)
            if isinstance(found, str):
                return _fail(found)
            project, survey = found
            identities = [await ensure_identity(session, channel, external_id, now)
                          for channel, external_id in dict.fromkeys(recipients)]
            queued = await send_invitations(session, survey, project, identities, now, zone, username)
            await record(session, now, "cli", "survey.send", "survey", str(survey.id), project=project.code,
                         count=queued)
    finally:
        await app.close()
    print(f"{queued} invitations queued in the outbox for {project.code}; they go out with the next dispatch")
    return 0


async def cmd_survey_results(args: argparse.Namespace, settings: Settings) -> int:
    if problems := _templates_ok():
        return _fail(*problems)
    zone, now = settings.zone, datetime.now(UTC)
    locale = args.lang or settings.default_locale
    app = await open_app(settings)
    try:
        async with reading(app.sessions) as session:  # reads only: no write lock
            project = await projects.project_by_code(session, args.project)
            if project is None:
                return _fail(f"{args.project}: no such project")
            if args.survey is None:
                ref = await surveys.latest_survey(session, project.id, now, zone=zone)
            else:
                wanted = None if args.survey == IMPORTED else args.survey
                ref = await surveys.find_survey(session, project.id, wanted, zone)
            if ref is None:
                which = "no survey yet" if args.survey is None else f"no survey {args.survey}"
                return _fail(f"{project.code}: {which} (civicbot survey invite {project.code} --count N opens one)")
            template = get_template(ref.template) or get_template(STANDARD)
            assert template is not None
            results = await surveys.survey_results(session, ref, now, template.kinds)
            answers = await surveys.free_text(session, ref, template.free_text_items) if args.xlsx else []
            name = i18n.name(locale, project.title_zh, project.title_en)
            code = project.code
    finally:
        await app.close()

    warnings = report.warnings(results, settings.disclosure_min_responses)
    if args.json:
        print(json.dumps({"project": code, **results.as_dict(), "warnings": warnings}, ensure_ascii=False))
    else:
        print("\n".join(report.figure_lines(results, template, locale, name)))
    for line in report.warning_lines(results, settings.disclosure_min_responses, locale):
        print(line, file=sys.stderr)
    if args.xlsx:
        report.workbook(results, template, locale, name, answers).save(args.xlsx)
    if args.chart:
        Path(args.chart).write_bytes(report.chart_png(results, template, locale, name))
    return 0
