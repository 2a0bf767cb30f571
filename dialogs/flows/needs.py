"""Suggest a service need (需求征集): category, district, who needs it, a description, an optional photo,
and contact details only with explicit consent. Anonymous unless the resident says yes."""

from __future__ import annotations

from typing import Any

from dialogs import voice
from dialogs.context import Context, Parse
from dialogs.fields import CHOICE, LONG_TEXT, MEDIA, TEXT, YES_NO, Choice, Field, Problem, Values
from dialogs.forms import Form
from dialogs.listing import district as district_label
from dialogs.listing import localized
from dialogs.types import Incoming
from nlu.normalize import fold
from store import needs

TARGET_GROUPS = ("elderly", "children_youth", "disability", "families", "everyone", "other")
OTHER = needs.OTHER_CATEGORY  # the category, or the district, that is not in the list
DESCRIPTION_MAX = 500


async def _categories(ctx: Context, values: Values) -> list[Choice]:
    classes = await needs.catalog_classes(ctx.session)
    return [Choice(zh, localized(ctx, zh, en)) for zh, en in classes] + [Choice(OTHER, ctx.t("need.category_other"))]


async def _districts(ctx: Context, values: Values) -> list[Choice]:
    names = await needs.known_districts(ctx.session)
    return [Choice(name, await district_label(ctx, name)) for name in names] + [Choice(OTHER, ctx.t("need.district_other"))]


async def _groups(ctx: Context, values: Values) -> list[Choice]:
    return [Choice(group, ctx.t(f"need.group.{group}")) for group in TARGET_GROUPS]


def _entity(parse: dict[str, Any] | None, name: str) -> str | None:
    for entity in (parse or {}).get("entities") or []:
        if entity.get("entity") == name and isinstance(value := entity.get("value"), str):
            return value
    return None


class NeedFlow(Form):
    name = "need"
    commands = ("need",)
    intents = ("submit_demand",)
    menu_key = "need.menu"
    menu_order = 50

    fields = (
        Field("category", CHOICE, "need.ask.category", "need.label.category", choices=_categories),
        Field("district", CHOICE, "need.ask.district", "need.label.district", choices=_districts),
        Field("target_group", CHOICE, "need.ask.target_group", "need.label.target_group", choices=_groups),
        Field("description", LONG_TEXT, "need.ask.description", "need.label.description", max_len=DESCRIPTION_MAX,
              minimum=5, example="need.example.description"),
        Field("photo", MEDIA, "need.ask.photo", "need.label.photo", required=False),
        Field("consent", YES_NO, "need.ask.consent", "need.label.consent"),
        Field("contact", TEXT, "need.ask.contact", "need.label.contact", required=False, max_len=voice.CONTACT_MAX,
              check=voice.check_contact, skip_if=lambda values: not values.get("consent"),
              example="voice.example.contact"),
    )

    async def begin(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> bool:
        if not await voice.may_start(ctx):
            return False
        ctx.tell("need.intro")
        await self._prefill(ctx, parse)
        return True

    async def _prefill(self, ctx: Context, parse: Parse | None) -> None:
        """Take the district and category named in the sentence that opened the form, when they are known."""
        values = self.values(ctx)
        district = _entity(parse, "district")
        if district and district in await needs.known_districts(ctx.session):
            values["district"] = district
        category = _entity(parse, "category")
        if category:
            key = fold(category)
            for zh, en in await needs.catalog_classes(ctx.session):
                if key in (fold(zh), fold(en or "")):
                    values["category"] = zh

    async def parse(self, ctx: Context, f: Field, msg: Incoming, pressed: str | None) -> Any:
        result = await super().parse(ctx, f, msg, pressed)
        if f.name != "district" or not isinstance(result, Problem) or pressed is not None or not msg.text:
            return result
        # a district typed with a slip: take it when it is clearly one, else say which ones come close
        found = voice.suggest_known(ctx, "district", msg.text, await needs.known_districts(ctx.session))
        if (match := voice.confident(found)) is not None:
            return match
        if found:
            names = [await district_label(ctx, n) for n, _ in found]
            return Problem.of("need.error.district_suggest", names=ctx.t("need.name_separator").join(names))
        return Problem.of("need.error.district_unknown")

    async def display(self, ctx: Context, f: Field, value: Any) -> str:
        if f.name == "contact" and value:
            return voice.show_contact(ctx, voice.normalize_contact(value))
        return await super().display(ctx, f, value)

    def summary_title(self, ctx: Context, values: Values) -> str:
        return ctx.t("need.summary_title")

    async def submit(self, ctx: Context, values: Values) -> None:
        content = {k: values.get(k) for k in ("category", "district", "target_group", "description")}
        if not await voice.admit(ctx, "need", content):
            ctx.state.clear()
            return
        consent = bool(values.get("consent"))
        photo = values.get("photo")
        contact = voice.normalize_contact(values["contact"]) if consent and values.get("contact") else None
        need = await needs.create_need(
            ctx.session, category=values["category"],
            district=None if values["district"] == OTHER else values["district"],
            target_group=values["target_group"], description=values["description"],
            media_path=photo["path"] if photo else None, consent=consent, identity_id=ctx.identity.id,
            contact=contact, now=ctx.now, zone=ctx.settings.zone,
        )
        ctx.state.clear()
        ctx.tell("need.submitted_contact" if consent else "need.submitted_anonymous", reference=need.reference)
