"""POST /api/v1/nlu/parse over HTTP: the contract of PRODUCT.md §5."""

from __future__ import annotations

import logging


async def parse(client, text: str):
    response = await client.post("/api/v1/nlu/parse", json={"text": text})
    assert response.status == 200, await response.text()
    return await response.json()


async def test_guide_with_its_target(client):
    body = await parse(client, "我要开饭店，需要办什么")
    assert set(body) == {"intent", "confidence", "target", "entities", "alternatives"}
    assert body["intent"] == "guide" and 0.5 <= body["confidence"] <= 1
    assert body["target"] == {**body["target"], "kind": "scenario", "id": "open-restaurant", "name": "我要开饭店"}
    assert set(body["entities"]) >= {"application_no", "ticket_no", "phone"}


async def test_numbers_entities_and_dates_use_the_service_clock(client):
    body = await parse(client, "SX20261105000123")
    assert body["intent"] == "progress_query"
    assert body["entities"]["application_no"] == "SX20261105000123" and body["target"] is None
    body = await parse(client, "昨天打12345投诉的GD20261117000001有结果了吗")
    assert body["intent"] == "complaint_status"
    assert body["entities"]["ticket_no"] == "GD20261117000001"
    assert body["entities"]["dates"] == [{"text": "昨天", "start": "2026-11-17", "end": "2026-11-17"}]


async def test_a_number_says_which_lookup_an_unsure_or_small_talk_reading_means(client):
    # the classifier alone reads the first as out_of_scope and the second as a greeting
    asked = await parse(client, "GD20261118000042办得怎么样了")
    assert (asked["intent"], asked["confidence"], asked["alternatives"]) == ("complaint_status", 0.9, [])
    greeted = await parse(client, "你好，SX20261105000123")
    assert (greeted["intent"], greeted["confidence"], greeted["alternatives"]) == ("progress_query", 0.9, [])
    both = await parse(client, "SX20261105000123 GD20261118000042")  # which lookup is unclear: ask
    assert (both["intent"], [r["intent"] for r in both["alternatives"]]) == (
        "out_of_scope", ["progress_query", "complaint_status"])


async def test_an_id_number_is_only_ever_returned_masked_and_never_logged(client, caplog):
    caplog.set_level(logging.DEBUG)
    text = "我的身份证11010519491231002X，电话13800138000，社保卡丢了怎么补办"
    response = await client.post("/api/v1/nlu/parse", json={"text": text})
    raw = await response.text()
    assert "11010519491231002X" not in raw
    body = await response.json()
    assert body["entities"]["id_number"] == "110105********002X"
    assert body["entities"]["phone"] == "13800138000"
    assert "11010519491231002X" not in caplog.text and "13800138000" not in caplog.text


async def test_bad_bodies_get_a_chinese_message_and_a_stable_code(client):
    empty = await client.post("/api/v1/nlu/parse", json={"text": ""})
    assert empty.status == 400 and (await empty.json())["error"]["code"] == "invalid_input"
    too_long = await client.post("/api/v1/nlu/parse", json={"text": "投" * 2001})
    assert too_long.status == 400 and (await too_long.json())["error"]["code"] == "invalid_input"
    garbage = await client.post("/api/v1/nlu/parse", data=b"{nope", headers={"Content-Type": "application/json"})
    body = await garbage.json()
    assert garbage.status == 400 and body["error"]["code"] == "invalid_json"
    assert any("\u4e00" <= c <= "\u9fff" for c in body["error"]["message"])


async def test_out_of_scope_for_small_talk(client):
    body = await parse(client, "明天武汉下不下雨")
    assert body["intent"] == "out_of_scope" and body["target"] is None
