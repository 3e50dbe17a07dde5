"""The DingTalk (钉钉) robot: a thin translation layer between DingTalk and the conversation core.

Stream mode with the official ``dingtalk-stream`` SDK: the robot opens the connection itself, so
no public URL is needed. Nothing here decides what a member may read or what to answer; that is
the core's (``Conversations.handle``).

- ``runner.py`` — `jianxue bot dingtalk`: builds the assistant once, puts ``Conversations.handle``
  behind the stream, reminds members with due reviews (``Settings.dingtalk.nudge_hours``).
- ``stream.py`` — ``DingtalkStream(settings, handler)``: ACKs each robot message and card press at
  once, parses it, adds the sender's department ids from the directory, hands it to the handler
  and sends each reply as it comes; one chat's deliveries in turn, different chats at once.
- ``inbound.py`` — deliveries as :class:`Incoming` (``delivery_id`` is the message's ``msgId``, a
  card press's the frame's messageId; ``user_id`` the sender's staffId; ``chat_id`` the staffId in
  a direct chat and the group's openConversationId in a group, as ``Push.chat_id`` takes it).
- ``render.py`` — a :class:`Reply` as text (split within ``text_limit``), markdown links or an
  interactive card (``card_template_id``); a quiz question as a card with a button per option, or
  as lettered text answered by typing the letters.
- ``client.py`` — DingTalk's server APIs: tokens, the session webhook with the robot API as
  fallback, cards, the directory; retries with backoff; DingTalk's error text never reaches a member.

The administrator's set-up (developer console, Stream mode, the card template's contract) is in
the README's DingTalk section; the settings are ``Settings.dingtalk`` (JIANXUE_DINGTALK__*).
"""
