"""`hashshare keys generate`: the secrets a production deployment needs, made in one step.

- `signing-key.pem`: an Ed25519 private key (PKCS#8, mode 0600) for `hashshare token issue`;
- `jwks.json`: the JWKS holding its public half under a `kid` (mode 0644), which the service
  reads as `HASHSHARE_JWKS_FILE`; with `--keep-jwks` the keys of an older JWKS stay in it, so
  tokens signed by the old key keep verifying during a rotation;
- `audit-key`: the HMAC key for unmatched queries in the audit log (`HASHSHARE_AUDIT_KEY`,
  mode 0600, no trailing newline so that `--from-file` and `$(cat ...)` give the same value).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from jwt.algorithms import OKPAlgorithm

from hashshare.config import ConfigError

SIGNING_KEY = "signing-key.pem"
JWKS = "jwks.json"
AUDIT_KEY = "audit-key"
SECRET_MODE = 0o600
PUBLIC_MODE = 0o644
AUDIT_KEY_BYTES = 48


@dataclass(frozen=True)
class GeneratedKeys:
    kid: str
    signing_key: Path
    jwks: Path
    audit_key: Path | None
    kept_kids: list[str]


def default_kid() -> str:
    return "hashshare-" + time.strftime("%Y%m%d-%H%M%S", time.gmtime())


def _write(path: Path, data: bytes, mode: int) -> None:
    """Create the file with its final mode from the start: a secret is never world-readable."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, mode)  # the umask may have narrowed the public file's mode


def _kept_keys(jwks_file: Path, kid: str) -> list[dict[str, Any]]:
    try:
        document = json.loads(jwks_file.read_text())
        keys = document["keys"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot read the JWKS to keep, {jwks_file}: {exc}") from exc
    if not isinstance(keys, list) or not all(
        isinstance(key, dict) and isinstance(key.get("kid"), str) for key in keys
    ):
        raise ConfigError(f"{jwks_file}: every key of a JWKS needs a kid")
    if any(key["kid"] == kid for key in keys):
        raise ConfigError(f"{jwks_file} already has a key with kid {kid!r}; choose another --kid")
    return keys


def generate_audit_key(out: Path) -> Path:
    """Only a new audit HMAC key, for its rotation; never overwrites one."""
    path = out / AUDIT_KEY
    if path.exists():
        raise ConfigError(f"{path} exists; refusing to overwrite keys (choose another --out)")
    out.mkdir(parents=True, exist_ok=True)
    _write(path, secrets.token_urlsafe(AUDIT_KEY_BYTES).encode(), SECRET_MODE)
    return path


def generate(
    out: Path, kid: str | None = None, keep_jwks: Path | None = None, audit_key: bool = True
) -> GeneratedKeys:
    """Write the key files into `out` (created if needed); never overwrite one."""
    kid = kid or default_kid()
    kept = _kept_keys(keep_jwks, kid) if keep_jwks is not None else []
    names = [SIGNING_KEY, JWKS] + ([AUDIT_KEY] if audit_key else [])
    existing = [name for name in names if (out / name).exists()]
    if existing:
        raise ConfigError(
            f"{out} already holds {', '.join(existing)}; refusing to overwrite keys "
            "(choose another --out)"
        )
    out.mkdir(parents=True, exist_ok=True)
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    jwk: dict[str, Any] = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    jwk.update({"kid": kid, "alg": "EdDSA", "use": "sig"})
    document = {"keys": [jwk, *kept]}
    _write(out / SIGNING_KEY, pem, SECRET_MODE)
    _write(out / JWKS, (json.dumps(document, indent=2) + "\n").encode(), PUBLIC_MODE)
    if audit_key:
        generate_audit_key(out)
    return GeneratedKeys(
        kid=kid,
        signing_key=out / SIGNING_KEY,
        jwks=out / JWKS,
        audit_key=out / AUDIT_KEY if audit_key else None,
        kept_kids=[key["kid"] for key in kept],
    )
