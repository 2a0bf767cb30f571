"""``civicbot review commit|draw|verify|results``: expert review committees from the command line.

``commit`` chooses the seed of the next draw and prints its SHA-256 for publication; ``draw`` draws
the committee (exclusions listed, invitations queued in the outbox); ``verify`` recomputes a draw from
its stored seed and pool; ``results`` prints the ranking (``--json``, ``--xlsx``).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from typing import Any

from bot.app import open_app
from bot.config import Settings
from dialogs import i18n
from dialogs.committee import invite_drawn, results_workbook
from dialogs.rubrics import RubricError, rubric_for
from store import review
from store.db import reading
from store.models import REVIEW_STAGES

ACTOR = "cli"


def _count(value: str) -> int:
    if not value.isdigit() or int(value) > 20:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 20, got {value!r}")
    return int(value)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {value!r}") from None


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("review", help="expert review committees (专家评审): commit, draw, verify, results")
    review_sub = p.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    stage: dict[str, Any] = {"choices": REVIEW_STAGES, "default": "approval", "help": "approval (立项, default) or acceptance (结项)"}

    com = review_sub.add_parser("commit", help="choose the next draw's seed and print its SHA-256 to publish")
    com.add_argument("call", metavar="CALL_CODE")
    com.add_argument("--stage", **stage)
    com.set_defaults(handler=cmd_review_commit)

    drw = review_sub.add_parser("draw", help="draw a committee for a call's eligible applications (or closing projects)")
    drw.add_argument("call", metavar="CALL_CODE")
    drw.add_argument("--stage", **stage)
    for field, default in review.DEFAULT_MEMBERS.items():
        drw.add_argument(f"--{field}", type=_count, default=default, metavar="N", help=f"{field} experts (default {default})")
    drw.add_argument("--reserve", type=_count, default=review.DEFAULT_RESERVES, metavar="N",
                     help=f"reserves per field (default {review.DEFAULT_RESERVES})")
    drw.add_argument("--redraw", action="store_true", help="replace the call's active committee (audited)")
    drw.add_argument("--json", action="store_true", help="machine-readable committee")
    drw.set_defaults(handler=cmd_review_draw)

    ver = review_sub.add_parser("verify", help="recompute a committee's draw from its seed and pool")
    ver.add_argument("committee", metavar="COMMITTEE")
    ver.set_defaults(handler=cmd_review_verify)

    una = review_sub.add_parser("unavailable", help="mark an expert unavailable for a period (excluded from draws)")
    una.add_argument("expert", metavar="EXPERT_CODE")
    una.add_argument("first", type=_day, metavar="FROM")
    una.add_argument("last", type=_day, metavar="TO")
    una.add_argument("--reason", default=None, help="why (kept with the period, shown to staff)")
    una.set_defaults(handler=cmd_review_unavailable)

    res = review_sub.add_parser("results", help="the ranking of a call's committee")
    res.add_argument("call", metavar="CALL_CODE")
    res.add_argument("--stage", **stage)
    res.add_argument("--json", action="store_true", help="machine-readable ranking")
    res.add_argument("--xlsx", metavar="FILE", help="write the ranking to an XLSX workbook")
    res.add_argument("--lang", choices=list(i18n.LOCALES), default=None, help="language of the workbook")
    res.set_defaults(handler=cmd_review_results)


def _fail(*lines: str) -> int:
    for line in lines:
        print(line, file=sys.stderr)
    return 1


async def cmd_review_commit(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(UTC)
    app = await open_app(settings)
    try:
        async with app.sessions() as session, session.begin():
            call = await review.call_by_code(session, args.call)
            if call is None:
                return _fail(f"{args.call}: no such call")
            committee = await review.commit_seed(session, call, args.stage, ACTOR, now)
            commitment = committee.commitment
    finally:
        await app.close()
    print(commitment)
    return 0


def _member_rows(members: list[tuple[Any, Any]]) -> list[dict[str, Any]]:
    return [{"expert": e.code, "name": e.name, "field": m.field, "position": m.position, "reserve": m.reserve,
             "state": m.state} for m, e in members]


async def cmd_review_draw(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(UTC)
    seats = {field: getattr(args, field) for field in review.DEFAULT_MEMBERS}
    app = await open_app(settings)
    try:
        async with app.sessions() as session, session.begin():
            call = await review.call_by_code(session, args.call)
            if call is None:
                return _fail(f"{args.call}: no such call")
            try:
                drawn = await review.draw_committee(
                    session, call, args.stage, ACTOR, now, now.astimezone(settings.zone).date(), members=seats,
                    reserves=args.reserve, redraw=args.redraw)
            except review.ReviewError as exc:
                hint = " (use --redraw to replace it)" if exc.code == "active" and exc.params.get("state") == "active" else ""
                return _fail(f"{exc}{hint}")
            queued = await invite_drawn(session, drawn.committee, now, settings.review_answer_hours)
            members = await review.committee_members(session, drawn.committee.id)
            out = {"committee": drawn.committee.code, "call": call.code, "stage": args.stage,
                   "commitment": drawn.committee.commitment, "seed": drawn.committee.seed,
                   "algorithm": drawn.committee.algorithm, "subjects": drawn.subjects, "invitations": queued,
                   "members": _member_rows(members),
                   "excluded": [{"expert": e.code, "reason": reason, "detail": detail}
                                for e, reason, detail in drawn.excluded]}
    finally:
        await app.close()
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
        return 0
    print(f"{out['committee']}: {out['subjects']} to review, seed {out['seed']} (SHA-256 {out['commitment']})")
    for row in out["members"]:
        role = "reserve" if row["reserve"] else "member"
        print(f"  {row['field']:<10} {role:<7} {row['expert']:<12} {row['name']}")
    for row in out["excluded"]:
        print(f"  excluded   {row['expert']:<12} {row['reason']}" + (f" ({row['detail']})" if row["detail"] else ""))
    print(f"{queued} invitations queued in the outbox")
    return 0


async def cmd_review_unavailable(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(UTC)
    app = await open_app(settings)
    try:
        async with app.sessions() as session, session.begin():
            expert = await review.expert_by_code(session, args.expert)
            if expert is None:
                return _fail(f"{args.expert}: no such expert")
            try:
                await review.mark_unavailable(session, expert, args.first, args.last, args.reason, ACTOR, now)
            except review.ReviewError as exc:
                return _fail(f"{args.first}..{args.last}: {exc}")
    finally:
        await app.close()
    print(f"{args.expert} is unavailable from {args.first} to {args.last}: not drawn in that period")
    return 0


async def cmd_review_verify(args: argparse.Namespace, settings: Settings) -> int:
    app = await open_app(settings)
    try:
        async with reading(app.sessions) as session:  # reads only: no write lock
            committee = await review.committee_by_code(session, args.committee)
            if committee is None:
                return _fail(f"{args.committee}: no such committee")
            verdict = await review.verify(session, committee)
    finally:
        await app.close()
    if not verdict.ok:
        return _fail(f"{args.committee}: the stored committee does NOT match its draw", *verdict.problems)
    print(f"{args.committee}: confirmed — the seed (SHA-256 {committee.commitment}) and the pool of "
          f"{len(committee.pool.get('experts', []))} experts draw exactly the stored committee ({committee.algorithm})")
    return 0


def result_dict(row: review.ResultRow) -> dict[str, Any]:
    return {"application": row.subject_ref, "organization": row.organization,
            "requested_cny": None if row.requested_fen is None else row.requested_fen / 100,
            "expert_score": row.expert_score, "previous_score": row.previous_score,
            "ranking_score": row.ranking_score, "rank": row.rank, "scores": row.scores,
            "criteria": {code: round(float(mean), 2) for code, mean in row.criteria.items()}}


async def cmd_review_results(args: argparse.Namespace, settings: Settings) -> int:
    try:
        rubric = rubric_for(args.stage)
    except RubricError as exc:
        return _fail(*exc.problems)
    app = await open_app(settings)
    try:
        async with reading(app.sessions) as session:  # reads only: no write lock
            call = await review.call_by_code(session, args.call)
            if call is None:
                return _fail(f"{args.call}: no such call")
            committee = await review.current_committee(session, call.id, args.stage)
            if committee is None:
                return _fail(f"{args.call}: no {args.stage} committee drawn yet (civicbot review draw {args.call})")
            ranked = await review.results(session, committee, settings.review_weight)
    finally:
        await app.close()
    rows = [result_dict(r) for r in ranked]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        for r in rows:
            rank = r["rank"] if r["rank"] is not None else "-"
            print(f"{rank!s:>4} {r['application']:<16} {r['ranking_score'] if r['ranking_score'] is not None else '-':>7} "
                  f"expert {r['expert_score'] if r['expert_score'] is not None else '-'} "
                  f"previous {r['previous_score'] if r['previous_score'] is not None else '-'} "
                  f"({r['scores']} scores) {r['organization']}")
    if args.xlsx:
        results_workbook(ranked, rubric, args.lang or settings.default_locale).save(args.xlsx)
    return 0
