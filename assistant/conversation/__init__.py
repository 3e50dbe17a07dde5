"""The conversation core: what a chat with jianxue does, written once for every messenger.

Adapters (bots/telegram, bots/wecom, bots/dingtalk, bots/feishu) turn platform deliveries into
:class:`~assistant.conversation.messages.Incoming` and the core's neutral replies into the
platform's messages, cards or polls. Nothing here imports a messenger SDK.
"""
