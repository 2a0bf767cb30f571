"""The command menus Telegram shows next to the text field: residents' by the client's language (default
scope), and a per-chat menu for a member of another role or a language the default menus cannot show
(zh-Hant). Who sees which flow is the flows' own rule (``Flow.allows``), as in the engine's menu."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from aiogram import Bot
from aiogram.exceptions import AiogramError
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault

from bot.channels.telegram.options import CHANNEL, TelegramOptions
from dialogs import i18n
from dialogs.flow import Flow

log = logging.getLogger(__name__)

GLOBAL_COMMANDS = ("menu", "help", "lang", "cancel")

Menu = tuple[str, bool, str]  # role, admin, locale


class CommandMenus:
    def __init__(self, bot: Bot, flows: Mapping[str, Flow], options: TelegramOptions) -> None:
        self.bot = bot
        self.flows = flows
        self.options = options
        self._shown: dict[int, Menu | None] = {}  # per chat: its own menu, None for the default one

    def commands(self, role: str, locale: str, admin: bool = False) -> list[BotCommand]:
        """The command menu of ``role`` (resident, org, staff, expert; ``admin``: a configured admin) in ``locale``."""
        items = [
            BotCommand(command=flow.commands[0], description=_describe(locale, flow.menu_key))
            for flow in sorted(self.flows.values(), key=lambda f: f.menu_order)
            if flow.commands and flow.menu_key and flow.allows(role, admin)
        ]
        items.extend(
            BotCommand(command=name, description=i18n.t(locale, f"commands.{name}")) for name in GLOBAL_COMMANDS
        )
        return items

    def default_locale_for(self, language_code: str | None) -> str:
        """The language of the default-scope menu a Telegram client with ``language_code`` shows."""
        code = (language_code or "").lower()
        if code.startswith("en"):
            return "en"
        if code.startswith("zh"):
            return "zh-Hans"
        return self.options.default_locale

    async def set_defaults(self) -> None:
        """Residents' menus; Telegram picks one by the two-letter language of the client."""
        for language, locale in (("", self.options.default_locale), ("zh", "zh-Hans"), ("en", "en")):
            try:
                await self.bot.set_my_commands(
                    self.commands("resident", locale), scope=BotCommandScopeDefault(), language_code=language or None
                )
            except AiogramError as exc:  # a menu is a convenience: the bot works without it
                log.warning("could not set the %r command menu: %s", language, exc)

    async def refresh(
        self, chat_id: int, user_id: str, role: str, chosen: str | None, language_code: str | None
    ) -> None:
        """The chat's menu for ``role`` and its language, if the default one does not fit."""
        admin = (CHANNEL, user_id) in self.options.admins
        locale = chosen or i18n.normalize_locale(language_code) or self.options.default_locale
        fits = role == "resident" and not admin and locale == self.default_locale_for(language_code)
        wanted = None if fits else (role, admin, locale)
        if self._shown.get(chat_id) == wanted:
            return
        scope = BotCommandScopeChat(chat_id=chat_id)
        try:
            if wanted is None:
                await self.bot.delete_my_commands(scope=scope)
            else:
                await self.bot.set_my_commands(self.commands(role, locale, admin), scope=scope)
        except AiogramError as exc:  # tried again when the chat's menu should change next
            log.warning("could not update the command menu of %s: %s", chat_id, exc)
            return
        self._shown[chat_id] = wanted


def _describe(locale: str, key: str) -> str:
    """A menu label as a command description (no leading emoji, within Telegram's 256 characters)."""
    label = i18n.t(locale, key)
    stripped = label.lstrip()
    while stripped and not stripped[0].isalnum():
        stripped = stripped[1:]
    return (stripped.strip() or label)[:256]
