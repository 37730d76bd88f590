"""WeChat Official Account (公众号) channel: `GET|POST /webhooks/wechat/` (docs/wechat.md).

One module per job, in the order a callback meets them:

    config.py     WeChatConfig from the environment, checked at start-up (ConfigError names the setting)
    protocol.py   signatures, freshness, AES, defused XML, typed messages, passive replies: `authenticate`
    input.py      WeChatInput (credentials.yml): the HTTP routes and the 5-second rule
    delivery.py   a message's record in Redis, its State and the Lua scripts (lua/) that change it
    turns.py      the turns this process runs: leases (a dead process's turn is taken over), admission
    dispatch.py   what a message or event means: the shared pipeline, buttons, media, menu, unsubscribe
    output.py     WeChatOutput (numbered buttons, 客服消息 or the outbox) and `sender()` for the desk
    text.py       2048 bytes per message: splitting and packing
    client.py     the WeChat API: the shared access token, 客服消息
    menu.py       config/wechat_menu.yml; `python -m channels.wechat menu` pushes it

Redis key names are in bot.infra.keys; the rule for media sent while a report is being filed is
in bot.core.attachments.
"""

from channels.wechat.input import WeChatInput

__all__ = ["WeChatInput"]
