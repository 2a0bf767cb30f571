"""``civicbot review``: commit before the draw, draw with exclusions, verify (and refute a tampered draw), results."""

from __future__ import annotations

import asyncio
import hashlib
import json

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from bot.cli import main
from store import models as m
from store import review
from store.db import create_engine, sessionmaker
from testing.factories import build_review_world


def _run(url: str, work) -> object:  # type: ignore[no-untyped-def]
    async def go() -> object:
        engine = create_engine(url)
        try:
            async with sessionmaker(engine)() as s, s.begin():
                return await work(s)
        finally:
            await engine.dispose()
    return asyncio.run(go())


@pytest.fixture
def db(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CIVICBOT_DATABASE_URL", sqlite_url)

    async def seed(s):  # type: ignore[no-untyped-def]
        rw = await build_review_world(s)
        rw.world.project.year = rw.world.call.year - 1
        rw.world.project.evaluation_score = 90

    _run(sqlite_url, seed)
    return sqlite_url


def test_commit_draw_verify_results_and_refute_tampering(db, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    call = "CALL-2027-01"
    assert main(["review", "commit", call]) == 0
    commitment = capsys.readouterr().out.strip()
    assert main(["review", "draw", call, "--law", "3"]) == 1
    assert "law" in capsys.readouterr().err
    assert main(["review", "draw", call, "--json"]) == 0
    drawn = json.loads(capsys.readouterr().out)
    assert drawn["commitment"] == commitment == hashlib.sha256(drawn["seed"].encode()).hexdigest()
    assert {"expert": "B4", "reason": "affiliated", "detail": "阳光社工服务中心"} in drawn["excluded"]
    assert "B4" not in {row["expert"] for row in drawn["members"]} and drawn["invitations"] == 5
    assert main(["review", "draw", call]) == 1
    assert "--redraw" in capsys.readouterr().err
    assert main(["review", "verify", drawn["committee"]]) == 0
    assert "confirmed" in capsys.readouterr().out

    async def score_everything(s):  # type: ignore[no-untyped-def]
        committee = await review.committee_by_code(s, drawn["committee"])
        for n, (member, _) in enumerate(await review.committee_members(s, committee.id)):
            if member.state != "invited":
                continue
            await review.answer_invitation(s, member, True, None, "t", committee.created_at)
            for a in await review.assignments(s, member):
                await review.score(s, member, a.subject.id, "need", 70 + n + a.subject.id % 3, committee.created_at)
            await review.submit(s, member, ["need"], "t", committee.created_at)

    _run(db, score_everything)
    assert main(["review", "results", call, "--json", "--xlsx", str(tmp_path / "r.xlsx")]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert set(rows[0]) == {"application", "organization", "requested_cny", "expert_score", "previous_score",
                            "ranking_score", "rank", "scores", "criteria"}
    assert [r["rank"] for r in rows] == [1, 2, 3] and all(r["scores"] == 5 for r in rows)
    org1 = [r for r in rows if r["organization"] == "阳光社工服务中心"]
    assert all(r["previous_score"] == 90 and r["ranking_score"] == round(0.8 * r["expert_score"] + 18, 2) for r in org1)
    sheet = load_workbook(tmp_path / "r.xlsx").active
    assert sheet.max_row == 4 and sheet.cell(2, 2).value == rows[0]["application"]

    async def tamper(s):  # type: ignore[no-untyped-def]
        committee = await review.committee_by_code(s, drawn["committee"])
        b4 = (await s.execute(select(m.Expert.id).where(m.Expert.code == "B4"))).scalar_one()
        member = (await review.committee_members(s, committee.id))[0][0]
        await s.execute(update(m.ReviewMember).where(m.ReviewMember.id == member.id).values(expert_id=b4))

    _run(db, tamper)
    assert main(["review", "verify", drawn["committee"]]) == 1
    assert "does NOT match" in capsys.readouterr().err
    assert main(["review", "verify", "NOPE"]) == 1 and "no such committee" in capsys.readouterr().err
    assert main(["review", "results", "NOPE"]) == 1 and "no such call" in capsys.readouterr().err


def test_unavailable_expert_is_excluded_and_too_few_names_the_field(db, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["review", "unavailable", "L1", "2026-12-10", "2026-12-01"]) == 1
    assert "ends before it starts" in capsys.readouterr().err
    assert main(["review", "unavailable", "NOPE", "2026-01-01", "2027-12-31"]) == 1
    assert main(["review", "unavailable", "L1", "2020-01-01", "2099-12-31", "--reason", "出国"]) == 0
    assert main(["review", "unavailable", "L2", "2020-01-01", "2099-12-31"]) == 0
    capsys.readouterr()
    assert main(["review", "draw", "CALL-2027-01"]) == 1
    err = capsys.readouterr().err
    assert "law" in err and "0 left" in err
    assert main(["review", "draw", "CALL-2027-01", "--law", "0", "--json"]) == 0
    excluded = {row["expert"]: row["reason"] for row in json.loads(capsys.readouterr().out)["excluded"]}
    assert excluded == {"B4": "affiliated", "L1": "unavailable", "L2": "unavailable"}
