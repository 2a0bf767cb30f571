"""Binding a chat identity to an organization, a department or an expert with a single-use code."""

from __future__ import annotations

from sqlalchemy import select

from dialogs.context import Context, Parse
from dialogs.flow import Flow, button_data, split_button
from dialogs.listing import localized
from dialogs.types import Button, Incoming
from store.invites import BINDING_PREFIX, bind, find_invite
from store.models import Department, Expert, Invite, Organization


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
    legacy_buttons = True  # TRANSITIONAL
    name = "bind"
    start_prefix = BINDING_PREFIX

    async def start(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> None:
        lookup = await find_invite(ctx.session, payload or "", ctx.now)
        if lookup.invite is None or lookup.problem is not None:
            ctx.tell(f"bind.problem_{lookup.problem or 'unknown'}")
            ctx.state.clear()
            return
        invite = lookup.invite
        new_name = await binding_name(ctx, invite.role, invite.ref)
        existing = await current_binding(ctx)
        if existing is not None and existing != (invite.role, invite.ref):
            old_name = await binding_name(ctx, *existing)
            ctx.state.reset("confirm")
            ctx.state.invite = invite.id
            ctx.tell(
                "bind.confirm_replace", old=old_name, new=new_name,
                buttons=[[
                    Button(ctx.t("bind.replace"), button_data(self.name, "confirm", "yes")),
                    Button(ctx.t("bind.keep"), button_data(self.name, "confirm", "no")),
                ]],
            )
            return
        await self._bind(ctx, invite, new_name)

    async def _bind(self, ctx: Context, invite: Invite, name: str) -> None:
        await bind(ctx.session, ctx.identity, invite, ctx.now)
        ctx.state.clear()
        ctx.tell(f"bind.done_{invite.role}", name=name)

    async def handle(self, ctx: Context, msg: Incoming) -> None:
        if msg.button is None:
            await self.reprompt(ctx)
            return
        _, step, value = split_button(msg.button)
        invite = await ctx.get(Invite, ctx.state.invite or 0)
        if step != "confirm" or invite is None:
            ctx.tell("common.stale_button")
            ctx.state.clear()
            return
        if value != "yes":
            ctx.state.clear()
            ctx.tell("bind.kept")
            return
        if invite.used_at or invite.revoked_at or invite.expires_at <= ctx.now:
            ctx.state.clear()
            ctx.tell("bind.problem_expired")
            return
        await self._bind(ctx, invite, await binding_name(ctx, invite.role, invite.ref))

    async def reprompt(self, ctx: Context) -> None:
        invite = await ctx.get(Invite, ctx.state.invite or 0)
        if invite is None:
            ctx.state.clear()
            return
        ctx.tell(
            "bind.confirm_again",
            buttons=[[
                Button(ctx.t("bind.replace"), button_data(self.name, "confirm", "yes")),
                Button(ctx.t("bind.keep"), button_data(self.name, "confirm", "no")),
            ]],
        )
