"""Rules across rows, checked once every file is read: a project's disbursements, package and database together."""

from __future__ import annotations

from store.importing.errors import show_value
from store.importing.loader import Run, chunks


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


async def check_disbursements(run: Run, ranks: dict[str, int]) -> None:
    """Installments 1..n without gaps and a total within the approved amount, for every project touched.

    A project is touched when the package carries its disbursements or its approved amount. Stored
    disbursements count too, overridden by the package's rows of the same installment.
    """
    package, amounts, db = run.disbursements, run.project_amounts, run.db
    db_has_rows = not run.empty["disbursements"]
    codes = set(package)
    if db_has_rows:
        codes.update(amounts)
    if not codes:
        return
    stored: dict[str, dict[int, int]] = {}
    if db_has_rows:
        for chunk in chunks(sorted(codes)):
            where, params = db.in_list("p.code", chunk)
            for code, installment, fen in await db.fetch(
                "SELECT p.code, d.installment, d.amount_fen FROM disbursements d"
                f" JOIN projects p ON p.id = d.project_id WHERE {where}", params,
            ):
                stored.setdefault(code, {})[installment] = fen
    approved = {code: fen for code, (fen, _, _) in amounts.items()}
    for chunk in chunks(sorted(c for c in package if c not in approved)):
        where, params = db.in_list("code", chunk)
        approved.update(await db.fetch(f"SELECT code, amount_fen FROM projects WHERE {where}", params))
    for code in sorted(codes):
        if code in approved:  # otherwise the project is missing, which is reported already
            _check_project(run, ranks, code, stored.get(code, {}), package.get(code, []), approved[code])


def _check_project(
    run: Run, ranks: dict[str, int], code: str, stored: dict[int, int], rows: list[tuple[int, int, int, object]],
    approved: int,
) -> None:
    label = run.labels.get("disbursements", "")
    # installment -> (fen, line in the package or 0 for a stored row, cell)
    combined: dict[int, tuple[int, int, object]] = {n: (fen, 0, None) for n, fen in stored.items()}
    for installment, fen, line, cell in rows:
        combined[installment] = (fen, line, cell)
    if not combined:
        return
    numbers = sorted(combined)
    missing = next((n for n in range(1, numbers[-1] + 1) if n not in combined), None)
    if missing is not None and rows:
        # name the first row of the package after the gap
        later = sorted((n, line) for n, (_, line, _) in combined.items() if line and n > missing)
        n, line = later[0] if later else (rows[0][0], rows[0][2])
        run.add_error(ranks["disbursements"], label, line, "installment", str(n),
                      f"installments must be numbered 1, 2, … without gaps (missing {missing})", 1)
    total = sum(fen for fen, _, _ in combined.values())
    if total <= approved:
        return
    reason = f"disbursements total {_yuan(total)} exceeds the approved amount {_yuan(approved)}"
    running, crossing = 0, numbers[-1]
    for n in numbers:
        running += combined[n][0]
        if running > approved:
            crossing = n
            break
    _, line, cell = combined[crossing]
    own = run.project_amounts.get(code)
    if line:
        run.add_error(ranks["disbursements"], label, line, "amount_cny", show_value(cell), reason, 2)
    elif own is not None:
        # stored payments alone exceed it: the package lowered the approved amount
        run.add_error(ranks["projects"], run.labels["projects"], own[1], "amount_cny", show_value(own[2]), reason, 1)
    else:
        _, _, line, cell = rows[0]
        run.add_error(ranks["disbursements"], label, line, "amount_cny", show_value(cell), reason, 2)
