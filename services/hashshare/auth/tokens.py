"""Issuing and verifying JWT bearer tokens with PyJWT. No web framework here.

The accepted algorithms come from settings and are passed to PyJWT as the only ones allowed;
the token header's `alg` is checked against them before any key is chosen, so `alg: none`
and HS/RS confusion are refused up front. Asymmetric keys are picked by `kid`.
"""

from __future__ import annotations

import binascii
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.utils import base64url_decode

from hashshare.auth.scopes import ALL_SCOPES
from hashshare.config import SYMMETRIC_ALGORITHMS, ConfigError, Settings

REQUIRED_CLAIMS = ("iss", "aud", "sub", "exp", "iat", "member", "scope")
MAX_TOKEN_LENGTH = 8192
VERIFIED_CACHE_SIZE = 10_000
MAX_JTI_LENGTH = 200


class TokenError(Exception):
    """A token was refused; `code` is the stable error code sent to the client."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class TokenClaims:
    sub: str
    member: str
    scopes: frozenset[str]
    expires_at: int
    issued_at: int
    # The token's own id (`jti`): what `hashshare token revoke --jti` names.
    jti: str | None = None


def _load_public_key(pem: str) -> Any:
    try:
        return serialization.load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise ConfigError(f"a configured JWT public key is not a PEM public key: {exc}") from exc


def _algorithm_for_private_key(key: Any) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ES256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    raise ConfigError("the private key must be RSA, EC P-256 or Ed25519")


class TokenVerifier:
    """Verifies bearer tokens against the configured algorithms, keys, issuer and audience."""

    def __init__(self, settings: Settings) -> None:
        self.algorithms = list(settings.jwt_algorithms)
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.leeway = settings.jwt_leeway_seconds
        self._symmetric = bool(set(self.algorithms) & SYMMETRIC_ALGORITHMS)
        self._secret = settings.jwt_secret
        self._keys: dict[str, Any] = {}
        self._verified: dict[str, TokenClaims] = {}
        if not self._symmetric:
            for kid, pem in settings.jwt_public_keys.items():
                self._keys[kid] = _load_public_key(pem)
            if settings.jwks_file is not None:
                try:
                    jwks = jwt.PyJWKSet.from_json(settings.jwks_file.read_text())
                except (OSError, jwt.PyJWTError, json.JSONDecodeError) as exc:
                    raise ConfigError(f"cannot load JWKS file {settings.jwks_file}: {exc}") from exc
                for jwk in jwks.keys:
                    if jwk.key_id is None:
                        raise ConfigError("every key in the JWKS file needs a kid")
                    self._keys[jwk.key_id] = jwk.key
            if not self._keys:
                raise ConfigError("no JWT verification keys configured")

    def _key_for(self, header: dict[str, Any]) -> Any:
        if self._symmetric:
            return self._secret
        kid = header.get("kid")
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        if not isinstance(kid, str) or kid not in self._keys:
            raise TokenError("unknown_key", "token is signed with an unknown key (kid)")
        return self._keys[kid]

    def verify(self, token: str) -> TokenClaims:
        """Return the claims of a valid token or raise TokenError.

        Upload pipelines send the same token thousands of times a second: a token that
        verified is remembered (by its exact bytes) until it expires, which spares the
        signature check without changing what is accepted.
        """
        cached = self._verified.get(token)
        if cached is not None and cached.expires_at > time.time() - self.leeway:
            return cached
        claims = self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def _verify(self, token: str) -> TokenClaims:
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenError("malformed_token", "token is too long")
        _refuse_repeated_members(token)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenError("malformed_token", "token is not a well-formed JWT") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise TokenError("unsupported_algorithm", f"token algorithm {alg!r} is not accepted")
        key = self._key_for(header)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token_expired", "token has expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenError("token_not_yet_valid", "token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise TokenError("invalid_audience", "token audience is not this service") from None
        except jwt.InvalidIssuerError:
            raise TokenError("invalid_issuer", "token issuer is not trusted") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError("missing_claim", f"token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise TokenError("invalid_signature", "token signature does not verify") from None
        except (jwt.InvalidKeyError, jwt.InvalidAlgorithmError, TypeError, ValueError):
            # PyJWT raises TypeError/ValueError when `alg` and the kid's key type disagree.
            raise TokenError(
                "unsupported_algorithm", "token algorithm does not fit the key"
            ) from None
        except jwt.DecodeError:
            raise TokenError("malformed_token", "token is not a well-formed JWT") from None
        except jwt.exceptions.InvalidJTIError:
            raise TokenError("invalid_claim", "jti must be a string") from None
        except jwt.PyJWTError:
            raise TokenError("invalid_token", "token is not valid") from None
        sub, member, scope = claims["sub"], claims["member"], claims["scope"]
        if not (isinstance(sub, str) and sub and isinstance(member, str) and member):
            raise TokenError("invalid_claim", "sub and member must be non-empty strings")
        if not isinstance(scope, str):
            raise TokenError("invalid_claim", "scope must be a space-separated string")
        jti = claims.get("jti")
        if jti is not None and not (isinstance(jti, str) and 0 < len(jti) <= MAX_JTI_LENGTH):
            raise TokenError(
                "invalid_claim", f"jti must be a string of 1-{MAX_JTI_LENGTH} characters"
            )
        return TokenClaims(
            sub=sub,
            member=member,
            # Space (U+0020) alone separates scopes (RFC 6749, 3.3): str.split() would also
            # split at tabs, newlines and Unicode spaces, so "hashes:match\u00a0admin", one
            # unknown scope to an issuer, would grant admin here.
            scopes=frozenset(scope.split(" ")) & ALL_SCOPES,
            expires_at=int(claims["exp"]),
            issued_at=int(claims["iat"]),  # PyJWT checked it is a number
            jti=jti,
        )


class _RepeatedMember(ValueError):
    pass


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise _RepeatedMember(sorted({name for name in names if names.count(name) > 1}))
    return dict(pairs)


def _refuse_repeated_members(token: str) -> None:
    """Refuse a token whose header or claims name a member twice: JSON parsers disagree on
    which value wins, so a gateway and this service could read different claims."""
    for segment in token.split(".")[:2]:
        try:
            json.loads(base64url_decode(segment), object_pairs_hook=_unique_members)
        except _RepeatedMember as exc:
            raise TokenError("duplicate_claim", f"token repeats {exc.args[0]}") from None
        except (ValueError, TypeError, binascii.Error):
            return  # not decodable: PyJWT refuses it as malformed


def issue_token(
    settings: Settings,
    *,
    member: str,
    scopes: list[str],
    sub: str,
    ttl_seconds: int,
    now: int | None = None,
    jti: str | None = None,
) -> str:
    """Sign a token: with the shared secret in development mode, else with the private key.
    Its `jti` (a new random id unless given) is what `hashshare token revoke --jti` names."""
    unknown = set(scopes) - ALL_SCOPES
    if unknown:
        raise ValueError(f"unknown scopes: {sorted(unknown)}; known: {sorted(ALL_SCOPES)}")
    if ttl_seconds <= 0:
        raise ValueError("ttl must be positive")
    issued_at = int(time.time()) if now is None else now
    payload = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": sub,
        "member": member,
        "scope": " ".join(sorted(set(scopes))),
        "iat": issued_at,
        "exp": issued_at + ttl_seconds,
        "jti": jti or uuid.uuid4().hex,
    }
    symmetric = set(settings.jwt_algorithms) & SYMMETRIC_ALGORITHMS
    if settings.dev_mode and symmetric:
        assert settings.jwt_secret is not None
        return jwt.encode(payload, settings.jwt_secret, algorithm=sorted(symmetric)[0])
    if settings.jwt_private_key_file is None:
        raise ConfigError(
            "refusing to issue a token: outside development mode set "
            "HASHSHARE_JWT_PRIVATE_KEY_FILE (and HASHSHARE_JWT_PRIVATE_KEY_ID), "
            "or issue tokens with your identity provider"
        )
    try:
        private_key = serialization.load_pem_private_key(
            settings.jwt_private_key_file.read_bytes(), password=None
        )
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot load {settings.jwt_private_key_file}: {exc}") from exc
    algorithm = _algorithm_for_private_key(private_key)
    if algorithm not in settings.jwt_algorithms:
        raise ConfigError(f"{algorithm} is not in HASHSHARE_JWT_ALGORITHMS")
    headers = {"kid": settings.jwt_private_key_id} if settings.jwt_private_key_id else None
    return jwt.encode(payload, private_key, algorithm=algorithm, headers=headers)  # type: ignore[arg-type]
