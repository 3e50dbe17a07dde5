"""WeCom (企业微信) and its government edition 政务微信: a self-built application in callback mode,
a translation layer over the conversation core (assistant/conversation).

    app.run(settings)                               `jianxue bot wecom`: serve until stopped
    app.build_app(settings, assistant_factory=)     the Starlette app over the real core (tests, other servers)
    app.callback_app(settings.wecom, core)          the same over any Core (handle + pushes)
    app.check_settings(settings.wecom)              a ConfigError naming each missing JIANXUE_WECOM__*
    client.WecomClient(settings.wecom)              .send_reply(chat_id, reply), .user_departments(user_id),
                                                    .close_card(...), .create_group(...)

Settings are ``Settings.wecom`` in assistant/config.py (JIANXUE_WECOM__*); the README's WeCom
section says where in the admin console each value comes from.

Limits of the platform: a self-built application receives only what members send in its own
conversation, never group messages (so no @-mentions); it can create group chats of its own
(appchat, when its visible range is the root department) and post text or markdown to them,
but not template cards, and it does not hear what is said there.
"""
