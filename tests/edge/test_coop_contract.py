"""Contract: the edge answers every call Coop's HMA client makes
(roostorg/coop, `server/services/hmaService/index.ts`) as HMA does.

The requests are data, read from that client: its method, its URL built as the client
builds it (`${HMA_SERVICE_URL}/c/...`, whose default base URL ends in a slash, so paths
arrive as `//c/...`), its body and headers. Each step checks what the client reads of the
answer (its `ok`, its status, the fields it takes), field by field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from tests.conftest import Api
from tests.edge.hma_edge import IMAGE_HOST, PHOTO, hma_edge, submit
from tests.values import pdq_value

# Coop's default: process.env.HMA_SERVICE_URL ?? 'http://localhost:9876/'
BASE = "http://edge/"
JSON = {"Content-Type": "application/json"}
BANK = "COOP_ORG1_TEST_BANK"  # getHmaName('org1', 'test bank')
RENAMED = "COOP_ORG1_RENAMED_BANK"
IMAGE_URL = f"http://{IMAGE_HOST}/photo.png"


@dataclass(frozen=True)
class Call:
    """One request of Coop's client: which method of `HmaService` sends it, and how."""

    method_of_client: str
    http_method: str
    url: str
    json_body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    files: dict[str, Any] | None = None
    form: dict[str, str] | None = None


def coop_url(path: str) -> str:
    return f"{BASE}{path}"


CALLS = {
    # createBank(orgId, name, description, enabled_ratio) without an exchange
    "create_bank": Call(
        "createBank",
        "POST",
        coop_url("/c/banks"),
        {"name": BANK, "enabled_ratio": "1"},  # enabled_ratio.toString()
        JSON,
    ),
    # createBank(..., exchange): POST /c/exchanges, then PUT the ratio when not 1.0
    "create_exchange": Call(
        "createBank/createExchange",
        "POST",
        coop_url("/c/exchanges"),
        {"bank": "COOP_ORG1_FED", "api": "fb_threatexchange", "api_json": {"privacy_group": 1}},
        JSON,
    ),
    "update_ratio": Call(
        "updateBank/createBank",
        "PUT",
        coop_url(f"/c/bank/{BANK}"),
        {"enabled_ratio": 0.5},
        JSON,
    ),
    # updateBank with a new name: create the new bank, delete the old one
    "rename_create": Call(
        "updateBank",
        "POST",
        coop_url("/c/banks"),
        {"name": RENAMED, "enabled_ratio": "1"},  # (a ratio below 1 matches by coin flip)
        JSON,
    ),
    "rename_delete": Call("updateBank", "DELETE", coop_url(f"/c/bank/{BANK}")),
    # getBank / getBankById (no headers), listBanks (with a Content-Type header)
    "get_bank": Call("getBank", "GET", coop_url(f"/c/bank/{RENAMED}")),
    "get_gone_bank": Call("getBank", "GET", coop_url(f"/c/bank/{BANK}")),
    "list_bank": Call("listBanks", "GET", coop_url(f"/c/bank/{RENAMED}"), headers=JSON),
    "exchange_apis": Call("getExchangeApis", "GET", coop_url("/c/exchanges/apis")),
    "exchange_api": Call(
        "getExchangeApis/getExchangeForBank",
        "GET",
        coop_url(f"/c/exchanges/api/{quote('hashshare')}"),
    ),
    "exchange_schema": Call(
        "getExchangeApiSchema", "GET", coop_url(f"/c/exchanges/api/{quote('ncmec')}/schema")
    ),
    "set_credentials": Call(
        "setExchangeCredentials",
        "POST",
        coop_url(f"/c/exchanges/api/{quote('ncmec')}"),
        {"credential_json": {"user": "u", "password": "p"}},
        JSON,
    ),
    "exchange_of_local": Call(
        "getExchangeForBank", "GET", coop_url(f"/c/exchange/{quote(RENAMED)}")
    ),
    "exchange_of_shared": Call(
        "getExchangeForBank",
        "GET",
        coop_url(f"/c/exchange/{quote('SHARED_ATTACKER_MANIFESTO')}"),
    ),
    "exchange_status": Call(
        "getExchangeForBank",
        "GET",
        coop_url(f"/c/exchange/{quote('SHARED_ATTACKER_MANIFESTO')}/status"),
    ),
    "hash_url": Call(
        "hashContentFromUrl", "GET", coop_url(f"/h/hash?url={quote(IMAGE_URL, safe='')}")
    ),
    "add_by_url": Call(
        "addContentToBank",
        "POST",
        coop_url(
            f"/c/bank/{RENAMED}/content?"
            + urlencode(
                {
                    "url": IMAGE_URL,
                    "content_id": "item-1",
                    "content_uri": "https://platform.example/item/1",
                    "metadata": json.dumps({"reporter": "r-9"}),
                }
            )
        ),
    ),
    "add_by_file": Call(
        "addContentToBank",
        "POST",
        coop_url(f"/c/bank/{RENAMED}/content"),
        files={"photo": ("blob", PHOTO, "application/octet-stream")},
        form={
            "content_id": "item-2",
            "content_uri": "https://platform.example/item/2",
            "metadata": json.dumps({"reporter": "r-10"}),
        },
    ),
    "lookup_url": Call(
        "lookupContent",
        "GET",
        coop_url("/m/lookup?" + urlencode({"url": IMAGE_URL, "content_type": "photo"})),
    ),
    "delete_bank": Call("deleteBank", "DELETE", coop_url(f"/c/bank/{RENAMED}")),
}


def lookup_signal(signal_type: str, signal: str) -> Call:
    """checkImageMatchWithDetails → lookupContent({signal, signalType})."""
    query = urlencode({"signal_type": signal_type, "signal": signal})
    return Call("checkImageMatchWithDetails", "GET", coop_url(f"/m/lookup?{query}"))


async def send(edge: httpx.AsyncClient, call: Call) -> httpx.Response:
    return await edge.request(
        call.http_method,
        call.url,
        content=json.dumps(call.json_body) if call.json_body is not None else None,
        headers=call.headers,
        files=call.files,
        data=call.form,
    )


def check_bank(body: Any, name: str, ratio: float) -> None:
    assert body["name"] == name
    assert body["matching_enabled_ratio"] == ratio


async def test_every_call_of_coops_hma_client(api: Api, tmp_path: Path) -> None:
    [shared_id] = await submit(api, [pdq_value(1)])
    async with hma_edge(api, tmp_path, base_url=BASE) as edge:
        created = await send(edge, CALLS["create_bank"])
        assert created.status_code == 201
        check_bank(created.json(), BANK, 1.0)
        again = await send(edge, CALLS["create_bank"])
        assert not again.is_success  # Coop throws "Failed to create HMA bank"

        exchange = await send(edge, CALLS["create_exchange"])
        assert exchange.status_code == 400  # Coop throws "Failed to create exchange in HMA"
        assert exchange.json()["error"]["code"] == "exchanges_not_configurable"

        ratio = await send(edge, CALLS["update_ratio"])
        assert ratio.status_code == 200
        check_bank(ratio.json(), BANK, 0.5)

        renamed = await send(edge, CALLS["rename_create"])
        assert renamed.status_code == 201
        check_bank(renamed.json(), RENAMED, 1.0)
        assert (await send(edge, CALLS["rename_delete"])).status_code == 200

        got = await send(edge, CALLS["get_bank"])
        assert got.status_code == 200
        check_bank(got.json(), RENAMED, 1.0)
        # A 404 makes Coop drop its own record of the bank: only for a bank that is gone.
        assert (await send(edge, CALLS["get_gone_bank"])).status_code == 404
        listed = await send(edge, CALLS["list_bank"])
        assert listed.status_code == 200
        check_bank(listed.json(), RENAMED, 1.0)

        apis = await send(edge, CALLS["exchange_apis"])
        assert apis.status_code == 200
        assert apis.json() == []
        api_info = await send(edge, CALLS["exchange_api"])
        assert api_info.json() == {
            "supports_authentification": True,
            "has_set_authentification": True,
        }
        schema = await send(edge, CALLS["exchange_schema"])
        assert schema.status_code == 404  # Coop falls back to its built-in schemas
        credentials = await send(edge, CALLS["set_credentials"])
        assert credentials.status_code == 400  # Coop throws: nothing to configure here
        assert (await send(edge, CALLS["exchange_of_local"])).status_code == 404  # → null
        shared = await send(edge, CALLS["exchange_of_shared"])
        assert shared.status_code == 200
        assert shared.json()["api"] == "hashshare"
        assert shared.json()["enabled"] is True
        fetch = (await send(edge, CALLS["exchange_status"])).json()
        assert fetch["last_fetch_succeeded"] is True
        assert isinstance(fetch["last_fetch_complete_ts"], int)
        assert fetch["up_to_date"] is True
        assert fetch["fetched_items"] == 1
        assert fetch["running_fetch_start_ts"] is None

        hashed = await send(edge, CALLS["hash_url"])
        assert hashed.status_code == 200
        hashes = hashed.json()
        assert all(isinstance(value, str) for value in hashes.values())
        assert "pdq" in hashes

        by_url = await send(edge, CALLS["add_by_url"])
        assert by_url.status_code == 200
        assert isinstance(by_url.json()["id"], int)
        assert by_url.json()["signals"] == hashes
        by_file = await send(edge, CALLS["add_by_file"])
        assert by_file.status_code == 200, by_file.text
        assert by_file.json()["signals"] == hashes
        banked = await edge.get(f"/c/bank/{RENAMED}/content/{by_file.json()['id']}")
        assert banked.json()["metadata"] == {
            "content_id": "item-2",
            "content_uri": "https://platform.example/item/2",
            "json": {"reporter": "r-10"},
        }

        # submitItems: hash the item's URL, then look up each hash; Coop reads
        # response[bank] as a list of {bank_content_id, distance}.
        for signal_type, signal in hashes.items():
            found = await send(edge, lookup_signal(signal_type, signal))
            assert found.status_code == 200
            matches = found.json()[RENAMED]
            assert [m["bank_content_id"] for m in matches] == sorted(
                [by_url.json()["id"], by_file.json()["id"]]
            )
            for match in matches:
                assert isinstance(match["distance"], str)
        shared_hit = await send(edge, lookup_signal("pdq", pdq_value(1)))
        assert shared_hit.json() == {
            "SHARED_ATTACKER_MANIFESTO": [
                {
                    "bank_content_id": shared_id,
                    "distance": "0",
                    "source": "shared",
                    "hash_id": shared_id,
                    "labels": ["attacker-manifesto"],
                    "status": "active",
                    "contributors": 1,
                }
            ]
        }

        by_lookup_url = await send(edge, CALLS["lookup_url"])
        assert by_lookup_url.status_code == 200
        assert set(by_lookup_url.json()) == set(hashes)
        assert len(by_lookup_url.json()["pdq"][RENAMED]) == 2

        deleted = await send(edge, CALLS["delete_bank"])
        assert deleted.status_code == 200
        assert (await send(edge, CALLS["get_bank"])).status_code == 404


def test_the_contract_covers_every_call_of_the_client() -> None:
    """Every `fetchHTTP` of Coop's client, by the method that makes it, is exercised above."""
    client_methods = {
        "createBank",
        "updateBank",
        "deleteBank",
        "getBank",
        "getBankById",
        "listBanks",
        "getExchangeApis",
        "getExchangeApiSchema",
        "createExchange",
        "setExchangeCredentials",
        "getExchangeForBank",
        "hashContentFromUrl",
        "addContentToBank",
        "lookupContent",
        "checkImageMatchWithDetails",
    }
    covered = {
        name
        for call in [*CALLS.values(), lookup_signal("pdq", "")]
        for name in call.method_of_client.split("/")
    }
    # getBankById sends the very request getBank does; lookupContent is what
    # checkImageMatchWithDetails and the URL lookup call.
    covered |= {"getBankById", "lookupContent"}
    assert client_methods <= covered
