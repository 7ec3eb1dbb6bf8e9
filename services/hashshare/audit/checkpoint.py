"""Signed checkpoints of the audit chain: what an auditor keeps to prove history later.

A checkpoint states "event `seq` of this service's log has digest `head_digest`", at
`issued_at`, signed with the service's Ed25519 checkpoint key (Certificate Transparency's
signed tree head, for a hash chain). The signature covers exactly these UTF-8 bytes:

    hashshare-checkpoint/1\\n<seq>\\n<head_digest>\\n<issued_at>\\n

(`seq` in decimal, `head_digest` 64 lowercase hex digits, `issued_at` as the chain writes
times: "YYYY-MM-DDTHH:MM:SS.ffffffZ"). Because each digest chains every event before it, an
export that reaches event `seq` with that digest contains, unaltered, every event the
service had logged when it signed; an export that stops earlier was cut, and one that
disagrees was rewritten. `key_id` is the first 16 hex digits of SHA-256 over the raw 32-byte
public key, so an auditor can tell which key to check with.

This module has no database and no web code: `hashshare audit verify` uses it offline.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from hashshare.audit.chain import format_time

VERSION = "hashshare-checkpoint/1"
ALGORITHM = "Ed25519"
_DIGEST = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


class CheckpointError(ValueError):
    """A checkpoint that is malformed, or whose signature does not verify."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    head_digest: str
    issued_at: str
    key_id: str
    signature: str  # base64 (standard alphabet, padded) of the 64-byte signature

    def signed_bytes(self) -> bytes:
        return signed_bytes(self.seq, self.head_digest, self.issued_at)

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "algorithm": ALGORITHM,
            "seq": self.seq,
            "head_digest": self.head_digest,
            "issued_at": self.issued_at,
            "key_id": self.key_id,
            "signature": self.signature,
        }

    @classmethod
    def from_dict(cls, document: Any) -> Checkpoint:
        """Read a checkpoint as the service issues it; raise `CheckpointError` if it is not one."""
        if not isinstance(document, Mapping):
            raise CheckpointError("a checkpoint is a JSON object")
        if document.get("version") != VERSION or document.get("algorithm") != ALGORITHM:
            raise CheckpointError(f"not a {VERSION} checkpoint signed with {ALGORITHM}")
        seq = document.get("seq")
        digest = document.get("head_digest")
        issued_at = document.get("issued_at")
        key_id = document.get("key_id")
        signature = document.get("signature")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise CheckpointError("seq must be a non-negative integer")
        if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            raise CheckpointError("head_digest must be 64 lowercase hex digits")
        if not isinstance(issued_at, str) or not _TIME.fullmatch(issued_at):
            raise CheckpointError("issued_at must be YYYY-MM-DDTHH:MM:SS.ffffffZ")
        if not isinstance(key_id, str) or not isinstance(signature, str):
            raise CheckpointError("key_id and signature must be strings")
        return cls(seq, digest, issued_at, key_id, signature)


def signed_bytes(seq: int, head_digest: str, issued_at: str) -> bytes:
    return f"{VERSION}\n{seq}\n{head_digest}\n{issued_at}\n".encode()


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def new_private_key_pem() -> bytes:
    """A fresh Ed25519 private key as unencrypted PKCS#8 PEM."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise CheckpointError(f"not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError("the public key is not an Ed25519 key")
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise CheckpointError(f"cannot read the checkpoint key {path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"the checkpoint key {path} is not an Ed25519 private key")
    return key


class CheckpointSigner:
    """Signs checkpoints with the service's Ed25519 checkpoint key."""

    def __init__(self, private_key: Ed25519PrivateKey, generated: bool = False) -> None:
        self._private_key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)
        self.generated = generated  # a development key, new in every process

    @classmethod
    def generate(cls) -> CheckpointSigner:
        return cls(Ed25519PrivateKey.generate(), generated=True)

    def public_key_pem(self) -> str:
        return public_key_pem(self.public_key)

    def sign(self, seq: int, head_digest: str, issued_at: datetime) -> Checkpoint:
        when = format_time(issued_at)
        signature = self._private_key.sign(signed_bytes(seq, head_digest, when))
        return Checkpoint(
            seq, head_digest, when, self.key_id, base64.b64encode(signature).decode("ascii")
        )


def verify_checkpoint(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> None:
    """Raise `CheckpointError` unless `public_key` signed `checkpoint`."""
    if checkpoint.key_id != key_id(public_key):
        raise CheckpointError(
            f"the checkpoint names key {checkpoint.key_id}, the public key given is "
            f"{key_id(public_key)}"
        )
    try:
        signature = base64.b64decode(checkpoint.signature, validate=True)
        public_key.verify(signature, checkpoint.signed_bytes())
    except (InvalidSignature, ValueError):
        raise CheckpointError("the checkpoint's signature does not verify") from None


def read_checkpoint(path: Path) -> Checkpoint:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read the checkpoint {path}: {exc}") from None
    return Checkpoint.from_dict(document)
