"""Binding a chat identity to an organization, a department or an expert with a single-use code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select

from dialogs.buttons import Payload, Stale, on
from dialogs.context import Context, Parse
from dialogs.flow import Flow
from dialogs.listing import localized
from store.invites import BINDING_PREFIX, bind, find_invite, invite_problem
from store.models import Department, Expert, Invite, Organization


@dataclass(frozen=True)
class Confirm(Payload, action="confirm", steps=("confirm",)):
    """The answer to "replace your current binding with this one?"."""

    answer: Literal["yes", "no"]


async def binding_name(ctx: Context, role: str, ref: str) -> str:
    """What a binding is called for the person: the organization's or department's name."""
    if role == "org":
        row = (await ctx.session.execute(select(Organization.name_zh, Organization.name_en).where(Organization.uscc == ref))).first()
    elif role == "staff":
        row = (await ctx.session.execute(select(Department.name_zh, Department.name_en).where(Department.code == ref))).first()
    else:
        name = await ctx.session.scalar(select(Expert.name).where(Expert.code == ref))
        return name or ref  # a person's name, as the package writes it
    if row is None:
        return ref
    return localized(ctx, row[0], row[1]) or ref


async def current_binding(ctx: Context) -> tuple[str, str] | None:
    identity = ctx.identity
    if identity.role == "org" and identity.organization_id:
        uscc = await ctx.session.scalar(select(Organization.uscc).where(Organization.id == identity.organization_id))
        return "org", uscc or ""
    if identity.role == "staff" and identity.department_id:
        code = await ctx.session.scalar(select(Department.code).where(Department.id == identity.department_id))
        return "staff", code or ""
    if identity.role == "expert" and identity.expert_id:
        code = await ctx.session.scalar(select(Expert.code).where(Expert.id == identity.expert_id))
        return "expert", code or ""
    return None


class BindingFlow(Flow):
    name = "bind"
    start_prefix = BINDING_PREFIX
    use_buttons_key = "bind.confirm_again"

    async def start(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> None:
        lookup = await find_invite(ctx.session, payload or "", ctx.now)
        if lookup.invite is None or lookup.problem is not None:
            ctx.tell(f"bind.problem_{lookup.problem or 'unknown'}")
            ctx.state.clear()
            return
        invite = lookup.invite
        existing = await current_binding(ctx)
        if existing is not None and existing != (invite.role, invite.ref):
            await self._ask_replace(ctx, invite, existing)
            return
        await self._bind(ctx, invite)

    async def _ask_replace(self, ctx: Context, invite: Invite, existing: tuple[str, str]) -> None:
        ctx.state.reset("confirm")
        ctx.state.invite = invite.id
        ctx.tell(
            "bind.confirm_replace", old=await binding_name(ctx, *existing),
            new=await binding_name(ctx, invite.role, invite.ref),
            buttons=[[
                self.button(ctx.t("bind.replace"), Confirm("yes")),
                self.button(ctx.t("bind.keep"), Confirm("no")),
            ]],
        )

    async def _bind(self, ctx: Context, invite: Invite) -> None:
        name = await binding_name(ctx, invite.role, invite.ref)
        await bind(ctx.session, ctx.identity, invite, ctx.now)
        ctx.state.clear()
        ctx.tell(f"bind.done_{invite.role}", name=name)

    @on(Confirm)
    async def confirm(self, ctx: Context, press: Confirm) -> None:
        invite = await ctx.get(Invite, ctx.state.invite or 0)
        if invite is None:
            raise Stale(press)
        ctx.state.clear()
        if press.answer == "no":
            ctx.tell("bind.kept")
        elif (problem := invite_problem(invite, ctx.now)) is not None:  # used, revoked or expired since it was asked
            ctx.tell(f"bind.problem_{problem}")
        else:
            await self._bind(ctx, invite)

    async def reprompt(self, ctx: Context) -> None:
        invite = await ctx.get(Invite, ctx.state.invite or 0)
        existing = await current_binding(ctx)
        if invite is None or existing is None:
            ctx.state.clear()  # nothing left to confirm
            return
        await self._ask_replace(ctx, invite, existing)
