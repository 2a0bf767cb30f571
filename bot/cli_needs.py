"""``civicbot needs report``: residents' service needs by category × district, as text, JSON or XLSX."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bot.app import open_app
from bot.config import Settings
from dialogs.needs_export import UNSPECIFIED, Labels, report_data, workbook
from store import needs, public
from store.db import reading

LATEST = 10


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {value!r}") from None


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("needs", help="residents' service needs (需求征集)")
    needs_sub = p.add_subparsers(dest="needs_command", required=True, metavar="ACTION")
    r = needs_sub.add_parser(
        "report", help="needs by category × district; with --since, the change against the previous period",
        description="Without --since every need filed so far is counted and there is no previous period to "
                    "compare with; with it, the period since..until is compared with the one of the same "
                    "length just before it.",
    )
    r.add_argument("--since", type=_day, metavar="DATE", help="first local day counted (YYYY-MM-DD)")
    r.add_argument("--until", type=_day, metavar="DATE", help="last local day counted (default: today)")
    r.add_argument("--json", action="store_true", help="machine-readable output")
    r.add_argument("--xlsx", metavar="FILE", help="also write the report and every need of the period to FILE")
    r.set_defaults(handler=cmd_needs_report)


async def cmd_needs_report(args: argparse.Namespace, settings: Settings) -> int:
    zone = settings.zone
    until = args.until or datetime.now(UTC).astimezone(zone).date()
    app = await open_app(settings)
    try:
        async with reading(app.sessions) as session:  # reads only: no write lock
            since = args.since or await needs.first_need_day(session, zone) or until
            period = needs.Period(min(since, until), until)
            report = await needs.needs_report(session, period, zone, compare=args.since is not None)
            latest, _ = await needs.latest_needs(session, 0, LATEST)
            classes = await needs.catalog_classes(session)
            districts = await public.district_english_names(session)
            rows = await needs.needs_in_period(session, period, zone) if args.xlsx else []
    finally:
        await app.close()
    if args.xlsx:
        Path(args.xlsx).write_bytes(workbook(report, rows, Labels(settings.default_locale, classes, districts), zone))
    data = report_data(report, zone, latest)
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
        return 0
    _print_text(data)
    return 0


def _print_text(data: dict[str, Any]) -> None:
    print(f"needs {data['since']} .. {data['until']} ({data['days']} days): {data['total']}")
    trend = data["trend"]
    if trend is not None:
        previous = data["previous"]
        print(f"previous {previous['since']} .. {previous['until']}: {previous['total']} (change {trend['total']:+d})")
    for category, count in data["by_category"].items():
        change = f" ({trend['by_category'][category]:+d})" if trend is not None else ""
        print(f"  {category}: {count}{change}")
    for cell in data["matrix"]:
        print(f"    {cell['category']} × {cell['district'] or UNSPECIFIED}: {cell['count']}")
