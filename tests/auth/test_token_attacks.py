"""Crafted tokens: each refused with its documented code, and the refusal audited."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from hashshare.config import Settings
from tests.conftest import AUDIT_KEY, Api


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(scope: str = "hashes:match", member: str = "alpha") -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": "hashshare",
        "aud": "hashshare",
        "sub": "crafted",
        "member": member,
        "scope": scope,
        "iat": now,
        "exp": now + 600,
    }


def _hs256(api: Api, header_json: str, payload_json: str) -> str:
    """A token signed with the service's development secret, from JSON text as written (so
    that it can repeat a member, which no JSON library writes)."""
    signing_input = f"{_b64(header_json.encode())}.{_b64(payload_json.encode())}"
    secret = str(api.settings.jwt_secret).encode()
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


async def _refusal(api: Api, token: str, path: str = "/v1/labels") -> tuple[int, str, Any]:
    response = await api.client.get(path, headers={"Authorization": f"Bearer {token}"})
    rows = await api.sql(
        "SELECT action, details FROM audit_events WHERE outcome = 'denied' ORDER BY id DESC"
    )
    details = rows[0][1] if rows else None
    if isinstance(details, str):
        details = json.loads(details)
    return response.status_code, response.json()["error"]["code"], (rows[0][0], details)


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document)[1:-1]  # members without the braces, to add repeats


@pytest.mark.parametrize(
    ("header", "extra"),
    [
        ('{"alg": "HS256", "typ": "JWT"}', ', "scope": "admin"'),  # scope given twice
        ('{"alg": "HS256", "typ": "JWT"}', ', "member": "beta"'),  # member given twice
        ('{"alg": "none", "alg": "HS256"}', ""),  # alg given twice in the header
    ],
)
async def test_a_token_repeating_a_claim_is_refused(api: Api, header: str, extra: str) -> None:
    token = _hs256(api, header, "{" + _json(_claims()) + extra + "}")
    status, code, (action, details) = await _refusal(api, token)
    assert (status, code) == (401, "duplicate_claim")
    assert (action, details["code"]) == ("auth.failed", "duplicate_claim")


@pytest.mark.parametrize(
    "scope",
    [
        "ADMIN",
        "Admin",
        "admin\u200b",  # zero-width space
        "\u0430dmin",  # Cyrillic a
        "*",
        "hashes:*",
        "admin,audit:read",
        "hashes:match\tadmin",
        "hashes:match\nadmin",
        "hashes:match\u00a0admin",  # no-break space
        "hashes:match\u2003admin",  # em space
    ],
)
async def test_a_scope_crafted_to_widen_access_grants_nothing_more(api: Api, scope: str) -> None:
    token = jwt.encode(_claims(scope), str(api.settings.jwt_secret), algorithm="HS256")
    status, code, (action, details) = await _refusal(api, token, "/v1/members")
    assert (status, code) == (403, "insufficient_scope")
    assert (action, details["code"]) == ("auth.forbidden", "insufficient_scope")


async def test_an_oversized_token_or_header_is_refused(api: Api) -> None:
    claims = {**_claims(), "padding": "x" * 9000}
    token = jwt.encode(claims, str(api.settings.jwt_secret), algorithm="HS256")
    for bearer in (token, "a" * 1_000_000):
        status, code, (action, details) = await _refusal(api, bearer)
        assert (status, code) == (401, "malformed_token")
        assert (action, details["code"]) == ("auth.failed", "malformed_token")


def _pem(key: Any) -> str:
    pem: bytes = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


@pytest.mark.parametrize(
    "kid",
    [
        "../../../../etc/passwd",
        "/etc/hostname",
        "file:///etc/passwd",
        "http://127.0.0.1:1/jwks.json",
        "idp-1/../idp-1",
        "idp-1\u0000",
        "idp-1 ",
        "IDP-1",
    ],
)
async def test_a_kid_with_path_or_url_characters_names_no_key(
    database_url: str, api_factory: Callable[[Settings], Awaitable[Api]], kid: str
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    api = await api_factory(
        Settings(
            database_url=database_url,
            audit_key=AUDIT_KEY,
            jwt_public_keys={"idp-1": _pem(key), "idp-2": _pem(key)},
        )
    )
    await api.add_member("alpha")
    token = jwt.encode(_claims(), key, algorithm="RS256", headers={"kid": kid})
    status, code, (action, details) = await _refusal(api, token)
    assert (status, code) == (401, "unknown_key")
    assert (action, details["code"]) == ("auth.failed", "unknown_key")


async def test_a_valid_token_of_a_suspended_member_is_refused_and_audited(api: Api) -> None:
    from hashshare.auth.principal import Actor

    runtime = api.app.state.runtime
    async with runtime.database.unit() as uow:
        await runtime.members.suspend(uow, Actor("cli:operator", None, None), "alpha", None)
    await runtime.access.refresh()
    token = jwt.encode(_claims(), str(api.settings.jwt_secret), algorithm="HS256")
    status, code, (action, details) = await _refusal(api, token)
    assert (status, code) == (403, "member_suspended")
    assert (action, details["code"]) == ("auth.failed", "member_suspended")
    rows = await api.sql(
        "SELECT actor, member_id FROM audit_events WHERE action = 'auth.failed' ORDER BY id DESC"
    )
    assert rows[0] == ("crafted", "alpha")


async def test_a_token_naming_a_revoked_jti_is_refused_even_with_other_claims(api: Api) -> None:
    from hashshare.auth.principal import Actor

    runtime = api.app.state.runtime
    async with runtime.database.unit() as uow:
        await runtime.members.revoke_token(uow, Actor("cli:operator", None, None), "j-1", None)
    await runtime.access.refresh()
    # A fresh signature, another subject and scope: the jti alone decides.
    claims = {**_claims(scope="audit:read"), "sub": "someone-else", "jti": "j-1"}
    token = jwt.encode(claims, str(api.settings.jwt_secret), algorithm="HS256")
    status, code, (action, details) = await _refusal(api, token)
    assert (status, code) == (401, "token_revoked")
    assert (action, details["code"]) == ("auth.failed", "token_revoked")


@pytest.mark.parametrize("jti", [17, "", "j" * 201, ["j-1"]])
async def test_a_malformed_jti_claim_is_refused(api: Api, jti: Any) -> None:
    token = jwt.encode({**_claims(), "jti": jti}, str(api.settings.jwt_secret), algorithm="HS256")
    status, code, (action, details) = await _refusal(api, token)
    assert (status, code) == (401, "invalid_claim")
    assert (action, details["code"]) == ("auth.failed", "invalid_claim")
