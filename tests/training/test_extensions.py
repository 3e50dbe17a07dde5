"""The default extensions every messenger runs with: training's commands, its button prefix and
its pushes, combined by assistant/conversation/extensions.py (one factory per module)."""

from __future__ import annotations

from assistant.conversation import texts
from assistant.conversation.core import Conversations
from assistant.conversation.extensions import FACTORIES, default_extensions
from assistant.conversation.store import ConversationStore


def test_training_is_among_the_default_extensions(world):
    a = world.assistant
    extensions = default_extensions(a)
    assert len(extensions) == len(FACTORIES)
    commands = {name for e in extensions for name in e.commands}
    assert {"/tasks", "/daily", "/mistakes", "/hours", "/queue"} <= commands
    assert any("tr:" in e.actions for e in extensions)
    conversations = Conversations(a, ConversationStore(a.docstore.engine), extensions=extensions)
    training = {"/tasks", "/daily", "/mistakes", "/hours"}  # the expert pool's commands are told to experts only
    assert all(f"{c} " in texts.HELP or f"{c}\n" in texts.HELP or f"{c} —" in texts.HELP for c in training)
    assert conversations.pushes("wecom", nudge_hours=0) == []  # nobody admitted there: nothing to send


def test_a_refused_assignment_is_handed_out_again_until_five_were_refused(world):
    from datetime import timedelta

    from assistant.db import now
    from assistant.training.chat import PUSH_FAILURES
    from tests.training.conftest import CRIM, TRAINER

    a = world.assistant
    store = ConversationStore(a.docstore.engine)
    store.allow("wecom", "alice-wx", role="learner", departments=(CRIM,), user="alice")
    conversations = Conversations(a, store, extensions=default_extensions(a))
    due = (now().replace(microsecond=0) + timedelta(days=3)).isoformat()
    a.training.assignments.assign(principal=TRAINER, quiz_id=world.quiz.id, departments=[CRIM], due=due, hours=0.5)
    [push] = conversations.pushes("wecom", nudge_hours=0)
    assert push.key.startswith("assignment-") and conversations.pushes("wecom", nudge_hours=0) == []
    for _ in range(PUSH_FAILURES - 1):
        push.settle(False)  # the messenger refused it: next round it is there again
        [push] = conversations.pushes("wecom", nudge_hours=0)
    push.settle(False)  # the fifth refusal: left to /tasks
    assert conversations.pushes("wecom", nudge_hours=0) == []
