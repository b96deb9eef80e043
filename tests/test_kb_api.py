"""The guidance API over HTTP: search, scenarios, checklists and items."""

from __future__ import annotations


async def test_search_prefers_the_scenario_for_i_want_to_open(client):
    response = await client.get("/api/v1/guides", params={"q": "我想开个饭馆"})
    body = await response.json()
    assert response.status == 200
    assert body["results"][0] == {**body["results"][0], "kind": "scenario", "id": "open-restaurant"}
    assert body["confident"] is True
    assert 0 < body["results"][0]["score"] <= 1


async def test_search_for_nonsense_is_not_confident(client):
    body = await (await client.get("/api/v1/guides", params={"q": "今天天气怎么样"})).json()
    assert body["confident"] is False


async def test_search_needs_a_query(client):
    response = await client.get("/api/v1/guides", params={"q": ""})
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_input"


async def test_scenarios_list_and_detail(client):
    listing = await (await client.get("/api/v1/scenarios")).json()
    assert {"我要开饭店", "新生儿落户"} <= {s["name"] for s in listing}
    detail = await (await client.get("/api/v1/scenarios/open-restaurant")).json()
    assert detail["lead_department"] and detail["questions"] and detail["items"]
    missing = await client.get("/api/v1/scenarios/no-such-thing")
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "scenario_not_found"


async def test_checklist_answers_change_the_list_over_http(client):
    detail = await (await client.get("/api/v1/scenarios/open-restaurant")).json()
    question = detail["questions"][0]
    lists = []
    for option in question["options"]:
        response = await client.post("/api/v1/scenarios/open-restaurant/checklist",
                                     json={"answers": {question["id"]: option["id"]}})
        assert response.status == 200, await response.text()
        body = await response.json()
        keys = [m["key"] for m in body["materials"]]
        assert len(keys) == len(set(keys))
        assert all(m["already_held"] is False and m["held_note"] is None for m in body["materials"])
        assert question["id"] not in {q["id"] for q in body["unanswered"]}
        lists.append((tuple(i["code"] for i in body["items"]), tuple(keys)))
    assert len(set(lists)) > 1


async def test_checklist_refuses_bad_answers_and_bad_bodies(client):
    bad = await client.post("/api/v1/scenarios/open-restaurant/checklist", json={"answers": {"nope": "x"}})
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "invalid_answer"
    garbage = await client.post("/api/v1/scenarios/open-restaurant/checklist", data=b"{not json",
                                headers={"Content-Type": "application/json"})
    assert garbage.status == 400 and (await garbage.json())["error"]["code"] == "invalid_json"
    # entity is asked only for a new licence: an answer kept from before is pointed out, not dropped
    stale = await client.post("/api/v1/scenarios/open-restaurant/checklist",
                              json={"answers": {"licence": "has_scope", "entity": "company"}})
    body = await stale.json()
    assert stale.status == 400 and body["error"]["code"] == "invalid_answer" and "entity" in body["error"]["message"]
    misspelt = await client.post("/api/v1/scenarios/open-restaurant/checklist", json={"answer": {"licence": "new"}})
    assert misspelt.status == 400 and (await misspelt.json())["error"]["message"]


async def test_item_detail(client):
    body = await (await client.get("/api/v1/items/GA-001")).json()
    assert body["code"] == "GA-001" and "居住证" in body["name"] and body["materials"]
    missing = await client.get("/api/v1/items/NOPE")
    assert missing.status == 404 and (await missing.json())["error"]["code"] == "item_not_found"
