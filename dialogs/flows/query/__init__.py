"""Answers to the public's questions (catalog, providers, budgets, projects, funding, progress, satisfaction,
evaluations, deadlines, how it works), asked in free text or reached through the "Public information" menu.

Every answer is one turn: the flow never stays open, so the next message is routed afresh. Its buttons
carry the whole question (``g:run:query:<payload>``), so old pages keep working, and the last question
answered is kept in the conversation state (``State.topic``) for follow-ups such as "那它的满意度呢？".
Only disclosable data is read (store/public/, surveys.public_satisfaction).

``flow`` holds the flow and the answer for each intent; ``reading`` turns free text into a ``Question``;
one module per answer (``projects``, ``funding``, ``progress``, ``satisfaction``, ``evaluation``,
``deadline``, ``catalog``, ``organizations``, ``budget``, ``faq``, ``menus``) and what they share
(``pages``: project lists, ``record``: one project, ``scope``, ``years``, ``numbers``).
"""

from dialogs.flows.query.flow import QueryFlow

__all__ = ["QueryFlow"]
