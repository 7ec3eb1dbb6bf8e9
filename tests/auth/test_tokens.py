"""Token verification and issue, without a database or a web framework.

The verifier pins the accepted algorithms from configuration; these tests play the usual
attacks on JWT verifiers (alg none, HS/RS confusion, forged or stale claims) and check that
each is refused with its stable error code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from hashshare.auth.tokens import REQUIRED_CLAIMS, TokenError, TokenVerifier, issue_token
from hashshare.config import DEFAULT_DEV_SECRET, ConfigError, Settings
from tests.conftest import AUDIT_KEY

ISSUER = "hashshare"
AUDIENCE = "hashshare"


@pytest.fixture(autouse=True)
def _no_hashshare_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read HASHSHARE_* variables; these tests construct every setting themselves."""
    import os

    for name in list(os.environ):
        if name.startswith("HASHSHARE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HASHSHARE_AUDIT_KEY", AUDIT_KEY)


# --- helpers -------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(obj: dict[str, Any]) -> str:
    return _b64url(json.dumps(obj, separators=(",", ":")).encode())


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "analyst-1",
        "member": "alpha",
        "scope": "hashes:match hashes:submit",
        "iat": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return claims


def _hand_signed_hs256(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    """An HS256 token built without PyJWT, which refuses to use a PEM key as an HMAC secret."""
    signing_input = f"{_segment(header)}.{_segment(payload)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


def _unsigned(alg: str, payload: dict[str, Any]) -> str:
    return f"{_segment({'alg': alg, 'typ': 'JWT'})}.{_segment(payload)}."


def _public_pem(private_key: Any) -> str:
    pem: bytes = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


def _private_pem(private_key: Any) -> bytes:
    return bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _dev_settings(**overrides: Any) -> Settings:
    return Settings(dev_mode=True, **overrides)


def _dev_token(payload: dict[str, Any], secret: str = DEFAULT_DEV_SECRET) -> str:
    return jwt.encode(payload, secret, algorithm="HS256")


def _refusal(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(TokenError) as refused:
        verifier.verify(token)
    return refused.value.code


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return _rsa_key()


@pytest.fixture
def rs256_settings(rsa_key: rsa.RSAPrivateKey) -> Settings:
    return Settings(jwt_algorithms=["RS256"], jwt_public_keys={"prod-1": _public_pem(rsa_key)})


# --- development mode (HS256 with the shared secret) -----------------------------------------


def test_dev_mode_token_issued_by_the_service_is_accepted() -> None:
    settings = _dev_settings()
    token = issue_token(
        settings, member="alpha", scopes=["hashes:match"], sub="pipeline", ttl_seconds=600
    )

    claims = TokenVerifier(settings).verify(token)

    assert claims.sub == "pipeline"
    assert claims.member == "alpha"
    assert claims.scopes == frozenset({"hashes:match"})
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_expiry_of_an_issued_token_is_now_plus_ttl() -> None:
    settings = _dev_settings()
    token = issue_token(
        settings, member="alpha", scopes=["admin"], sub="ops", ttl_seconds=120, now=int(time.time())
    )

    claims = TokenVerifier(settings).verify(token)

    payload = jwt.decode(token, options={"verify_signature": False})
    assert claims.expires_at == payload["exp"] == payload["iat"] + 120


def test_unknown_scopes_in_a_token_are_ignored() -> None:
    settings = _dev_settings()
    token = _dev_token(_claims(scope="hashes:match root superuser"))

    claims = TokenVerifier(settings).verify(token)

    assert claims.scopes == frozenset({"hashes:match"})


def test_issuing_a_token_with_an_unknown_scope_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scopes"):
        issue_token(_dev_settings(), member="alpha", scopes=["root"], sub="x", ttl_seconds=60)


# --- algorithm attacks ---------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_unsigned_token_with_alg_none_is_refused(alg: str) -> None:
    verifier = TokenVerifier(_dev_settings())

    assert _refusal(verifier, _unsigned(alg, _claims())) == "unsupported_algorithm"


def test_unsigned_token_is_refused_by_a_production_verifier(rs256_settings: Settings) -> None:
    verifier = TokenVerifier(rs256_settings)

    assert _refusal(verifier, _unsigned("none", _claims())) == "unsupported_algorithm"


@pytest.mark.parametrize("with_kid", [True, False], ids=["with-kid", "without-kid"])
def test_hs256_token_signed_with_the_rsa_public_key_is_refused(
    rs256_settings: Settings, rsa_key: rsa.RSAPrivateKey, with_kid: bool
) -> None:
    # The classic HS/RS confusion: the attacker knows the public key and uses its PEM bytes
    # as an HMAC secret, hoping the verifier hands the same "key" to HS256.
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT"}
    if with_kid:
        header["kid"] = "prod-1"
    forged = _hand_signed_hs256(header, _claims(scope="admin"), _public_pem(rsa_key).encode())

    assert _refusal(TokenVerifier(rs256_settings), forged) == "unsupported_algorithm"


def test_hs256_confusion_token_claiming_rs256_in_its_header_is_refused(
    rs256_settings: Settings, rsa_key: rsa.RSAPrivateKey
) -> None:
    forged = _hand_signed_hs256(
        {"alg": "RS256", "typ": "JWT", "kid": "prod-1"},
        _claims(scope="admin"),
        _public_pem(rsa_key).encode(),
    )

    assert _refusal(TokenVerifier(rs256_settings), forged) == "invalid_signature"


def test_dev_mode_token_is_refused_by_a_production_verifier(rs256_settings: Settings) -> None:
    token = _dev_token(_claims())

    assert _refusal(TokenVerifier(rs256_settings), token) == "unsupported_algorithm"


def test_token_with_an_algorithm_outside_the_configured_list_is_refused(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    # RS512 would verify with this very key; it is refused because it is not configured.
    settings = Settings(jwt_algorithms=["RS256"], jwt_public_keys={"k": _public_pem(rsa_key)})
    token = jwt.encode(_claims(), rsa_key, algorithm="RS512", headers={"kid": "k"})

    assert _refusal(TokenVerifier(settings), token) == "unsupported_algorithm"


# --- time, issuer, audience, required claims ------------------------------------------------


def test_expired_token_is_refused() -> None:
    settings = _dev_settings()
    an_hour_ago = int(time.time()) - 3600
    token = issue_token(
        settings, member="alpha", scopes=["admin"], sub="x", ttl_seconds=60, now=an_hour_ago
    )

    assert _refusal(TokenVerifier(settings), token) == "token_expired"


def test_token_whose_not_before_is_in_the_future_is_refused() -> None:
    token = _dev_token(_claims(nbf=int(time.time()) + 3600))

    assert _refusal(TokenVerifier(_dev_settings()), token) == "token_not_yet_valid"


def test_token_from_another_issuer_is_refused() -> None:
    token = _dev_token(_claims(iss="someone-else"))

    assert _refusal(TokenVerifier(_dev_settings()), token) == "invalid_issuer"


def test_token_for_another_audience_is_refused() -> None:
    token = _dev_token(_claims(aud="another-service"))

    assert _refusal(TokenVerifier(_dev_settings()), token) == "invalid_audience"


def test_configured_issuer_and_audience_are_the_ones_checked() -> None:
    settings = _dev_settings(jwt_issuer="https://idp.example", jwt_audience="hashshare-prod")
    verifier = TokenVerifier(settings)

    good = _dev_token(_claims(iss="https://idp.example", aud="hashshare-prod"))
    default = _dev_token(_claims())

    assert verifier.verify(good).member == "alpha"
    assert _refusal(verifier, default) == "invalid_issuer"


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
def test_token_missing_a_required_claim_is_refused(claim: str) -> None:
    payload = _claims()
    del payload[claim]

    assert _refusal(TokenVerifier(_dev_settings()), _dev_token(payload)) == "missing_claim"


def test_required_claims_are_the_ones_of_the_design() -> None:
    assert set(REQUIRED_CLAIMS) == {"iss", "aud", "sub", "exp", "iat", "member", "scope"}


@pytest.mark.parametrize(
    ("claim", "value"),
    [("sub", ""), ("member", ""), ("member", 42), ("scope", ["admin"])],
)
def test_token_with_a_claim_of_the_wrong_shape_is_refused(claim: str, value: Any) -> None:
    token = _dev_token(_claims(**{claim: value}))

    assert _refusal(TokenVerifier(_dev_settings()), token) == "invalid_claim"


# --- signatures and garbage ----------------------------------------------------------------


def test_token_signed_with_another_secret_is_refused() -> None:
    token = _dev_token(_claims(), secret="an-attacker-secret-that-is-long-enough-1234")

    assert _refusal(TokenVerifier(_dev_settings()), token) == "invalid_signature"


def test_token_whose_payload_was_altered_is_refused() -> None:
    header, _, signature = _dev_token(_claims(scope="hashes:match")).split(".")
    altered = f"{header}.{_segment(_claims(scope='admin'))}.{signature}"

    assert _refusal(TokenVerifier(_dev_settings()), altered) == "invalid_signature"


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not-a-jwt",
        "a.b.c",
        "....",
        "eyJhbGciOiJIUzI1NiJ9",
        "eyJhbGciOiJIUzI1NiJ9.%%%.sig",
        "\u00e9\u00e8.\u2603.\U0001f600",
        "x" * 10_000,
    ],
    ids=["empty", "word", "dots", "many-dots", "header-only", "bad-base64", "unicode", "huge"],
)
def test_garbage_is_refused_as_a_malformed_token(garbage: str) -> None:
    assert _refusal(TokenVerifier(_dev_settings()), garbage) == "malformed_token"


# --- asymmetric keys -----------------------------------------------------------------------


def _jwk(private_key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
    return jwk


@pytest.fixture
def jwks_keys(tmp_path: Path) -> tuple[Settings, rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    first, second = _rsa_key(), _rsa_key()
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [_jwk(first, "2024-01"), _jwk(second, "2024-07")]}))
    return Settings(jwt_algorithms=["RS256"], jwks_file=path), first, second


def test_rs256_tokens_are_verified_with_the_jwks_key_named_by_kid(
    jwks_keys: tuple[Settings, rsa.RSAPrivateKey, rsa.RSAPrivateKey],
) -> None:
    settings, first, second = jwks_keys
    verifier = TokenVerifier(settings)

    old = jwt.encode(_claims(sub="old"), first, algorithm="RS256", headers={"kid": "2024-01"})
    new = jwt.encode(_claims(sub="new"), second, algorithm="RS256", headers={"kid": "2024-07"})

    assert verifier.verify(old).sub == "old"
    assert verifier.verify(new).sub == "new"


def test_rs256_token_naming_the_kid_of_another_key_is_refused(
    jwks_keys: tuple[Settings, rsa.RSAPrivateKey, rsa.RSAPrivateKey],
) -> None:
    settings, first, _ = jwks_keys
    token = jwt.encode(_claims(), first, algorithm="RS256", headers={"kid": "2024-07"})

    assert _refusal(TokenVerifier(settings), token) == "invalid_signature"


def test_token_with_an_unknown_kid_is_refused(
    jwks_keys: tuple[Settings, rsa.RSAPrivateKey, rsa.RSAPrivateKey],
) -> None:
    settings, first, _ = jwks_keys
    token = jwt.encode(_claims(), first, algorithm="RS256", headers={"kid": "2099-01"})

    assert _refusal(TokenVerifier(settings), token) == "unknown_key"


def test_token_without_kid_is_refused_when_several_keys_are_configured(
    jwks_keys: tuple[Settings, rsa.RSAPrivateKey, rsa.RSAPrivateKey],
) -> None:
    settings, first, _ = jwks_keys
    token = jwt.encode(_claims(), first, algorithm="RS256")

    assert _refusal(TokenVerifier(settings), token) == "unknown_key"


def test_token_signed_by_a_key_outside_the_jwks_is_refused(
    jwks_keys: tuple[Settings, rsa.RSAPrivateKey, rsa.RSAPrivateKey],
) -> None:
    settings, _, _ = jwks_keys
    token = jwt.encode(_claims(), _rsa_key(), algorithm="RS256", headers={"kid": "2024-01"})

    assert _refusal(TokenVerifier(settings), token) == "invalid_signature"


def test_es256_and_eddsa_tokens_are_verified_with_configured_public_keys() -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    settings = Settings(
        jwt_algorithms=["ES256", "EdDSA"],
        jwt_public_keys={"ec-1": _public_pem(ec_key), "ed-1": _public_pem(ed_key)},
    )
    verifier = TokenVerifier(settings)

    es = jwt.encode(_claims(sub="ec"), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    ed = jwt.encode(_claims(sub="ed"), ed_key, algorithm="EdDSA", headers={"kid": "ed-1"})

    assert verifier.verify(es).sub == "ec"
    assert verifier.verify(ed).sub == "ed"


def test_es256_token_naming_the_eddsa_key_is_refused() -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    settings = Settings(
        jwt_algorithms=["ES256", "EdDSA"],
        jwt_public_keys={"ec-1": _public_pem(ec_key), "ed-1": _public_pem(ed_key)},
    )
    token = jwt.encode(_claims(), ec_key, algorithm="ES256", headers={"kid": "ed-1"})

    with pytest.raises(TokenError) as refused:
        TokenVerifier(settings).verify(token)
    assert refused.value.code in {"unsupported_algorithm", "invalid_signature"}


def test_single_configured_key_verifies_a_token_without_kid(
    rs256_settings: Settings, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = jwt.encode(_claims(), rsa_key, algorithm="RS256")

    assert TokenVerifier(rs256_settings).verify(token).member == "alpha"


def test_public_key_that_is_not_pem_stops_the_verifier() -> None:
    settings = Settings(jwt_algorithms=["RS256"], jwt_public_keys={"k": "not a key"})

    with pytest.raises(ConfigError):
        TokenVerifier(settings)


def test_jwks_key_without_kid_stops_the_verifier(tmp_path: Path) -> None:
    jwk = _jwk(_rsa_key(), "x")
    del jwk["kid"]
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))

    with pytest.raises(ConfigError, match="kid"):
        TokenVerifier(Settings(jwt_algorithms=["RS256"], jwks_file=path))


def test_unreadable_jwks_file_stops_the_verifier(tmp_path: Path) -> None:
    settings = Settings(jwt_algorithms=["RS256"], jwks_file=tmp_path / "missing.json")

    with pytest.raises(ConfigError, match="JWKS"):
        TokenVerifier(settings)


# --- issuing tokens outside development mode -----------------------------------------------


@pytest.mark.parametrize(
    ("make_key", "algorithm"),
    [
        (_rsa_key, "RS256"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
        (ed25519.Ed25519PrivateKey.generate, "EdDSA"),
    ],
    ids=["rsa", "ec", "ed25519"],
)
def test_production_token_issued_with_the_private_key_is_verified(
    tmp_path: Path, make_key: Any, algorithm: str
) -> None:
    private_key = make_key()
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(_private_pem(private_key))
    settings = Settings(
        jwt_public_keys={"prod-2025": _public_pem(private_key), "other": _public_pem(_rsa_key())},
        jwt_private_key_file=key_file,
        jwt_private_key_id="prod-2025",
    )

    token = issue_token(
        settings, member="beta", scopes=["hashes:submit"], sub="analyst", ttl_seconds=300
    )

    header = jwt.get_unverified_header(token)
    assert header["alg"] == algorithm
    assert header["kid"] == "prod-2025"
    claims = TokenVerifier(settings).verify(token)
    assert (claims.member, claims.sub, claims.scopes) == (
        "beta",
        "analyst",
        frozenset({"hashes:submit"}),
    )


def test_issuing_a_token_outside_dev_mode_without_a_private_key_is_refused(
    rs256_settings: Settings,
) -> None:
    with pytest.raises(ConfigError, match="HASHSHARE_JWT_PRIVATE_KEY_FILE"):
        issue_token(rs256_settings, member="alpha", scopes=["admin"], sub="x", ttl_seconds=60)


def test_issuing_with_a_key_whose_algorithm_is_not_accepted_is_refused(tmp_path: Path) -> None:
    ed_key = ed25519.Ed25519PrivateKey.generate()
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(_private_pem(ed_key))
    settings = Settings(
        jwt_algorithms=["RS256"],
        jwt_public_keys={"k": _public_pem(_rsa_key())},
        jwt_private_key_file=key_file,
    )

    with pytest.raises(ConfigError, match="EdDSA"):
        issue_token(settings, member="alpha", scopes=["admin"], sub="x", ttl_seconds=60)
