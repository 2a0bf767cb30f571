"""Expert review committees (专家评审), one module per job: ``draw`` (the verifiable draw and its
verification), ``invitations`` (members, reserves), ``sheets`` (scoring), ``results`` (ranking, grades,
publication), ``pool`` (experts' conflicts and unavailability); ``base`` holds what they share.

This package's names are the review's public API: callers use ``store.review.X``.
"""

from __future__ import annotations

from store.lifecycle import grade_of
from store.review.base import (
    BLOCKING,
    ENTITY,
    ReviewError,
    call_by_code,
    call_departments,
    committee_by_code,
    current_committee,
)
from store.review.draw import (
    ALGORITHM,
    DEFAULT_MEMBERS,
    DEFAULT_RESERVES,
    Draw,
    DrawResult,
    Verification,
    commit_seed,
    commitment_of,
    draw_committee,
    draw_from,
    exclusions,
    new_seed,
    verify,
)
from store.review.invitations import (
    answer_invitation,
    committee_exclusions,
    committee_members,
    expert_identities,
    expert_memberships,
    expire_invitations,
    member_of,
    unfinished_members,
)
from store.review.pool import (
    declare_standing_conflict,
    expert_by_code,
    find_organizations,
    mark_unavailable,
)
from store.review.results import (
    TRIM_FROM,
    PublishedReview,
    ResultRow,
    expert_score,
    publish,
    published_reviews,
    rank_rows,
    results,
)
from store.review.sheets import (
    Assignment,
    assignments,
    declare_conflict,
    score,
    set_comment,
    sheet_scores,
    submit,
)

__all__ = [
    "ALGORITHM",
    "BLOCKING",
    "DEFAULT_MEMBERS",
    "DEFAULT_RESERVES",
    "ENTITY",
    "TRIM_FROM",
    "Assignment",
    "Draw",
    "DrawResult",
    "PublishedReview",
    "ResultRow",
    "ReviewError",
    "Verification",
    "answer_invitation",
    "assignments",
    "call_by_code",
    "call_departments",
    "commit_seed",
    "commitment_of",
    "committee_by_code",
    "committee_exclusions",
    "committee_members",
    "current_committee",
    "declare_conflict",
    "declare_standing_conflict",
    "draw_committee",
    "draw_from",
    "exclusions",
    "expert_by_code",
    "expert_identities",
    "expert_memberships",
    "expert_score",
    "expire_invitations",
    "find_organizations",
    "grade_of",
    "mark_unavailable",
    "member_of",
    "new_seed",
    "publish",
    "published_reviews",
    "rank_rows",
    "results",
    "score",
    "set_comment",
    "sheet_scores",
    "submit",
    "unfinished_members",
    "verify",
]
