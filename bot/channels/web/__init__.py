"""The web chat channel (webchat.md): the conversation in any browser, over one WebSocket per page."""
