"""The allowed moves of applications and projects, as one explicit table each."""

from __future__ import annotations

from typing import Protocol

APPLICATION_MOVES: dict[str, tuple[str, ...]] = {
    "draft": ("submitted", "withdrawn"),
    "submitted": ("eligible", "eligibility_failed", "withdrawn"),
    "eligible": ("under_review", "withdrawn"),
    "eligibility_failed": (),
    "under_review": ("approved", "rejected", "withdrawn"),
    "approved": (),
    "rejected": (),
    "withdrawn": (),
}

PROJECT_MOVES: dict[str, tuple[str, ...]] = {
    "publicized": ("contracted", "terminated"),
    "contracted": ("in_progress", "terminated"),
    "in_progress": ("midterm_passed", "terminated"),
    "midterm_passed": ("closing", "terminated"),
    "closing": ("closed", "terminated"),
    "closed": (),
    "terminated": (),
}


class IllegalTransition(ValueError):
    """A status change the lifecycle does not allow; names the current and the allowed states."""

    def __init__(self, entity: str, current: str, target: str, allowed: tuple[str, ...]) -> None:
        self.entity = entity
        self.current = current
        self.target = target
        self.allowed = allowed
        allowed_text = ", ".join(allowed) if allowed else "none (final state)"
        super().__init__(f"{entity} cannot move from '{current}' to '{target}'; allowed from '{current}': {allowed_text}")


class _HasStatus(Protocol):
    status: str


def check_move(table: dict[str, tuple[str, ...]], entity: str, current: str, target: str) -> None:
    allowed = table.get(current)
    if allowed is None:
        raise IllegalTransition(entity, current, target, ())
    if target not in allowed:
        raise IllegalTransition(entity, current, target, allowed)


def move_application(application: _HasStatus, target: str) -> None:
    check_move(APPLICATION_MOVES, "application", application.status, target)
    application.status = target


def move_project(project: _HasStatus, target: str) -> None:
    check_move(PROJECT_MOVES, "project", project.status, target)
    project.status = target


def grade_of(score: float) -> str:
    """The grade a performance score earns (domain.md): 优秀 ≥ 90, 良好 80–89, 合格 60–79, 不合格 < 60."""
    if score >= 90:
        return "excellent"
    if score >= 80:
        return "good"
    return "pass" if score >= 60 else "fail"
