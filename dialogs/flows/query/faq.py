"""faq_process, faq_eligibility: how purchasing services works and who may apply (dialogs/knowledge);
take_survey: where residents give their view."""

from __future__ import annotations

from dialogs.context import Context
from dialogs.flows.query.reading import back, run
from dialogs.questions import Question, knowledge
from dialogs.types import Button


async def faq(ctx: Context, q: Question) -> None:
    known = knowledge()
    topic = known.topic(q.topic)
    values = {"admin_share": f"{round(ctx.settings.admin_share_max * 100):g}%",
              "min_responses": ctx.settings.disclosure_min_responses}
    locale = ctx.locale
    if topic is not None:
        text = topic.answer.get(locale) or topic.answer["zh-Hans"]
        others = [t for t in known.of(topic.intent) if t.id != topic.id]
    else:
        text = known.overview[q.intent].get(locale) or known.overview[q.intent]["zh-Hans"]
        others = known.of(q.intent)
        ctx.tell("query.faq_title")
    buttons = [Button(t.title.get(locale) or t.title["zh-Hans"], run(Question(t.intent, topic=t.id))) for t in others]
    other_intent = "faq_eligibility" if q.intent == "faq_process" else "faq_process"
    buttons.append(Button(ctx.t(f"query.faq_switch.{other_intent}"), run(Question(other_intent))))
    ctx.say(text.format(**values), [*[buttons[i:i + 3] for i in range(0, len(buttons), 3)], [back(ctx)]])


async def take_survey(ctx: Context, q: Question) -> None:
    ctx.tell("query.take_survey", buttons=[[Button(ctx.t("query.button.satisfaction"),
                                                   run(Question("query_satisfaction")))], [back(ctx)]])
