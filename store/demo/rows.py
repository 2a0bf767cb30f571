"""The rows the demo's projects produce, file by file: USCCs, milestones, tranches, progress, inspections
and survey answers."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import date, timedelta

from store.demo.city import DISTRICTS, INTERNAL_NOTES, PROGRESS_TEXTS, SUGGESTIONS, Org
from store.demo.format import MILESTONE_KINDS, SATISFACTION_ITEMS, fmt_datetime, fmt_money
from store.demo.plan import PlannedProject
from store.uscc import ALPHABET, make_uscc

_PREFIX_BY_KIND = {
    "social_group": "51", "social_service_org": "52", "foundation": "53",
    "enterprise": "91", "public_institution": "12", "other": "N2",  # N2: village collective economy
}


def uscc_for(org: Org, rng: random.Random) -> str:
    division = DISTRICTS[org.district][1]
    if org.kind in ("social_service_org", "social_group", "foundation"):
        body = "MJ" + "".join(rng.choice(ALPHABET) for _ in range(6))
    elif org.kind == "enterprise":
        body = "MA" + "".join(rng.choice(ALPHABET) for _ in range(6))
    else:
        body = "".join(rng.choice("0123456789") for _ in range(8))
    return make_uscc(_PREFIX_BY_KIND[org.kind], division, body)


def milestone_rows(p: PlannedProject) -> Iterable[dict[str, object]]:
    kinds = MILESTONE_KINDS[: len(p.done)] if p.status == "terminated" else MILESTONE_KINDS
    for i, kind in enumerate(kinds):
        done = p.done[i] if i < len(p.done) else None
        yield {
            "project_code": p.code, "kind": kind, "due_at": fmt_datetime(p.due[i], 17),
            "done_at": fmt_datetime(done, 10, 30) if done else "",
        }


def disbursement_rows(p: PlannedProject, today: date) -> Iterable[dict[str, object]]:
    # Tranche 1 after the contract; with 50/30/20 the 2nd follows a passed mid-term inspection;
    # the last follows final acceptance and is withheld when the evaluation fails.
    triggers = [(0, 5), (2, 7), (4, 10)] if len(p.tranches) == 3 else [(0, 5), (4, 10)]
    if p.scenario in ("rectify", "terminated"):
        triggers = triggers[:1]
    if p.score is not None and p.score < 60:
        triggers = triggers[:-1]
    for installment, (share, (milestone, delay)) in enumerate(zip(p.tranches, triggers, strict=False), 1):
        if milestone >= len(p.done):
            return
        paid = p.done[milestone] + timedelta(days=delay)
        if paid >= today:
            return
        yield {
            "project_code": p.code, "installment": installment,
            "amount_cny": fmt_money(p.amount_yuan * share), "paid_on": paid.isoformat(),
        }


def progress_rows(p: PlannedProject, today: date, rng: random.Random) -> Iterable[dict[str, object]]:
    if p.status in ("publicized", "contracted"):
        return
    last = min(p.end, today - timedelta(days=1))
    span = (last - p.start).days
    if span < 20:
        return
    count = 1 + min(2, span // 90)
    days = sorted(rng.sample(range(15, span + 1), count))
    for i, offset in enumerate(days):
        if i == count - 1 and count > 1:
            text_zh, text_en = rng.choice(INTERNAL_NOTES)
            public = 0
        else:
            zh, en = PROGRESS_TEXTS[p.item.prefix][i % 2]
            n, m = rng.randint(40, 400), rng.randint(2, 12)
            text_zh, text_en, public = zh.format(n=n, m=m), en.format(n=n, m=m), 1
        yield {
            "project_code": p.code, "reported_on": (p.start + timedelta(days=offset)).isoformat(),
            "text_zh": text_zh, "text_en": text_en, "public": public,
        }


def inspection_rows(p: PlannedProject, today: date, rng: random.Random) -> Iterable[dict[str, object]]:
    if p.scenario == "rectify":
        yield {
            "project_code": p.code, "kind": "midterm", "held_on": (today - timedelta(days=12)).isoformat(),
            "score": rng.randint(62, 69), "result": "rectify",
            "summary_zh": "服务台账不完整，个案记录缺失，限期一个月整改。",
            "summary_en": "Service ledger incomplete and case notes missing; to be rectified within a month.",
        }
    if len(p.done) >= 3:
        failed = p.status == "terminated"
        yield {
            "project_code": p.code, "kind": "midterm", "held_on": p.done[2].isoformat(),
            "score": rng.randint(42, 55) if failed else rng.randint(75, 95),
            "result": "fail" if failed else "pass",
            "summary_zh": "服务量严重不足，资金使用不规范，建议终止项目。" if failed
            else "服务按计划推进，台账规范，同意拨付下一期资金。",
            "summary_en": "Far too little service delivered and irregular spending; termination recommended."
            if failed else "Services on schedule and ledger in order; next tranche approved.",
        }
    if len(p.done) >= 5:
        yield {
            "project_code": p.code, "kind": "final", "held_on": p.done[4].isoformat(),
            "score": rng.randint(70, 96), "result": "pass",
            "summary_zh": "完成合同约定服务指标，资料齐全，同意结项。",
            "summary_en": "Contracted outputs delivered and records complete; project accepted.",
        }
    if p.score is not None:
        passed = p.score >= 60
        yield {
            "project_code": p.code, "kind": "evaluation", "held_on": p.done[5].isoformat(),
            "score": p.score, "result": "pass" if passed else "fail",
            "summary_zh": "第三方评估：目标达成，服务对象满意度高。" if passed
            else "第三方评估：主要绩效目标未达成。",
            "summary_en": "Third-party evaluation: objectives met, recipients highly satisfied." if passed
            else "Third-party evaluation: main performance targets not met.",
        }


def _age_group(prefix: str, rng: random.Random) -> str:
    if prefix == "YL":
        return rng.choice(("60_79", "60_79", "80_plus"))
    if prefix == "QS":
        return rng.choice(("under_18", "under_18", "18_59"))
    return rng.choice(("18_59", "18_59", "60_79", "under_18"))


def survey_rows(p: PlannedProject, today: date, rng: random.Random) -> Iterable[dict[str, object]]:
    assert p.score is not None
    # Better-graded projects get happier answers.
    weights = {5: p.score - 40, 4: 30, 3: 10, 2: max(2, 70 - p.score), 1: max(1, 60 - p.score)}
    for n in range(1, rng.randint(6, 12) + 1):
        response_id = f"{p.code}-S{n:02d}"
        submitted = min(p.end + timedelta(days=rng.randint(-20, 15)), today - timedelta(days=1))
        overall = rng.choices(list(weights), list(weights.values()))[0]
        answers: list[tuple[str, object]] = [
            (item, min(5, max(1, overall + rng.choice((-1, 0, 0, 0, 1))))) for item in SATISFACTION_ITEMS[:-1]
        ]
        if n != 3:  # one paper form came back without the overall question answered
            answers.append(("overall", overall))
        answers.append(("recommend", min(10, max(0, overall * 2 + rng.randint(-2, 1)))))
        answers.append(("age_group", _age_group(p.item.prefix, rng)))
        answers.append(("sessions", rng.randint(1, 20)))
        if rng.random() < 0.4:
            answers.append(("suggestion", rng.choice(SUGGESTIONS)))
        if n != 3 and overall <= 2:
            answers.append(("what_went_wrong", "活动经常临时取消。"))
        for item, value in answers:
            yield {
                "response_id": response_id, "project_code": p.code,
                "submitted_on": submitted.isoformat(), "item": item, "value": value,
            }
