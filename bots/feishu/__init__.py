"""The Feishu (飞书) / Lark bot: a thin translation layer between Feishu and the conversation core.

Events arrive by webhook (a request URL Feishu posts to, encrypted and signed) or by long
connection (lark-oapi's WebSocket client; no public URL needed), JIANXUE_FEISHU__MODE. Nothing
here decides what a member may read or what to answer; that is the core's (``Conversations.handle``).

- ``app.py`` — `jianxue bot feishu`: the webhook app (``webhook_app``/``build_app``), the long
  connection on a thread of its own (``LongConnection``) and its runner (``FeishuRunner``), ``run``.
- ``bot.py`` — ``FeishuBot``: lark-oapi's event dispatcher's handlers answer each event at once and
  hand it on; the sender's department ids added, the core's replies sent as they come, one chat's
  deliveries in turn; reminders pushed (``Settings.feishu.nudge_hours``).
- ``webhook.py`` — the request URL's checks: decryption with the Encrypt Key, X-Lark-Signature, the
  Verification Token, the URL verification challenge.
- ``inbound.py`` — ``im.message.receive_v1`` and ``card.action.trigger`` as :class:`Incoming`
  (``delivery_id`` the event_id; ``user_id`` the sender's open_id; ``chat_id`` the open_id in a
  direct chat and the ``oc_`` chat_id in a group, as ``Push.chat_id`` takes it).
- ``render.py`` — a :class:`Reply` as text (split within ``text_limit``) and message cards with
  buttons; a single-answer quiz question as a card with a button per option.
- ``client.py`` — the open platform's API: tenant_access_token, messages and replies, the bot's
  open_id, the contact API; retries with backoff; Feishu's error text never reaches a member.

The administrator's set-up is in the README's Feishu section; the settings are
``Settings.feishu`` (JIANXUE_FEISHU__*).
"""
