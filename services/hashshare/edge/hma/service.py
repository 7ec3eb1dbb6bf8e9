"""HMA's (OpenMediaMatch's) matching, hashing and curation calls, answered by the edge.

Banks are of two kinds. **Shared banks** are the shared set grouped by behaviour label
(`SHARED_ATTACKER_MANIFESTO` holds every held hash labelled `attacker-manifesto`; a hash
with two behaviour labels is in two banks); they are read-only and follow the central feed.
**Local banks** are the platform's own (`banks.py`), created and filled through HMA's
curation calls, kept on the edge. A lookup searches both with the same index code and
answers in HMA's shape, `{bank: [{bank_content_id, distance}]}`, banks ordered by their
nearest match and each bank's matches nearest first; beside HMA's two fields every match
carries `source` (`shared` or `local`) and, for shared ones, hashshare's `hash_id`, `labels`,
`status` and `contributors`.

HMA's semantics are kept where they mean something here: a content's `disable_until_ts`, a
bank's `matching_enabled_ratio` with the seeded coin flip (`seed`, `bypass_coinflip`),
`banks=` to restrict a lookup, distances as text (`"-"` for exact types, as HMA's exact
indexes say). Disputed shared hashes are left out unless `include_disputed=true`, as on
POST /v1/match.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hashshare.auth.principal import Principal
from hashshare.config import Settings
from hashshare.edge.copy import EdgeCopy
from hashshare.edge.hma.banks import (
    Bank,
    BankError,
    BankExists,
    BankNotFound,
    Content,
    LocalBanks,
    Signal,
)
from hashshare.edge.hma.fetch import FetchRefused, UrlFetcher
from hashshare.errors import HashshareError, NotFound, PermissionDenied
from hashshare.hashing.hashers import parse_types
from hashshare.hashing.service import MATCH_DEFAULT_TYPES, ImageHasher
from hashshare.labels.taxonomy import LABELS, LabelKind
from hashshare.matching.schemas import MatchQuery
from hashshare.matching.service import MatchService
from hashshare.signals import REGISTRY, DegenerateHash, DistanceKind, InvalidHash, SignalType

SHARED_PREFIX = "SHARED_"
PHOTO = "photo"
CONTENT_TYPES = (PHOTO, "video")
MAX_NOTE = 255
EXCHANGE_API = "hashshare"


class BadRequest(HashshareError):
    """HMA answers 400 where hashshare's own routes would say 422: kept for HMA's clients."""

    status_code = 400


class Conflicting(HashshareError):
    """HMA answers 403 to a bank name that exists already."""

    status_code = 403


class Refused(HashshareError):
    """A refused URL fetch, with the status `FetchRefused` chose."""

    def __init__(self, exc: FetchRefused) -> None:
        super().__init__(exc.message, code=exc.code)
        self.status_code = exc.status


def shared_bank_name(label: str) -> str:
    return SHARED_PREFIX + label.upper().replace("-", "_")


SHARED_BANKS: dict[str, str] = {
    shared_bank_name(label.name): label.name
    for label in LABELS.values()
    if label.kind is LabelKind.BEHAVIOUR
}


def bank_json(name: str, ratio: float, source: str) -> dict[str, Any]:
    return {"name": name, "matching_enabled_ratio": ratio, "source": source}


def _signal_type(name: str) -> SignalType:
    signal_type = REGISTRY.get(name) if isinstance(name, str) else None
    if signal_type is None:
        raise BadRequest(
            f"No such SignalType '{str(name)[:50]}' (this edge has {', '.join(REGISTRY)})",
            code="unknown_signal_type",
        )
    return signal_type


def parse_signal(name: str, text: Any) -> tuple[SignalType, bytes]:
    signal_type = _signal_type(name)
    try:
        if not isinstance(text, str):
            raise InvalidHash("hash value must be a string")
        return signal_type, signal_type.parse(text.strip())
    except InvalidHash as exc:
        raise BadRequest(f"invalid signal: {exc}", code="invalid_hash") from None


def distance_text(signal_type: SignalType, distance: int) -> str:
    return "-" if signal_type.distance_kind is DistanceKind.EXACT else str(distance)


def coin(seed: str | None, bypass: bool) -> float:
    """HMA's coin flip: a bank matches when its enabled ratio is at least this."""
    if bypass:
        return 0.0
    return random.Random(seed).random()  # noqa: S311 (sampling, not secrecy)


def check_note(note: Any) -> str | None:
    if not note:
        return None
    if not isinstance(note, str):
        raise BadRequest("note should be a string", code="invalid_note")
    if len(note) > MAX_NOTE:
        raise BadRequest(f"note must be at most {MAX_NOTE} characters", code="invalid_note")
    return note


def check_metadata(raw: Any, content_id: str | None, content_uri: str | None) -> dict[str, Any]:
    """HMA's `metadata` (`content_id`, `content_uri`, `json`), plus the separate `content_id`
    and `content_uri` fields some clients send. An object with other keys is the client's own
    JSON (what Coop sends as `metadata`), kept as `json`."""
    metadata: dict[str, Any] = {}
    if raw is not None:
        if not isinstance(raw, dict):
            raise BadRequest("metadata should be a json object", code="invalid_metadata")
        raw = {key: value for key, value in raw.items() if key != "collab"}
        if set(raw) <= {"content_id", "content_uri", "json"}:
            for key in ("content_id", "content_uri"):
                if raw.get(key) is not None and not isinstance(raw[key], str):
                    raise BadRequest(f"metadata.{key} must be a string", code="invalid_metadata")
            if raw.get("json") is not None and not isinstance(raw["json"], dict):
                raise BadRequest("metadata.json must be an object", code="invalid_metadata")
            metadata.update({key: value for key, value in raw.items() if value is not None})
        elif raw:
            metadata["json"] = raw
    for key, value in (("content_id", content_id), ("content_uri", content_uri)):
        if value:
            metadata[key] = value
    if len(json.dumps(metadata)) > 64 * 1024:
        raise BadRequest("metadata is over 64 KiB", code="invalid_metadata")
    return metadata


@dataclass(frozen=True, slots=True)
class Upload:
    """A file sent to an HMA route: its multipart field name is its content type."""

    content_type: str
    data: bytes


class HmaService:
    def __init__(
        self,
        settings: Settings,
        copy: EdgeCopy,
        matches: MatchService,
        local: LocalBanks,
        hasher: ImageHasher,
        fetcher: UrlFetcher,
    ) -> None:
        self._settings = settings
        self._copy = copy
        self._matches = matches
        self.local = local
        self._hasher = hasher
        self.fetcher = fetcher

    def max_distance(self, signal_type: SignalType) -> int:
        ceiling = self._settings.max_distance_ceilings.get(signal_type.name, 0)
        return min(signal_type.default_max_distance, ceiling)

    # Matching

    async def lookup(
        self,
        caller: Principal,
        signal_type_name: str,
        text: str,
        banks: set[str] | None,
        coinflip: float,
        include_disputed: bool,
        raw: bool = False,
    ) -> list[tuple[str, dict[str, Any]]]:
        """Every match of one signal as (bank, match), nearest first.

        `raw` is HMA's raw lookup: disabled contents and disabled banks are not filtered
        out, and disputed shared hashes are in."""
        signal_type, value = parse_signal(signal_type_name, text)
        found: list[tuple[int, int, str, dict[str, Any]]] = []
        outcome = await self._matches.match(
            caller,
            [MatchQuery(signal_type=signal_type.name, value=value.hex())],
            include_disputed or raw,
        )
        for hit in outcome.results[0].matches:
            for label in hit.labels:
                shared = shared_bank_name(label)
                if shared in SHARED_BANKS:
                    found.append(
                        (
                            hit.distance,
                            hit.hash_id,
                            shared,
                            {
                                "bank_content_id": hit.hash_id,
                                "distance": distance_text(signal_type, hit.distance),
                                "source": "shared",
                                "hash_id": hit.hash_id,
                                "labels": hit.labels,
                                "status": hit.status,
                                "contributors": hit.contributors,
                            },
                        )
                    )
        local = self.local
        for content_id, distance in local.search(
            signal_type.name, value, self.max_distance(signal_type)
        ):
            owner = local.owner(content_id)
            if owner is None:
                continue
            bank, enabled = owner
            if not raw and (not enabled or bank.enabled_ratio < coinflip):
                continue
            found.append(
                (
                    distance,
                    content_id,
                    bank.name,
                    {
                        "bank_content_id": content_id,
                        "distance": distance_text(signal_type, distance),
                        "source": "local",
                        "hash_id": None,
                        "labels": [],
                        "status": "active" if enabled else "disabled",
                        "contributors": None,
                    },
                )
            )
        found.sort(key=lambda item: (item[0], item[1], item[2]))
        return [(bank, match) for _, _, bank, match in found if banks is None or bank in banks]

    @staticmethod
    def by_bank(found: list[tuple[str, dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for bank, match in found:
            grouped.setdefault(bank, []).append(match)
        return grouped

    async def lookup_hashes(
        self,
        caller: Principal,
        hashes: Mapping[str, str],
        banks: set[str] | None,
        coinflip: float,
        include_disputed: bool,
    ) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """`{signal_type: {bank: [match]}}` of the hashes of one file."""
        return {
            name: self.by_bank(
                await self.lookup(caller, name, text, banks, coinflip, include_disputed)
            )
            for name, text in hashes.items()
        }

    def compare(self, body: Any) -> dict[str, Any]:
        """HMA's compare: `{signal_type: [a, b]}` to `{signal_type: [matches, {distance}]}`."""
        if not isinstance(body, dict):
            raise BadRequest("Request input was not a dict", code="invalid_compare")
        results: dict[str, Any] = {}
        for name, pair in body.items():
            if not isinstance(pair, list):
                raise BadRequest(
                    f"Comparison hashes for {name[:50]} was not a list", code="invalid_compare"
                )
            if len(pair) != 2:
                raise BadRequest(
                    "Comparison hash list length must be exactly 2", code="invalid_compare"
                )
            signal_type, left = parse_signal(name, pair[0])
            _, right = parse_signal(name, pair[1])
            distance = signal_type.distance(left, right)
            results[name] = [distance <= self.max_distance(signal_type), {"distance": distance}]
        return results

    def index_status(
        self, signal_type: str | None, shared_ready: bool, built_to: int
    ) -> dict[str, dict[str, Any]]:
        names = list(REGISTRY)
        if signal_type is not None:
            if signal_type not in REGISTRY:
                raise BadRequest(
                    f"No such signal type '{signal_type[:50]}'", code="unknown_signal_type"
                )
            names = [signal_type]
        shared = self._copy.holder.sizes()
        local = self.local.sizes()
        return {
            name: {
                "present": shared_ready,
                "built_to": built_to if shared_ready else -1,
                "size": shared[name] + local[name],
                "shared_size": shared[name],
                "local_size": local[name],
            }
            for name in names
        }

    # Hashing

    def content_type(self, name: str | None, declared: str = "") -> str:
        """The content type to hash as: HMA's `content_type`, else what the server said."""
        if not name:
            if declared.lower().startswith("image"):
                name = PHOTO
            else:
                raise BadRequest(
                    f"unsupported url ContentType: '{declared[:100]}', if you know the "
                    "expected type, provide it with the content_type query param",
                    code="unsupported_content_type",
                )
        if name not in CONTENT_TYPES:
            raise BadRequest(f"no such content_type: '{name[:50]}'", code="unknown_content_type")
        if name != PHOTO:
            raise BadRequest(
                f"this edge hashes photos only, not {name}", code="unsupported_content_type"
            )
        return name

    async def hash_file(self, upload: Upload, types: str | None) -> tuple[dict[str, str], int]:
        """`{signal_type: hash}` of a photo, and its PDQ quality (-1 without PDQ)."""
        self.content_type(upload.content_type)
        selected = parse_types(types if types is not None else ",".join(MATCH_DEFAULT_TYPES))
        hashes = await self._hasher.hash(upload.data, selected, False)
        quality = hashes.pdq_quality if hashes.pdq_quality is not None else -1
        return {name: value.hex() for name, value in hashes.values.items()}, quality

    async def fetch(self, url: str, content_type: str | None) -> Upload:
        try:
            fetched = await self.fetcher.fetch(url)
        except FetchRefused as exc:
            raise Refused(exc) from None
        return Upload(self.content_type(content_type, fetched.content_type), fetched.data)

    async def lookup_file(
        self,
        caller: Principal,
        upload: Upload,
        types: str | None,
        banks: set[str] | None,
        coinflip: float,
        include_disputed: bool,
    ) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """Hash a photo and look up its informative hashes (as POST /v1/match/image does):
        `{signal_type: {bank: [match]}}`."""
        hashes, quality = await self.hash_file(upload, types)
        return await self.lookup_hashes(
            caller, self._informative(hashes, quality), banks, coinflip, include_disputed
        )

    def _informative(self, hashes: dict[str, str], quality: int) -> dict[str, str]:
        """A featureless image's perceptual hashes match noise, not content: of such an
        image (PDQ quality below the minimum) only the exact hashes are kept."""
        if 0 <= quality < self._settings.min_pdq_quality:
            return {
                name: text
                for name, text in hashes.items()
                if REGISTRY[name].distance_kind is DistanceKind.EXACT
            }
        return hashes

    # Curation

    def banks(self) -> list[dict[str, Any]]:
        shared = [bank_json(name, 1.0, "shared") for name in SHARED_BANKS]
        return shared + [
            bank_json(bank.name, bank.enabled_ratio, "local") for bank in self.local.banks()
        ]

    def bank(self, name: str) -> dict[str, Any]:
        if name in SHARED_BANKS:
            return bank_json(name, 1.0, "shared")
        bank = self.local.bank(name)
        if bank is None:
            raise NotFound(f"bank '{name[:100]}' not found", code="bank_not_found")
        return bank_json(bank.name, bank.enabled_ratio, "local")

    @staticmethod
    def _local_only(name: str, action: str) -> None:
        if name in SHARED_BANKS or name.startswith(SHARED_PREFIX):
            raise PermissionDenied(
                f"{name[:100]} is a shared bank (the shared set, read-only): cannot {action}",
                code="shared_bank_read_only",
            )

    async def create_bank(self, name: str, enabled_ratio: float) -> dict[str, Any]:
        self._local_only(name, "create it")
        try:
            bank = await self.local.create_bank(name, enabled_ratio)
        except BankExists as exc:
            raise Conflicting(exc.message, code=exc.code) from None
        except BankError as exc:
            raise BadRequest(exc.message, code=exc.code) from None
        return bank_json(bank.name, bank.enabled_ratio, "local")

    async def update_bank(
        self, name: str, new_name: str | None, enabled_ratio: float | None
    ) -> dict[str, Any]:
        self._local_only(name, "change it")
        if new_name is not None:
            self._local_only(new_name, "rename to it")
        try:
            bank = await self.local.update_bank(name, new_name, enabled_ratio)
        except BankNotFound as exc:
            raise NotFound(exc.message, code=exc.code) from None
        except BankExists as exc:
            raise Conflicting(exc.message, code=exc.code) from None
        except BankError as exc:
            raise BadRequest(exc.message, code=exc.code) from None
        return bank_json(bank.name, bank.enabled_ratio, "local")

    async def delete_bank(self, name: str) -> None:
        self._local_only(name, "delete it")
        await self.local.delete_bank(name)

    def local_bank(self, name: str) -> Bank:
        bank = self.local.bank(name)
        if bank is None:
            if name in SHARED_BANKS:
                self._local_only(name, "add to it")
            raise NotFound(f"bank '{name[:100]}' not found", code="bank_not_found")
        return bank

    async def add_signals(
        self,
        bank_name: str,
        hashes: Mapping[str, Any],
        metadata: dict[str, Any] | None,
        note: str | None,
    ) -> dict[str, Any]:
        """Bank one content with the hashes given; HMA's answer `{id, signals}`."""
        self.local_bank(bank_name)
        signals: list[Signal] = []
        for name, text in hashes.items():
            signal_type, value = parse_signal(name, text)
            try:
                signal_type.check_informative(value)
            except DegenerateHash as exc:
                raise BadRequest(f"Invalid {name} signal: {exc}", code="degenerate_hash") from None
            signals.append(Signal(signal_type.name, value))
        return await self._bank(bank_name, signals, metadata, note)

    async def add_file(
        self,
        bank_name: str,
        upload: Upload,
        types: str | None,
        metadata: dict[str, Any] | None,
        note: str | None,
    ) -> dict[str, Any]:
        """Bank one photo by its informative hashes (see `_informative`), with its PDQ
        quality, which `hashshare edge contribute` sends along."""
        hashes, quality = await self.hash_file(upload, types)
        signals = [
            Signal(name, REGISTRY[name].parse(text), quality if name == "pdq" else None)
            for name, text in self._informative(hashes, quality).items()
        ]
        return await self._bank(bank_name, signals, metadata, note)

    async def _bank(
        self,
        bank_name: str,
        signals: list[Signal],
        metadata: dict[str, Any] | None,
        note: str | None,
    ) -> dict[str, Any]:
        if not signals:
            raise BadRequest("No signals given", code="no_signals")
        try:
            content_id = await self.local.add_content(bank_name, signals, metadata, note)
        except BankNotFound as exc:
            raise NotFound(exc.message, code=exc.code) from None
        return {
            "id": content_id,
            "signals": {s.signal_type: REGISTRY[s.signal_type].format(s.value) for s in signals},
        }

    async def content(
        self, bank_name: str, content_id: int, include_signals: bool, include_metadata: bool
    ) -> dict[str, Any]:
        if bank_name in SHARED_BANKS:
            return self._shared_content(bank_name, content_id, include_signals)
        bank = self.local_bank(bank_name)
        try:
            content = await self.local.content(bank.name, content_id)
        except BankNotFound as exc:
            raise NotFound(exc.message, code=exc.code) from None
        body: dict[str, Any] = {
            "id": content.id,
            "disable_until_ts": content.disable_until_ts,
            "original_media_uri": None,
            "bank": {"name": bank.name, "matching_enabled_ratio": bank.enabled_ratio},
            "source": "local",
            "contributions": [
                {
                    "signal_type": c.signal_type,
                    "hash_id": c.hash_id,
                    "labels": list(c.labels),
                    "contributed_at": c.contributed_at,
                }
                for c in content.contributions
            ],
        }
        if include_signals:
            body["signals"] = _signals(content)
        if include_metadata and content.metadata:
            body["metadata"] = content.metadata
        if content.note is not None:
            body["note"] = content.note
        return body

    def _shared_content(
        self, bank_name: str, hash_id: int, include_signals: bool
    ) -> dict[str, Any]:
        held = self._copy.held.get(hash_id)
        if held is None or SHARED_BANKS[bank_name] not in held.labels:
            raise NotFound(f"content '{hash_id}' not found", code="content_not_found")
        body: dict[str, Any] = {
            "id": hash_id,
            "disable_until_ts": 1,
            "original_media_uri": None,
            "bank": {"name": bank_name, "matching_enabled_ratio": 1.0},
            "source": "shared",
            "hash_id": hash_id,
            "labels": list(held.labels),
            "status": held.status,
            "contributors": held.contributors,
        }
        if include_signals:
            body["signals"] = {held.signal_type: REGISTRY[held.signal_type].format(held.value)}
        return body

    async def update_content(self, bank_name: str, content_id: int, body: Any) -> dict[str, Any]:
        self._local_only(bank_name, "change its contents")
        bank = self.local_bank(bank_name)
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object", code="invalid_body")
        until: int | None = None
        if "disable_until_ts" in body:
            try:
                until = int(str(body["disable_until_ts"]))
            except ValueError:
                raise BadRequest(
                    "disable_until_ts must be an integer", code="invalid_disable_until_ts"
                ) from None
            if until < 0:
                raise BadRequest(
                    "disable_until_ts must be a non-negative integer",
                    code="invalid_disable_until_ts",
                )
        try:
            content = await self.local.update_content(
                bank.name, content_id, until, check_note(body.get("note")), "note" in body
            )
        except BankNotFound as exc:
            raise NotFound(exc.message, code=exc.code) from None
        return {
            "id": content.id,
            "disable_until_ts": content.disable_until_ts,
            "collab_metadata": {},
            "original_media_uri": None,
            "bank": {"name": bank.name, "matching_enabled_ratio": bank.enabled_ratio},
            "user_metadata": content.metadata,
            "note": content.note,
        }

    async def delete_content(self, bank_name: str, content_id: int) -> int:
        self._local_only(bank_name, "delete its contents")
        bank = self.local_bank(bank_name)
        return await self.local.delete_content(bank.name, content_id)

    # Exchanges: the edge's one exchange is the central service, set on its command line.

    def exchange(self, name: str, upstream: str) -> dict[str, Any]:
        if name not in SHARED_BANKS:
            raise NotFound(f"Exchange '{name[:100]}' not found", code="exchange_not_found")
        return {"name": name, "api": EXCHANGE_API, "enabled": True, "upstream": upstream}

    @staticmethod
    def exchange_api(name: str) -> dict[str, bool]:
        if name != EXCHANGE_API:
            raise BadRequest(f"no such Exchange API '{name[:50]}'", code="unknown_exchange_api")
        return {"supports_authentification": True, "has_set_authentification": True}


def _signals(content: Content) -> dict[str, str]:
    return {s.signal_type: REGISTRY[s.signal_type].format(s.value) for s in content.signals}


def fetch_status(
    name: str, following: bool, last_contact: float | None, behind: int, size: int
) -> dict[str, Any]:
    """HMA's fetch status of a shared bank, from the edge's feed."""
    if name not in SHARED_BANKS:
        raise NotFound(f"Exchange '{name[:100]}' not found", code="exchange_not_found")
    contact = int(last_contact) if last_contact is not None else None
    return {
        "checkpoint_ts": contact,
        "running_fetch_start_ts": None,
        "last_fetch_complete_ts": contact,
        "last_fetch_succeeded": None if contact is None else True,
        "up_to_date": following and behind == 0,
        "fetched_items": size,
    }


def refuse_exchange_change(what: str) -> HashshareError:
    return BadRequest(
        f"{what}: this edge's only exchange is the central service it follows (its "
        "--upstream and --token-file); its local banks are contributed with "
        "`hashshare edge contribute`",
        code="exchanges_not_configurable",
    )
