"""Errors and limits: no garbage makes the service answer 5xx, and every refusal has one shape.

The garbage tests walk every API route of the app, so a new route is covered without
touching this file. Each test collects every bad answer of its route and reports them all.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import fastapi.routing
import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from hashshare.app import create_app
from hashshare.config import Settings
from hashshare.deps import declared_query_parameters
from tests.conftest import Api

PDQ = "0f" * 32
LABEL = "attacker-manifesto"

# --- the routes ------------------------------------------------------------------------------


def _route_contexts(app: FastAPI) -> list[tuple[Any, Any]]:
    """(original route, effective route) pairs, with included routers flattened."""
    iter_route_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if iter_route_contexts is None:
        return [(route, route) for route in app.routes]
    return [(context.original_route, context) for context in iter_route_contexts(app.routes)]


def _api_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path template) of every APIRoute of the app."""
    found = []
    for original, route in _route_contexts(app):
        if isinstance(original, APIRoute):
            found.extend((method, route.path) for method in sorted(route.methods))
    return sorted(found)


API_ROUTES = _api_routes(
    create_app(Settings(dev_mode=True, database_url="sqlite+aiosqlite:///:memory:"))
)
ROUTE_IDS = [f"{method} {path}" for method, path in API_ROUTES]

_PATH_PARAM = re.compile(r"\{[^}]+\}")
JUNK_PATH_VALUES = [
    "abc",
    "-1",
    "0",
    "1.5",
    "1e3",
    "99999999999999999999999",
    "9223372036854775808",
    "ü",
    "💥",
    "\x00",
    "%00",
    "..",
    " 1",
    "\u0661",  # Arabic-Indic digit one: str.isdigit() is true, int() accepts it
    "x" * 5000,
]


def _fill(path: str, value: str) -> str:
    return _PATH_PARAM.sub(quote(value, safe=""), path)


def _concrete(path: str) -> str:
    return _fill(path, "1")


# --- the garbage -----------------------------------------------------------------------------

NASTY_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "ü",
    "💥" * 50,
    "\ud800",  # a lone surrogate: valid as a JSON escape, not encodable as UTF-8
    "\u202e\u200b\ufeff",
    "\uff10" * 64,  # full-width digits
    "\u0660" * 64,  # Arabic-Indic digits
    "'; drop table members; --",
    "%s%n%x{0}",
    "\\\r\n\t",
    "x" * 100_000,
]
WRONG_TYPES: list[Any] = [None, 0, -1, 1.5, True, [], {}, "x", 10**40, -(10**40), [None], {"": ""}]

TEMPLATES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/hashes"): {
        "hashes": [
            {
                "signal_type": "pdq",
                "value": PDQ,
                "labels": [LABEL],
                "external_ref": "ref-1",
                "quality": 90,
            }
        ]
    },
    ("POST", "/v1/match"): {
        "queries": [{"signal_type": "pdq", "value": PDQ, "max_distance": 10}],
        "include_disputed": False,
    },
    ("POST", "/v1/members"): {"id": "gamma", "name": "Gamma"},
}


def _raw(text: str) -> bytes:
    return text.encode()


RAW_BODIES: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("binary", bytes(range(256))),
    ("invalid utf-8", b'{"hashes": ["\xff\xfe"]}'),
    ("NUL byte", b'{"hashes": [\x00]}'),
    ("truncated", b'{"hashes": ['),
    ("trailing garbage", b'{"hashes": []} garbage'),
    ("single quotes", b"{'hashes': []}"),
    ("NaN", b'{"queries": NaN}'),
    ("Infinity", b'{"hashes": [{"quality": Infinity}]}'),
    ("bad escape", b'{"id": "\\x41"}'),
    ("lone surrogate escape", b'{"id": "\\ud800", "name": "\\udfff"}'),
    ("not json", b"hashes=1&queries=2"),
    ("xml", b"<hashes><hash/></hashes>"),
    ("deep arrays", _raw("[" * 100_000 + "]" * 100_000)),
    ("deep objects", _raw('{"a":' * 50_000 + "1" + "}" * 50_000)),
    ("deep inside hashes", _raw('{"hashes": ' + "[" * 5000 + "]" * 5000 + "}")),
    ("moderately deep", _raw('{"queries": ' + "[" * 900 + "]" * 900 + "}")),
    ("duplicate keys", b'{"hashes": [], "hashes": {}}'),
    ("huge number", _raw('{"queries": [{"max_distance": 1' + "0" * 5000 + "}]}")),
    ("huge float", b'{"hashes": [{"quality": 1e400}]}'),
]

JSON_BODIES: list[tuple[str, Any]] = [
    ("null", None),
    ("number", 42),
    ("string", "hashes"),
    ("list instead of object", [{"hashes": []}]),
    ("empty object", {}),
    ("hashes string", {"hashes": "abc"}),
    ("hashes null", {"hashes": None}),
    ("hashes object", {"hashes": {"0": {}}}),
    ("hashes of numbers", {"hashes": [1, 2, 3]}),
    ("hashes of nulls", {"hashes": [None]}),
    ("hashes of lists", {"hashes": [[]]}),
    ("queries string", {"queries": "abc"}),
    ("queries of nulls", {"queries": [None]}),
    ("queries of strings", {"queries": [PDQ]}),
    ("labels string", {"hashes": [{"signal_type": "pdq", "value": PDQ, "labels": LABEL}]}),
    ("unicode keys", {"hashes": [{"💥": 1, "\x00": 2, "ü": 3}]}),
    ("extra top-level key", {"hashes": [], "queries": [], "id": "x", "name": "y"}),
]

HUGE_BODIES: list[tuple[str, Any]] = [
    ("200k numbers", [0] * 200_000),
    ("200k hashes numbers", {"hashes": [0] * 200_000}),
    ("200k empty queries", {"queries": [{}] * 200_000}),
    ("200k labels", {"hashes": [{"signal_type": "pdq", "value": PDQ, "labels": ["x"] * 200_000}]}),
]

QUERY_NAMES = ("member", "action", "since", "until", "cursor", "limit", "x")
# Raw bytes, percent-encoded into the query string: some are not even UTF-8.
JUNK_QUERY_VALUES = [
    b"\x00",
    "\u00fc".encode(),
    "\U0001f4a5".encode(),
    b"-1",
    b"99999999999999999999",
    b"9999999999999999999",
    b"\xed\xa0\x80",  # an encoded lone surrogate
    b"\xff\xfe",
    b"x" * 5000,
    b"",
]


def _with_junk_query(url: str, name: str, value: bytes) -> str:
    return f"{url}?{name}={quote(value, safe='')}"


def _leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths to every value of a JSON document: containers and leaves alike."""
    if prefix:
        yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _leaf_paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _leaf_paths(child, (*prefix, index))


def _replace(document: Any, path: tuple[Any, ...], new: Any) -> Any:
    changed = copy.deepcopy(document)
    target = changed
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = new
    return changed


def _string_paths(document: Any) -> list[tuple[Any, ...]]:
    def get(path: tuple[Any, ...]) -> Any:
        target = document
        for part in path:
            target = target[part]
        return target

    return [path for path in _leaf_paths(document) if isinstance(get(path), str)]


# Fields that must differ between requests, or every request after the first one that
# succeeds is refused early (409 member_exists) and the other fields are never reached.
UNIQUE_FIELDS: dict[tuple[str, str], tuple[Any, ...]] = {("POST", "/v1/members"): ("id",)}


def _field_variants(
    template: dict[str, Any], unique: tuple[Any, ...] | None = None
) -> Iterator[tuple[str, Any]]:
    """The template with one field at a time replaced by a wrong type or a nasty string."""
    counter = 0

    def variant(path: tuple[Any, ...], new: Any) -> Any:
        nonlocal counter
        document = _replace(template, path, new)
        if unique is not None and path[: len(unique)] != unique:
            counter += 1
            document = _replace(document, unique, f"garbage-{counter}")
        return document

    for path in _leaf_paths(template):
        where = ".".join(str(part) for part in path)
        for wrong in WRONG_TYPES:
            yield f"{where}={wrong!r:.40}", variant(path, wrong)
    for path in _string_paths(template):
        where = ".".join(str(part) for part in path)
        for nasty in NASTY_STRINGS:
            yield f"{where}={nasty!r:.40}", variant(path, nasty)
    yield "valid template", template


def _is_batch(template: dict[str, Any]) -> bool:
    return isinstance(next(iter(template.values())), list)


def _encode(document: Any) -> bytes:
    # ensure_ascii keeps lone surrogates as \\ud800 escapes, as a hostile client would send.
    return json.dumps(document, ensure_ascii=True).encode()


# --- checking answers ------------------------------------------------------------------------


def shape_problem(response: httpx.Response) -> str | None:
    """Why this answer breaks the error contract, or None if it keeps it."""
    status = response.status_code
    if status >= 500:
        return f"answered {status}: {response.text[:300]}"
    if status < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        return f"{status} without a JSON body: {response.text[:200]!r}"
    if not isinstance(body, dict) or set(body) != {"error"}:
        return f"{status} body is not {{'error': ...}}: {response.text[:200]}"
    error = body["error"]
    if not isinstance(error, dict) or set(error) != {"code", "message", "details"}:
        return f"{status} error lacks code/message/details: {response.text[:200]}"
    if not isinstance(error["code"], str) or not error["code"]:
        return f"{status} error code is not a non-empty string: {error['code']!r}"
    if not isinstance(error["message"], str):
        return f"{status} error message is not a string: {error['message']!r}"
    return None


class Garbage:
    """Sends requests with a lenient client and collects every contract violation."""

    def __init__(self, api: Api) -> None:
        self.api = api
        transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://test")
        self.headers = api.auth("alpha")
        self.problems: list[str] = []

    async def send(
        self,
        method: str,
        url: str,
        label: str,
        content: bytes | None = None,
        content_type: str | None = "application/json",
    ) -> None:
        headers = dict(self.headers)
        if content_type is not None:
            headers["Content-Type"] = content_type
        try:
            response = await self.client.request(method, url, content=content, headers=headers)
        except Exception as exc:  # a crash is a finding, not the end of the walk
            self.problems.append(f"{method} {url[:80]} [{label}]: raised {exc!r:.300}")
            return
        problem = shape_problem(response)
        if problem is not None:
            self.problems.append(f"{method} {url[:80]} [{label}]: {problem}")

    def report(self) -> str:
        shown = "\n".join(self.problems[:40])
        more = f"\n... and {len(self.problems) - 40} more" if len(self.problems) > 40 else ""
        return f"{len(self.problems)} contract violations:\n{shown}{more}"


@pytest.fixture
async def garbage(api: Api) -> AsyncIterator[Garbage]:
    sender = Garbage(api)
    yield sender
    await sender.client.aclose()


# --- garbage to every route ------------------------------------------------------------------


def test_every_api_route_is_walked() -> None:
    assert ("POST", "/v1/hashes") in API_ROUTES
    assert ("POST", "/v1/match") in API_ROUTES
    assert ("DELETE", "/v1/hashes/{hash_id}") in API_ROUTES
    assert len(API_ROUTES) >= 10


async def test_walked_routes_are_those_of_the_running_app(api: Api) -> None:
    assert _api_routes(api.app) == API_ROUTES


@pytest.mark.parametrize(("method", "path"), API_ROUTES, ids=ROUTE_IDS)
async def test_non_json_bodies_never_cause_5xx(garbage: Garbage, method: str, path: str) -> None:
    for label, content in RAW_BODIES:
        await garbage.send(method, _concrete(path), label, content)
        await garbage.send(method, _concrete(path), f"{label} as text/plain", content, "text/plain")
    assert not garbage.problems, garbage.report()


@pytest.mark.parametrize(("method", "path"), API_ROUTES, ids=ROUTE_IDS)
async def test_json_of_wrong_types_never_causes_5xx(
    garbage: Garbage, method: str, path: str
) -> None:
    for label, document in JSON_BODIES:
        await garbage.send(method, _concrete(path), label, _encode(document))
    for template in TEMPLATES.values():  # other routes' bodies, too
        await garbage.send(method, _concrete(path), "foreign body", _encode(template))
    assert not garbage.problems, garbage.report()


@pytest.mark.parametrize(("method", "path"), API_ROUTES, ids=ROUTE_IDS)
async def test_huge_arrays_never_cause_5xx(garbage: Garbage, method: str, path: str) -> None:
    limit = garbage.api.settings.max_body_bytes
    for label, document in HUGE_BODIES:
        content = _encode(document)
        assert len(content) <= limit, f"{label} is over the body limit; shrink it"
        await garbage.send(method, _concrete(path), label, content)
    assert not garbage.problems, garbage.report()


@pytest.mark.parametrize(("method", "path"), API_ROUTES, ids=ROUTE_IDS)
async def test_junk_query_parameters_never_cause_5xx(
    garbage: Garbage, method: str, path: str
) -> None:
    for name in QUERY_NAMES:  # one at a time, so that no other parameter refuses it first
        for value in JUNK_QUERY_VALUES:
            url = _with_junk_query(_concrete(path), name, value)
            await garbage.send(method, url, f"{name}={value!r:.30}", None, None)
    assert not garbage.problems, garbage.report()


UNDECLARED_QUERIES = ["=16", "&=16", "x=1", "limt=10", "LIMIT=10"]


@pytest.mark.parametrize(("method", "path"), API_ROUTES, ids=ROUTE_IDS)
async def test_undeclared_query_parameters_are_422_unknown_query_parameter(
    api: Api, method: str, path: str
) -> None:
    """A parameter the route does not take (a blank name, a misspelling, the wrong case) is
    refused, not ignored: the caller learns its filter or limit was not applied."""
    declared = sorted(_declared_query_names(api.app, method, path))
    problems = []
    for query in UNDECLARED_QUERIES:
        response = await api.client.request(
            method, f"{_concrete(path)}?{query}", headers=api.auth("alpha")
        )
        error = response.json().get("error", {}) if response.status_code == 422 else {}
        if error.get("code") != "unknown_query_parameter":
            problems.append(f"?{query}: {response.status_code} {response.text[:120]}")
        elif error["details"]["allowed"] != declared:
            problems.append(f"?{query}: allowed {error['details']['allowed']} != {declared}")
    assert not problems, "\n".join(problems)


def _declared_query_names(app: FastAPI, method: str, path: str) -> set[str]:
    for original, route in _route_contexts(app):
        if isinstance(original, APIRoute) and route.path == path and method in route.methods:
            return set(declared_query_parameters(original))
    raise AssertionError(f"no route {method} {path}")


async def test_unknown_query_parameter_names_the_unknown_and_allowed_ones(api: Api) -> None:
    response = await api.client.get(
        "/v1/stats?=16&since=2026-01-01T00:00:00Z", headers=api.auth("alpha")
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unknown_query_parameter"
    assert error["details"] == {"unknown": [""], "allowed": ["since", "until"]}


async def test_declared_query_parameters_are_still_accepted(api: Api) -> None:
    response = await api.client.get(
        "/v1/stats", params={"since": "2026-01-01T00:00:00Z"}, headers=api.auth("alpha")
    )
    assert response.status_code == 200, response.text


PARAM_ROUTES = [(m, p) for m, p in API_ROUTES if _PATH_PARAM.search(p)]


@pytest.mark.parametrize(
    ("method", "path"), PARAM_ROUTES, ids=[f"{m} {p}" for m, p in PARAM_ROUTES]
)
async def test_junk_path_parameters_never_cause_5xx(
    garbage: Garbage, method: str, path: str
) -> None:
    template = TEMPLATES.get((method, path))
    for value in JUNK_PATH_VALUES:
        url = _fill(path, value)
        await garbage.send(method, url, f"path={value!r:.30}", None, None)
        await garbage.send(method, url, f"path={value!r:.30} + body", b"\xff{", "application/json")
        if template is not None:
            await garbage.send(method, url, f"path={value!r:.30} + template", _encode(template))
    assert not garbage.problems, garbage.report()


@pytest.mark.parametrize("value", ["abc", "-1", "0", "99999999999999999999999", "ü", "\u0661"])
@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_junk_hash_id_is_refused_as_a_client_error(api: Api, method: str, value: str) -> None:
    response = await api.client.request(
        method, f"/v1/hashes/{quote(value)}", headers=api.auth("alpha")
    )
    assert 400 <= response.status_code < 500, response.text
    assert shape_problem(response) is None


TEMPLATE_ROUTES = sorted(TEMPLATES)


@pytest.mark.parametrize(
    ("method", "path"), TEMPLATE_ROUTES, ids=[f"{m} {p}" for m, p in TEMPLATE_ROUTES]
)
async def test_wrong_types_and_nasty_strings_in_every_field_never_cause_5xx(
    garbage: Garbage, method: str, path: str
) -> None:
    assert (method, path) in API_ROUTES
    unique = UNIQUE_FIELDS.get((method, path))
    for label, document in _field_variants(TEMPLATES[(method, path)], unique):
        await garbage.send(method, path, label, _encode(document))
    assert not garbage.problems, garbage.report()


BATCH_ROUTES = [route for route, template in TEMPLATES.items() if _is_batch(template)]


@pytest.mark.parametrize(
    ("method", "path"), BATCH_ROUTES, ids=[f"{m} {p}" for m, p in BATCH_ROUTES]
)
async def test_nasty_strings_in_a_batch_never_cause_5xx(
    garbage: Garbage, method: str, path: str
) -> None:
    template = TEMPLATES[(method, path)]
    key = next(iter(template))
    item = template[key][0]
    batch = [
        _replace(item, field, nasty) for field in _string_paths(item) for nasty in NASTY_STRINGS
    ]
    await garbage.send(method, path, "mixed batch", _encode({**template, key: batch}))
    assert not garbage.problems, garbage.report()


# --- unknown paths and methods ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/v1/nope", "/v2/match", "/v1/hashes/1/extra", "/ü"])
async def test_unknown_path_is_404_not_found(api: Api, path: str) -> None:
    response = await api.client.get(quote(path), headers=api.auth("alpha"))
    assert response.status_code == 404
    assert shape_problem(response) is None
    assert response.json()["error"]["code"] == "not_found"


async def test_unknown_path_without_token_is_still_404(api: Api) -> None:
    response = await api.client.post("/v1/nothing-here", content=b"garbage")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/match", "POST"),
        ("GET", "/v1/match", "POST"),
        ("DELETE", "/v1/audit", "GET"),
        ("PATCH", "/v1/hashes", "POST"),
        ("PUT", "/v1/hashes/1", "GET"),
    ],
)
async def test_wrong_method_is_405_method_not_allowed(
    api: Api, method: str, path: str, allowed: str
) -> None:
    response = await api.client.request(method, path, headers=api.auth("alpha"), json={})
    assert response.status_code == 405
    assert shape_problem(response) is None
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert allowed in response.headers.get("allow", "")


# --- body limit ------------------------------------------------------------------------------

SMALL_LIMIT = 4096


@pytest.fixture
async def small_api(settings: Settings, api_factory: Any) -> Api:
    limited = settings.model_copy(update={"max_body_bytes": SMALL_LIMIT})
    started: Api = await api_factory(limited)
    await started.add_member("alpha")
    return started


def _match_body_of_size(size: int) -> bytes:
    """A valid match request padded with whitespace to exactly `size` bytes."""
    body = _encode({"queries": [{"signal_type": "pdq", "value": PDQ}]})
    assert len(body) <= size
    return body + b" " * (size - len(body))


async def test_body_over_the_limit_with_content_length_is_413(small_api: Api) -> None:
    content = _match_body_of_size(SMALL_LIMIT + 1)
    response = await small_api.client.post(
        "/v1/match",
        content=content,
        headers={**small_api.auth("alpha"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert shape_problem(response) is None
    assert response.json()["error"]["code"] == "payload_too_large"


async def _chunks(total: int, chunk: int = 1000) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        piece = min(chunk, total - sent)
        sent += piece
        yield b" " * piece


async def test_streamed_body_over_the_limit_is_413(small_api: Api) -> None:
    request = small_api.client.build_request(
        "POST",
        "/v1/match",
        content=_chunks(SMALL_LIMIT * 3),
        headers={**small_api.auth("alpha"), "Content-Type": "application/json"},
    )
    assert "content-length" not in request.headers
    assert request.headers.get("transfer-encoding") == "chunked"
    response = await small_api.client.send(request)
    assert response.status_code == 413
    assert shape_problem(response) is None
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_declared_length_over_the_limit_is_refused_before_auth(small_api: Api) -> None:
    response = await small_api.client.post(
        "/v1/match", content=_match_body_of_size(SMALL_LIMIT * 2)
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_body_exactly_at_the_limit_is_accepted(small_api: Api) -> None:
    response = await small_api.client.post(
        "/v1/match",
        content=_match_body_of_size(SMALL_LIMIT),
        headers={**small_api.auth("alpha"), "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text


async def test_streamed_body_under_the_limit_is_accepted(small_api: Api) -> None:
    body = _match_body_of_size(SMALL_LIMIT - 10)

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 500):
            yield body[start : start + 500]

    response = await small_api.client.post(
        "/v1/match",
        content=stream(),
        headers={**small_api.auth("alpha"), "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text


async def test_oversized_request_carries_a_request_id(small_api: Api) -> None:
    response = await small_api.client.post(
        "/v1/match",
        content=_match_body_of_size(SMALL_LIMIT + 1),
        headers={"X-Request-ID": "big-upload-1"},
    )
    assert response.status_code == 413
    assert response.headers["x-request-id"] == "big-upload-1"


# --- malformed JSON --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b'{"queries": [',
        b"{'queries': []}",
        b'{"queries": []} trailing',
        b"not json at all",
        b'{"queries": [\x00]}',
    ],
    ids=["truncated", "single quotes", "trailing", "prose", "NUL"],
)
@pytest.mark.parametrize("path", ["/v1/match", "/v1/hashes", "/v1/members"])
async def test_malformed_json_is_400_malformed_json(api: Api, path: str, content: bytes) -> None:
    response = await api.client.post(
        path, content=content, headers={**api.auth("alpha"), "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert shape_problem(response) is None
    assert response.json()["error"]["code"] == "malformed_json"


async def test_json_that_is_not_utf8_is_400_malformed_json(api: Api) -> None:
    response = await api.client.post(
        "/v1/match",
        content=b'{"queries": [{"signal_type": "pdq", "value": "\xff\xfe"}]}',
        headers={**api.auth("alpha"), "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "malformed_json"


async def test_malformed_json_stores_nothing(api: Api) -> None:
    before = await api.sql("select count(*) from hashes")
    await api.client.post(
        "/v1/hashes",
        content=b'{"hashes": [{"signal_type": "pdq"',
        headers={**api.auth("alpha"), "Content-Type": "application/json"},
    )
    assert await api.sql("select count(*) from hashes") == before


async def test_wrong_json_type_is_422_validation_error(api: Api) -> None:
    response = await api.client.post("/v1/match", json=[], headers=api.auth("alpha"))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def test_validation_error_does_not_echo_the_input(api: Api) -> None:
    secret = "c0ffee" * 10
    response = await api.client.post(
        "/v1/match",
        json={"queries": [{"value": 5, "signal_type": secret}], "x": secret},
        headers=api.auth("alpha"),
    )
    assert response.status_code == 422
    assert secret not in response.text


# --- request ids -------------------------------------------------------------------------------


@pytest.mark.parametrize("request_id", ["abc-123", "A.b_C-9", "x" * 64, "0"])
async def test_sane_request_id_is_echoed(api: Api, request_id: str) -> None:
    response = await api.client.get("/healthz", headers={"X-Request-ID": request_id})
    assert response.headers["x-request-id"] == request_id


@pytest.mark.parametrize(
    "request_id",
    [b"", b"has spaces", b"x" * 65, "\u00fc".encode(), b"<script>", b"a/b", b"a;b=c", b"\xff"],
    ids=["empty", "spaces", "too long", "unicode", "markup", "slash", "semicolon", "binary"],
)
async def test_insane_request_id_is_replaced(api: Api, request_id: bytes) -> None:
    response = await api.client.get("/healthz", headers={"X-Request-ID": request_id})
    echoed = response.headers["x-request-id"]
    assert echoed.encode() != request_id
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", echoed)


async def test_missing_request_id_is_generated(api: Api) -> None:
    first = await api.client.get("/healthz")
    second = await api.client.get("/healthz")
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_error_responses_carry_the_request_id(api: Api) -> None:
    response = await api.client.get("/v1/nope", headers={"X-Request-ID": "lost-1"})
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "lost-1"


async def test_refused_token_response_carries_the_request_id(api: Api) -> None:
    response = await api.client.get("/v1/labels", headers={"X-Request-ID": "who-1"})
    assert response.status_code == 401
    assert response.headers["x-request-id"] == "who-1"
