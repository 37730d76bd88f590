"""What a message or event means: location, voice, media (with a handed-off ticket or a report being
filed), menu clicks, subscribe and unsubscribe."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

from tests.channels.wechat.support import FakeBot, Start, approved, event_xml, media_xml, new_openid, text_xml


async def test_location_fills_the_report_location(start_channel: Start) -> None:
    bot = FakeBot("utter_thank")
    wechat = await start_channel(bot)
    xml = media_xml(new_openid(), "location", [("Location_X", "23.134521"), ("Location_Y", "113.358803"),
                                               ("Scale", "20"), ("Label", "广州市天河区天河路1号")])  # fmt: skip
    await wechat.post(xml)
    assert bot.received[0].metadata["location"] == "广州市天河区天河路1号 (23.134521,113.358803)"
    assert bot.texts == ["广州市天河区天河路1号 (23.134521,113.358803)"]


async def test_voice_is_read_through_wechats_recognition(start_channel: Start) -> None:
    bot = FakeBot("utter_greet")
    wechat = await start_channel(bot)
    openid = new_openid()
    heard = await wechat.post(
        media_xml(openid, "voice", [("MediaId", "m1"), ("Format", "amr"), ("Recognition", "社保卡怎么办理")])
    )
    assert heard.content == approved("utter_greet")
    assert bot.texts == ["社保卡怎么办理"]
    unheard = await wechat.post(media_xml(openid, "voice", [("MediaId", "m2"), ("Format", "amr")]))
    assert unheard.content == approved("utter_voice_not_recognized")
    assert len(bot.received) == 1


async def test_media_gets_the_approved_reply_and_joins_a_handed_off_ticket(start_channel: Start) -> None:
    from bot.core import handoff, tickets

    bot = FakeBot()
    wechat = await start_channel(bot)
    openid = new_openid()
    image = media_xml(openid, "image", [("PicUrl", "http://mmbiz.example/pic.jpg"), ("MediaId", "media-123")])
    assert (await wechat.post(image)).content == approved("utter_unsupported_media")
    link = media_xml(openid, "link", [("Title", "通知"), ("Description", "d"), ("Url", "https://example.org/a")])
    assert (await wechat.post(link)).content == approved("utter_unsupported_media")
    ticket, _ = tickets.create(idempotency_key=f"t-{openid}", channel="wechat", sender_id=openid,
                               topic="request_human", summary="转人工", handoff=True)  # fmt: skip
    handoff.start(openid, ticket["id"], "wechat")
    video = media_xml(openid, "video", [("MediaId", "media-456"), ("ThumbMediaId", "thumb")])
    assert (await wechat.post(video)).content == approved("utter_unsupported_media")
    attachments = tickets.get(ticket["id"])["attachments"]
    assert [(a["type"], a["media_id"]) for a in attachments] == [("video", "media-456")]
    assert bot.received == []


async def test_media_during_a_report_waits_for_the_reports_ticket(start_channel: Start) -> None:
    import redis

    from bot.core.attachments import pending_attachments_key

    @dataclass
    class Tracker:
        active_loop_name: str | None

    class TrackerStore:
        def __init__(self) -> None:
            self.loop: str | None = "report_form"

        async def retrieve(self, sender_id: str) -> Tracker:
            return Tracker(self.loop)

    @dataclass
    class Agent:
        tracker_store: TrackerStore

    store = TrackerStore()
    bot = FakeBot()
    wechat = await start_channel(bot, agent=Agent(store))
    openid = new_openid()
    image = media_xml(openid, "image", [("PicUrl", "http://mmbiz.example/p.jpg"), ("MediaId", "media-789")])
    assert (await wechat.post(image)).content == approved("utter_unsupported_media")
    r = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    kept = [json.loads(x) for x in r.lrange(pending_attachments_key(openid), 0, -1)]
    assert [(a["type"], a["media_id"], a["platform"]) for a in kept] == [("image", "media-789", "wechat")]
    # the report is filed (the form ends with a ticket): the next turn puts the image on it
    from bot.core import tickets

    ticket, _ = tickets.create(idempotency_key=f"r-{openid}", channel="wechat", sender_id=openid,
                               topic="report_noise", summary="噪音扰民")  # fmt: skip
    store.loop = None
    await wechat.post(text_xml(openid, "谢谢"))
    assert [a["media_id"] for a in tickets.get(ticket["id"])["attachments"]] == ["media-789"]
    assert r.llen(pending_attachments_key(openid)) == 0
    # no report being filed: nothing is kept
    other = new_openid()
    await wechat.post(media_xml(other, "image", [("PicUrl", "http://mmbiz.example/q.jpg"), ("MediaId", "m-0")]))
    assert r.llen(pending_attachments_key(other)) == 0
    assert bot.texts == ["谢谢"]


async def test_menu_clicks_are_mapped_to_what_the_citizen_means(start_channel: Start) -> None:
    bot = FakeBot("utter_greet")
    wechat = await start_channel(bot)
    openid = new_openid()
    await wechat.post(event_xml(openid, "CLICK", key="HUMAN"))
    await wechat.post(event_xml(openid, "CLICK", key="REPORT_NOISE", created=int(time.time()) + 1))
    assert bot.texts == ["/request_human", "我要投诉噪音扰民"]
    unknown = await wechat.post(event_xml(openid, "CLICK", key="NO_SUCH_KEY", created=int(time.time()) + 2))
    assert unknown.content == approved("utter_how_can_i_help")
    view = await wechat.post(event_xml(openid, "VIEW", key="https://example.org", created=int(time.time()) + 3))
    assert view.body == "success"
    assert len(bot.received) == 2


async def test_subscribe_welcomes_and_unsubscribe_cleans_up(start_channel: Start) -> None:
    import redis

    bot = FakeBot(per_text={"啊": ("utter_offer_human", 0.0)})
    wechat = await start_channel(bot)
    openid = new_openid()
    welcome = await wechat.post(event_xml(openid, "subscribe", key="qrscene_hall_3"))  # from a QR poster
    assert welcome.content == approved("utter_welcome_subscribe")
    await wechat.post(text_xml(openid, "啊"))
    r = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    r.rpush(f"wechat:outbox:{openid}", "欠着的回复")
    assert r.exists(f"wechat:buttons:{openid}", f"wechat:seen:{openid}") == 2
    bye = await wechat.post(event_xml(openid, "unsubscribe", created=int(time.time()) + 1))
    assert bye.body == "success"
    assert r.exists(f"wechat:buttons:{openid}", f"wechat:outbox:{openid}", f"wechat:seen:{openid}") == 0
    assert bot.texts == ["啊"]
