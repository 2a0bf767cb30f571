"""The bot's profile: getMe, and the command menus per scope and language (setMyCommands and its kin)."""

from __future__ import annotations

import json
import re
from typing import Any

from .bot_state import BotState
from .protocol import Params, bad_request, maybe_int

_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_LANGUAGE_RE = re.compile(r"^[a-z]{2}$")
_SCOPE_TYPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)


def scope_key(scope: Any) -> str:
    """The key a command menu is kept under: its scope (the default scope if None), normalized."""
    if scope is None:
        scope = {"type": "default"}
    if not isinstance(scope, dict) or scope.get("type") not in _SCOPE_TYPES:
        raise bad_request("can't parse BotCommandScope: unsupported scope type")
    if scope["type"].startswith("chat") and maybe_int(scope.get("chat_id")) is None:
        raise bad_request("can't parse BotCommandScope: chat_id is required")
    normalized = {k: (maybe_int(v) if k in ("chat_id", "user_id") else v) for k, v in scope.items()}
    return json.dumps(normalized, sort_keys=True)


def _language(params: Params) -> str:
    language = params.text("language_code") or ""
    if language and not _LANGUAGE_RE.match(language):
        raise bad_request("LANG_CODE_INVALID")
    return language


def set_my_commands(state: BotState, params: Params) -> bool:
    commands = params.json("commands", "commands")
    if not isinstance(commands, list):
        raise bad_request("can't parse commands JSON object")
    if len(commands) > 100:
        raise bad_request("too many commands")
    for command in commands:
        if not isinstance(command, dict) or not _COMMAND_RE.match(str(command.get("command", ""))):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(str(command.get("description") or "")) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    key = (scope_key(params.json("scope", "BotCommandScope")), _language(params))
    if commands:
        state.commands[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
    else:
        state.commands.pop(key, None)
    return True


def get_my_commands(state: BotState, params: Params) -> list[dict[str, str]]:
    key = (scope_key(params.json("scope", "BotCommandScope")), _language(params))
    return state.commands.get(key, [])


def delete_my_commands(state: BotState, params: Params) -> bool:
    key = (scope_key(params.json("scope", "BotCommandScope")), _language(params))
    state.commands.pop(key, None)
    return True


def get_me(state: BotState, params: Params) -> dict[str, Any]:
    return {
        **state.bot_user(),
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }
