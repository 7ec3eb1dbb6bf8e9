"""hashshare as a python-threatexchange exchange: existing pytx and HMA deployments pull the
shared set with a configuration change instead of new code.

Load it the way pytx loads extensions (`threatexchange config extensions add
hashshare.pytx_extension`; the module's `TX_MANIFEST` names the exchange). The exchange,
named `hashshare`:

- fetches the change feed (`GET /v1/changes`) from the checkpoint pytx keeps (the feed
  cursor), a page per fetch delta, so each fetch is incremental;
- keys records by (pytx signal type, value): `pdq` as `pdq`, `md5` as `video_md5`, `sha256`
  as `video_sha256`; the 64-bit types, which pytx has no name for, are not fetched;
- turns a tombstone (a retracted hash) into a deletion, and a disputed hash into one unless
  the collaboration sets `include_disputed`;
- sends `report_opinion` back as hashshare feedback: a positive opinion is `agree`, a
  negative one `disagree` with reason `not-terrorist-content`.

Its token: the `HASHSHARE_TOKEN` environment variable, else a file named by
`HASHSHARE_TOKEN_FILE`, else `~/.hashshare_token`, else the file `hashshare login` wrote.
Needs the `threatexchange` package (not a dependency of hashshare itself).
"""

# No `from __future__ import annotations`: pytx builds its CLI options from the dataclass
# fields' types, which must be types, not strings.
import os
import typing as t
from dataclasses import dataclass, field

from threatexchange.exchanges import auth
from threatexchange.exchanges import fetch_state as state
from threatexchange.exchanges.collab_config import CollaborationConfigWithDefaults
from threatexchange.exchanges.signal_exchange_api import SignalExchangeAPIWithSimpleUpdates
from threatexchange.extensions.manifest import ThreatExchangeExtensionManifest
from threatexchange.signal_type.signal_base import SignalType

from hashshare.client import ChangeOut, Client

TO_PYTX = {"pdq": "pdq", "md5": "video_md5", "sha256": "video_sha256"}
FROM_PYTX = {theirs: ours for ours, theirs in TO_PYTX.items()}
DISAGREE_REASON = "not-terrorist-content"


@dataclass
class HashshareCheckpoint(state.FetchCheckpointBase):
    """The change feed cursor, and when the last change fetched was made."""

    cursor: str
    changed_at: int = 0

    def is_stale(self) -> bool:
        return False  # the feed is complete from any cursor: never refetch from the start

    def get_progress_timestamp(self) -> int | None:
        return self.changed_at or None


@dataclass
class HashshareSignalMetadata(state.FetchedSignalMetadata):
    """What hashshare says of a hash: its labels, status and number of contributors."""

    hash_id: int
    labels: list[str]
    status: str
    contributors: int

    def get_as_opinions(self) -> t.Sequence[state.SignalOpinion]:
        category = (
            state.SignalOpinionCategory.POSITIVE_CLASS
            if self.status == "active"
            else state.SignalOpinionCategory.INVESTIGATION_SEED
        )
        return [state.SignalOpinion(False, category, set(self.labels))]


@dataclass
class _HashshareCollabRequiredFields:
    url: str = field(metadata={"help": "the hashshare service, e.g. https://hashshare.example"})


@dataclass
class HashshareCollabConfig(CollaborationConfigWithDefaults, _HashshareCollabRequiredFields):
    include_disputed: bool = field(
        default=False, metadata={"help": "also fetch hashes whose listing is disputed"}
    )


@dataclass
class HashshareCredentials(auth.CredentialHelper):
    ENV_VARIABLE: t.ClassVar[str] = "HASHSHARE_TOKEN"
    FILE_NAME: t.ClassVar[str] = "~/.hashshare_token"

    token: str

    @classmethod
    def _from_str(cls, s: str) -> "HashshareCredentials":
        return cls(s.strip())

    @classmethod
    def _from_file(cls) -> "HashshareCredentials | None":
        from hashshare.analyst.connection import config_path, read_token_file

        named = os.environ.get("HASHSHARE_TOKEN_FILE")
        if named:
            return cls(read_token_file(named))
        found = super()._from_file()
        if found is not None:
            return found
        login = config_path()
        if login.is_file():
            import json

            token = json.loads(login.read_text(encoding="utf-8")).get("token")
            return cls(token) if isinstance(token, str) else None
        return None

    def _are_valid(self) -> bool:
        return self.token.count(".") == 2


class HashshareSignalExchangeAPI(
    auth.SignalExchangeWithAuth[HashshareCollabConfig, HashshareCredentials],
    SignalExchangeAPIWithSimpleUpdates[
        HashshareCollabConfig, HashshareCheckpoint, HashshareSignalMetadata
    ],
):
    """The shared set of a hashshare service, through its change feed."""

    def __init__(self, collab: HashshareCollabConfig, token: str, page_size: int = 1000) -> None:
        self.collab = collab
        self.token = token
        self.page_size = page_size

    @classmethod
    def get_name(cls) -> str:
        return "hashshare"

    @staticmethod
    def get_config_cls() -> type[HashshareCollabConfig]:
        return HashshareCollabConfig

    @staticmethod
    def get_checkpoint_cls() -> type[HashshareCheckpoint]:
        return HashshareCheckpoint

    @staticmethod
    def get_record_cls() -> type[HashshareSignalMetadata]:
        return HashshareSignalMetadata

    @staticmethod
    def get_credential_cls() -> type[HashshareCredentials]:
        return HashshareCredentials

    @classmethod
    def for_collab(
        cls,
        collab: HashshareCollabConfig,
        credentials: HashshareCredentials | None = None,
    ) -> "HashshareSignalExchangeAPI":
        credentials = credentials or HashshareCredentials.get(cls)
        return cls(collab, credentials.token)

    def _client(self) -> Client:
        return Client(self.collab.url, self.token)

    def _record(
        self, change: ChangeOut
    ) -> tuple[tuple[str, str], HashshareSignalMetadata | None] | None:
        name = TO_PYTX.get(change.signal_type)
        if name is None:
            return None
        keep = change.status == "active" or (
            change.status == "disputed" and self.collab.include_disputed
        )
        metadata = HashshareSignalMetadata(
            change.hash_id, list(change.labels), change.status, change.contributors
        )
        return (name, change.value), metadata if keep else None

    def fetch_iter(
        self,
        _supported_signal_types: t.Sequence[type[SignalType]],
        checkpoint: HashshareCheckpoint | None,
    ) -> t.Iterator[
        state.FetchDelta[tuple[str, str], HashshareSignalMetadata, HashshareCheckpoint]
    ]:
        after = checkpoint.cursor if checkpoint is not None else "0"
        with self._client() as client:
            for page in client.change_pages(after, self.page_size):
                updates: dict[tuple[str, str], HashshareSignalMetadata | None] = {}
                for change in page.changes:
                    record = self._record(change)
                    if record is not None:
                        updates[record[0]] = record[1]
                changed_at = (
                    int(page.changes[-1].changed_at.timestamp())
                    if page.changes
                    else (checkpoint.changed_at if checkpoint else 0)
                )
                yield state.FetchDelta(updates, HashshareCheckpoint(page.next_cursor, changed_at))

    def report_opinion(
        self,
        s_type: type[SignalType],
        signal: str,
        opinion: state.SignalOpinion,
    ) -> None:
        signal_type = FROM_PYTX.get(s_type.get_name())
        if signal_type is None:
            raise NotImplementedError(f"hashshare holds no {s_type.get_name()} signals")
        if opinion.category == state.SignalOpinionCategory.POSITIVE_CLASS:
            verdict, reason = "agree", None
        elif opinion.category == state.SignalOpinionCategory.NEGATIVE_CLASS:
            verdict, reason = "disagree", DISAGREE_REASON
        else:
            raise NotImplementedError("hashshare takes agree or disagree, not investigation")
        with self._client() as client:
            query = {"signal_type": signal_type, "value": signal, "max_distance": 0}
            result = client.match([query], include_disputed=True).results[0]
            exact = [hit for hit in result.matches if hit.value == signal.lower()]
            if not exact:
                raise ValueError(f"hashshare holds no matchable {signal_type} {signal}")
            comment = " ".join(sorted(opinion.tags)) or None
            client.feedback(exact[0].hash_id, verdict, reason=reason, comment=comment)


TX_MANIFEST = ThreatExchangeExtensionManifest(apis=(HashshareSignalExchangeAPI,))

__all__ = ["TX_MANIFEST", "HashshareSignalExchangeAPI"]
