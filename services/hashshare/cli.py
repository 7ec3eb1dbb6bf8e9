"""The `hashshare` command line: serve, migrate, manage members, issue tokens, write the spec."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hashshare import __version__
from hashshare.analyst import connection as analyst_connection
from hashshare.analyst import register as register_analyst_commands
from hashshare.config import (
    ConfigError,
    Settings,
    load_database_url,
    load_read_database_url,
    load_settings,
)
from hashshare.failures import redact_url
from hashshare.hashing import cli as hashing_cli

DEFAULT_OPENAPI_PATH = Path("openapi/hashshare.json")
CLI_ACTOR = "cli"


def _settings() -> Settings:
    return load_settings()


def _own_executable() -> str:
    """How the user can call this same command again (relative to the working directory)."""
    path = Path(sys.argv[0])
    if path.name != "hashshare":
        return "hashshare"
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from hashshare.metricsdir import prepare_multiprocess_dir, remove_multiprocess_dir

    # Several workers keep their metrics in a folder they share; it must exist before
    # prometheus-client is first imported, here and in every worker.
    created = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    metrics_dir = prepare_multiprocess_dir() if args.workers > 1 or not created else None

    from hashshare.accesslog import uvicorn_log_config
    from hashshare.app import create_app, tune_gc_for_serving
    from hashshare.configcheck import database_problem

    settings = _settings()
    app = create_app(settings)
    # Fail at once with one line, before any worker starts, rather than in every worker.
    problem = database_problem(settings.database_url)
    if problem is not None:
        raise ConfigError(problem)
    print(f"hashshare {__version__} on http://{args.host}:{args.port}", file=sys.stderr)
    print(f"  database: {redact_url(settings.database_url)}", file=sys.stderr)
    print(f"  console: http://{args.host}:{args.port}/console/", file=sys.stderr)
    if settings.dev_mode:
        exe = _own_executable()
        print(
            "  DEVELOPMENT MODE: tokens are signed with a shared secret. Get one with:\n"
            "    export HASHSHARE_DEV_MODE=1\n"
            f"    {exe} member add demo --name 'Demo platform'\n"
            f"    {exe} token issue --member demo "
            "--scope 'hashes:submit hashes:match hashes:read audit:read'",
            file=sys.stderr,
        )
    else:
        print(
            "  tokens: signed by your identity provider, or `hashshare token issue` with "
            "HASHSHARE_JWT_PRIVATE_KEY_FILE set",
            file=sys.stderr,
        )
    if args.workers > 1:
        # Each worker process builds its own app (and match index) from the environment.
        uvicorn.run(
            "hashshare.app:app_from_environment",
            factory=True,
            workers=args.workers,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            access_log=False,  # hashshare's own JSON access log replaces uvicorn's
            log_config=uvicorn_log_config(),
        )
        if created and metrics_dir is not None:
            remove_multiprocess_dir(metrics_dir)
    else:
        tune_gc_for_serving()
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            access_log=False,
            log_config=uvicorn_log_config(),
        )
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from hashshare.migrations import upgrade

    # Migrating needs only the database: no keys are asked for.
    database_url = load_database_url()
    upgrade(database_url, args.revision)
    print(f"database at {args.revision}: {redact_url(database_url)}")
    return 0


async def _in_unit(work: Any, database_url: str | None = None) -> Any:
    """Run `work(database, uow)` in one transaction of the configured database; commands that
    only read pass the database URL (from `load_database_url()`), so they do not demand keys
    they never use."""
    from hashshare.db import Database

    database = Database(database_url or _settings().database_url)
    try:
        async with database.unit() as uow:
            return await work(database, uow)
    finally:
        await database.dispose()


def _cli_actor() -> Any:
    from hashshare.auth.principal import Actor

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor(sub=f"{CLI_ACTOR}:{user}", member_id=None, request_id=None)


def cmd_member_add(args: argparse.Namespace) -> int:
    from hashshare.members.service import MemberService

    async def work(database: Any, uow: Any) -> Any:
        return await MemberService().add(uow, _cli_actor(), args.id, args.name)

    member = asyncio.run(_in_unit(work))
    print(f"added member {member.id} ({member.name})")
    return 0


def cmd_member_list(args: argparse.Namespace) -> int:
    from hashshare.members.service import MemberService

    async def work(database: Any, uow: Any) -> Any:
        members = await MemberService().list(uow)
        return [(m.id, m.name, m.active, m.created_at) for m in members]

    rows = asyncio.run(_in_unit(work, load_database_url()))
    for member_id, name, active, created_at in rows:
        state = "active" if active else "suspended"
        print(f"{member_id}\t{name}\t{state}\t{created_at.isoformat()}")
    return 0


def cmd_member_suspend(args: argparse.Namespace) -> int:
    from hashshare.members.service import MemberService

    async def work(database: Any, uow: Any) -> bool:
        changed: bool = await MemberService().suspend(uow, _cli_actor(), args.id, args.reason)
        return changed

    changed = asyncio.run(_in_unit(work, load_database_url()))
    print(f"suspended member {args.id}" if changed else f"member {args.id} was already suspended")
    return 0


def cmd_member_reactivate(args: argparse.Namespace) -> int:
    from hashshare.members.service import MemberService

    async def work(database: Any, uow: Any) -> bool:
        changed: bool = await MemberService().reactivate(uow, _cli_actor(), args.id)
        return changed

    changed = asyncio.run(_in_unit(work, load_database_url()))
    print(f"reactivated member {args.id}" if changed else f"member {args.id} was not suspended")
    return 0


def _time_argument(text: str) -> datetime:
    """`now`, or an ISO 8601 time with its zone."""
    if text == "now":
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-12-07T12:00:00Z) nor 'now'"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} must say its zone (e.g. Z or +01:00)")
    return moment


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from hashshare.members.service import MemberService

    if (args.jti is None) == (args.member is None):
        raise ConfigError("name either --jti, or --member with --issued-before")
    if args.member is not None and args.issued_before is None:
        raise ConfigError("--member needs --issued-before (a time, or 'now')")
    if args.jti is not None and args.issued_before is not None:
        raise ConfigError("--issued-before goes with --member, not with --jti")

    async def work(database: Any, uow: Any) -> bool:
        members = MemberService()
        if args.jti is not None:
            changed: bool = await members.revoke_token(uow, _cli_actor(), args.jti, args.reason)
            return changed
        await members.revoke_issued_before(
            uow, _cli_actor(), args.member, args.issued_before, args.reason
        )
        return True

    changed = asyncio.run(_in_unit(work, load_database_url()))
    if args.jti is not None:
        print(f"revoked token {args.jti}" if changed else f"token {args.jti} was already revoked")
    else:
        print(
            f"revoked the tokens of member {args.member} issued before "
            f"{args.issued_before.isoformat()}"
        )
    return 0


def cmd_token_issue(args: argparse.Namespace) -> int:
    from hashshare.audit.service import record
    from hashshare.auth.tokens import issue_token
    from hashshare.members.service import MemberService

    settings = _settings()
    scopes = args.scope.split()

    async def work(database: Any, uow: Any) -> str:
        member = await MemberService().get(uow, args.member)
        if member is None or not member.active:
            raise ConfigError(f"no active member {args.member!r}; add it with `member add`")
        token = issue_token(
            settings,
            member=args.member,
            scopes=scopes,
            sub=args.sub or f"{args.member}-token",
            ttl_seconds=args.ttl,
            jti=jti,
        )
        await record(
            uow.session,
            _cli_actor(),
            "token.issue",
            details={
                "member": args.member,
                "sub": args.sub,
                "scopes": sorted(scopes),
                "ttl": args.ttl,
                "jti": jti,
            },
        )
        return token

    # The token id goes to the audit log and to stderr (stdout is the token alone, for
    # scripts): it is what `hashshare token revoke --jti` names.
    jti = uuid.uuid4().hex
    print(asyncio.run(_in_unit(work)))
    print(f"token id (jti): {jti}", file=sys.stderr)
    return 0


def cmd_audit_export(args: argparse.Namespace) -> int:
    from hashshare.audit.service import export_lines

    with Path(args.out).open("w", encoding="utf-8") as out:

        async def work(database: Any, uow: Any) -> int:
            count = 0
            async for line in export_lines(uow.session):
                out.write(line)
                count += 1
            return count

        count = asyncio.run(_in_unit(work, load_read_database_url()))
    print(f"exported {count} events to {args.out}")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Verify an export offline: no database, no configuration. With a checkpoint (and the
    public key that signed it), the export must also reach the checkpoint and agree with it."""
    from hashshare.audit.chain import FIELDS, GENESIS, ChainVerifier
    from hashshare.audit.checkpoint import (
        CheckpointError,
        load_public_key,
        read_checkpoint,
        verify_checkpoint,
    )

    checkpoint = None
    if (args.checkpoint is None) != (args.public_key is None):
        print("hashshare: --checkpoint and --public-key go together", file=sys.stderr)
        return 2
    if args.checkpoint is not None:
        try:
            checkpoint = read_checkpoint(Path(args.checkpoint))
            verify_checkpoint(checkpoint, load_public_key(Path(args.public_key).read_bytes()))
        except (CheckpointError, OSError) as exc:
            print(f"BAD CHECKPOINT: {exc}")
            return 1
    verifier = ChainVerifier()
    digest_at_checkpoint = GENESIS if checkpoint is not None and checkpoint.seq == 0 else None
    with Path(args.file).open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                event = json.loads(line)
            except json.JSONDecodeError as exc:
                print(f"BROKEN at line {number}: not JSON ({exc})")
                return 1
            problem = _not_an_event(event, FIELDS)
            if problem is not None:
                print(f"BROKEN at line {number}: not an audit event ({problem})")
                return 1
            if not verifier.feed(event):
                break
            if checkpoint is not None and verifier.seq == checkpoint.seq:
                digest_at_checkpoint = verifier.digest
    verdict = verifier.verdict()
    if not verdict.ok:
        print(f"BROKEN at event {verdict.broken_seq}: {verdict.reason}")
        print(
            f"(the {verdict.events} events before it verify; last good digest "
            f"{verdict.head_digest})"
        )
        return 1
    if checkpoint is None:
        if verdict.events == 0:
            print("EMPTY: the file holds no events (verify against a checkpoint to know more)")
            return 1
        print(f"OK: {verdict.events} events, head {verdict.head_seq} {verdict.head_digest}")
        return 0
    if verdict.head_seq < checkpoint.seq:
        print(
            f"TRUNCATED: the export ends at event {verdict.head_seq}, but the checkpoint of "
            f"{checkpoint.issued_at} covers events up to {checkpoint.seq}: events were cut off"
        )
        return 1
    if digest_at_checkpoint != checkpoint.head_digest:
        print(
            f"REWRITTEN: event {checkpoint.seq} has digest {digest_at_checkpoint}, but the "
            f"checkpoint of {checkpoint.issued_at} says {checkpoint.head_digest}"
        )
        return 1
    print(
        f"OK: {verdict.events} events, head {verdict.head_seq} {verdict.head_digest}; "
        f"agrees with the checkpoint at event {checkpoint.seq} ({checkpoint.issued_at}, "
        f"key {checkpoint.key_id})"
    )
    return 0


def _not_an_event(document: Any, fields: Sequence[str]) -> str | None:
    """Why a JSON line is not an exported audit event, or None if it has the shape of one."""
    if not isinstance(document, dict):
        return f"a JSON {type(document).__name__}, not an object"
    if "signature" in document and "head_digest" in document:
        return "it is a checkpoint; pass it with --checkpoint"
    missing = [name for name in (*fields, "digest") if name not in document]
    if missing:
        return f"missing {', '.join(missing)}"
    return None


def cmd_audit_keygen(args: argparse.Namespace) -> int:
    """Write a new checkpoint signing key (private, mode 0600) and print its public half."""
    from hashshare.audit.checkpoint import key_id, load_private_key, new_private_key_pem
    from hashshare.audit.checkpoint import public_key_pem as pem_of

    path = Path(args.out)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(f"hashshare: {path} exists; not overwriting a key", file=sys.stderr)
        return 1
    with os.fdopen(descriptor, "wb") as out:
        out.write(new_private_key_pem())
    public = load_private_key(path).public_key()
    print(f"wrote {path} (key {key_id(public)}); give auditors this public key:")
    print(pem_of(public), end="")
    return 0


def cmd_audit_public_key(args: argparse.Namespace) -> int:
    """Print the public half of the configured checkpoint key (what auditors keep)."""
    from hashshare.audit.checkpoint import CheckpointError, load_private_key, public_key_pem

    settings = _settings()
    if settings.checkpoint_key_file is None:
        print("hashshare: HASHSHARE_CHECKPOINT_KEY_FILE is not set", file=sys.stderr)
        return 1
    try:
        print(public_key_pem(load_private_key(settings.checkpoint_key_file).public_key()), end="")
    except CheckpointError as exc:
        print(f"hashshare: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from hashshare.analyst.connection import resolve
    from hashshare.changes.sync import SyncError, sync

    target = resolve(args.url, args.token_file, extra_token_env="HASHSHARE_SYNC_TOKEN")  # noqa: S106
    try:
        result = sync(target.url, target.token, Path(args.out))
    except SyncError as exc:
        print(f"hashshare: sync failed: {exc}", file=sys.stderr)
        return 1
    print(
        f"applied {result.applied} changes; holding {result.held} hashes "
        f"(cursor {result.cursor}) in {Path(args.out) / 'hashshare-copy.sqlite3'}"
    )
    return 0


def _read_secret(path: str, what: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    if not text:
        raise ConfigError(f"the {what} file {path} is empty")
    return text


def cmd_edge(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from hashshare.edge.app import create_edge_app, edge_settings
    from hashshare.edge.reports import EDGE_ID
    from hashshare.edge.runtime import EdgeOptions

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not args.upstream or not args.token_file:
        raise ConfigError("hashshare edge needs --upstream and --token-file")
    options = EdgeOptions(
        upstream=args.upstream,
        token=_read_secret(args.token_file, "token"),
        data=Path(args.data),
        max_staleness_seconds=args.max_staleness,
        wait_seconds=args.wait,
        persist_seconds=args.persist_seconds,
        page_limit=args.page_limit,
        snapshot=not args.no_snapshot,
        local_token=_read_secret(args.local_token_file, "local token")
        if args.local_token_file
        else None,
        fetch_hosts=tuple(args.fetch_allow),
        report_counts=args.report_counts,
        edge_id=args.edge_id,
    )
    if args.edge_id is not None and not EDGE_ID.match(args.edge_id):
        raise ConfigError(
            "--edge-id: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    settings = edge_settings()
    app = create_edge_app(options, settings)
    print(
        f"hashshare edge {__version__} on http://{args.host}:{args.port}, following "
        f"{options.upstream}; copy in {options.data}",
        file=sys.stderr,
    )
    if options.local_token is None and args.host not in ("127.0.0.1", "::1", "localhost"):
        print(
            "  WARNING: no --local-token-file, and listening beyond loopback: anyone who "
            "reaches this address can match",
            file=sys.stderr,
        )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0


def cmd_edge_contribute(args: argparse.Namespace) -> int:
    from hashshare.client import ApiError, ClientError
    from hashshare.edge.app import edge_settings
    from hashshare.edge.contribute import contribute

    token = _read_secret(args.token_file, "token")
    minimum = edge_settings().min_pdq_quality  # HASHSHARE_MIN_PDQ_QUALITY, as the service reads it
    try:
        outcome = asyncio.run(
            contribute(
                Path(args.data),
                args.bank,
                args.labels,
                args.upstream,
                token,
                min_pdq_quality=minimum,
            )
        )
    except ApiError as exc:
        print(f"hashshare: {args.upstream} refused the contribution: {exc}", file=sys.stderr)
        if exc.details:
            print(json.dumps(exc.details, indent=2), file=sys.stderr)
        return 1
    except ClientError as exc:
        print(f"hashshare: cannot reach {args.upstream}: {exc}", file=sys.stderr)
        return 1
    for content_id, signal_type, hash_id, status in outcome.done:
        print(f"content {content_id} {signal_type}: hash {hash_id} ({status})")
    for content_id, signal_type, reason in outcome.skipped:
        print(f"content {content_id} {signal_type}: skipped, {reason}")
    print(
        f"bank {outcome.bank}: sent {outcome.sent} signals to {args.upstream} labelled "
        f"{', '.join(outcome.labels)}: {outcome.created} created, {outcome.existing} existing, "
        f"{outcome.updated} updated, {len(outcome.skipped)} skipped"
    )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from hashshare.stats.report import markdown, parse_period
    from hashshare.stats.service import StatsService

    since, until = parse_period(args.period)

    async def work(database: Any, uow: Any) -> Any:
        return await StatsService().compute(uow, since, until)

    stats = asyncio.run(_in_unit(work, load_read_database_url()))
    if args.format == "json":
        print(stats.model_dump_json(indent=2))
    else:
        print(markdown(stats, args.period))
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    from hashshare.configcheck import check

    report = check(database=not args.no_database)
    for fact in report.facts:
        print(f"ok: {fact}")
    if not report.problems:
        print("configuration OK")
        return 0
    count = len(report.problems)
    print(f"{count} problem{'s' if count > 1 else ''}:")
    for problem in report.problems:
        print(f"  - {problem}")
    return 1


def cmd_keys_generate(args: argparse.Namespace) -> int:
    """Make the production secrets; needs no configuration and no database."""
    from hashshare.keys import generate, generate_audit_key

    out = Path(args.out)
    if args.audit_key_only:
        if args.no_audit_key or args.kid or args.keep_jwks:
            raise ConfigError("--audit-key-only makes no signing key: drop the other options")
        path = generate_audit_key(out)
        print(f"audit key     {path} (mode 0600, keep it secret)")
        print(f'Configure the service with HASHSHARE_AUDIT_KEY="$(cat {path.resolve()})"')
        return 0
    made = generate(out, kid=args.kid, keep_jwks=args.keep_jwks, audit_key=not args.no_audit_key)
    print(f"signing key   {made.signing_key} (mode 0600, keep it secret)")
    kept = f"; also verifies {', '.join(made.kept_kids)}" if made.kept_kids else ""
    print(f"JWKS          {made.jwks} (kid {made.kid}{kept})")
    if made.audit_key is not None:
        print(f"audit key     {made.audit_key} (mode 0600, keep it secret)")
    print("Configure the service with:")
    print(f"  HASHSHARE_JWKS_FILE={made.jwks.resolve()}")
    if made.audit_key is not None:
        print(f'  HASHSHARE_AUDIT_KEY="$(cat {made.audit_key.resolve()})"')
    print("and `hashshare token issue` with:")
    print(f"  HASHSHARE_JWT_PRIVATE_KEY_FILE={made.signing_key.resolve()}")
    print(f"  HASHSHARE_JWT_PRIVATE_KEY_ID={made.kid}")
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    from hashshare.openapi import write_spec

    path = write_spec(Path(args.out))
    print(f"wrote {path}")
    return 0


def _worker_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"workers must be a whole number >= 1, not {text!r}")
    return count


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hashshare",
        description="Share perceptual hashes of terrorist and violent-extremist content. "
        "Configuration comes from HASHSHARE_* environment variables.",
    )
    parser.add_argument("--version", action="version", version=f"hashshare {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--workers",
        type=_worker_count,
        # argparse converts a string default with `type`: a bad variable is a usage error.
        default=os.environ.get("HASHSHARE_WORKERS", "1"),
        help="worker processes, each holding its own match index; default HASHSHARE_WORKERS "
        "or 1 (one per core is the most that helps)",
    )
    serve.set_defaults(func=cmd_serve)

    db = commands.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True, metavar="SUBCOMMAND"
    )
    upgrade = db.add_parser("upgrade", help="apply migrations")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(func=cmd_db_upgrade)

    member = commands.add_parser("member", help="manage members").add_subparsers(
        dest="member_command", required=True, metavar="SUBCOMMAND"
    )
    add = member.add_parser("add", help="add a member (an audited admin action)")
    add.add_argument("id", help="stable id: lower-case letters, digits, '.', '_', '-'")
    add.add_argument("--name", required=True, help="display name")
    add.set_defaults(func=cmd_member_add)
    member.add_parser("list", help="list members").set_defaults(func=cmd_member_list)
    suspend = member.add_parser(
        "suspend", help="refuse every token of a member until it is reactivated (audited)"
    )
    suspend.add_argument("id")
    suspend.add_argument("--reason", help="recorded in the audit event")
    suspend.set_defaults(func=cmd_member_suspend)
    reactivate = member.add_parser("reactivate", help="lift a suspension (audited)")
    reactivate.add_argument("id")
    reactivate.set_defaults(func=cmd_member_reactivate)

    token = commands.add_parser("token", help="bearer tokens").add_subparsers(
        dest="token_command", required=True, metavar="SUBCOMMAND"
    )
    issue = token.add_parser("issue", help="print a signed token for a member")
    issue.add_argument("--member", required=True)
    issue.add_argument("--scope", required=True, help="space-separated scopes")
    issue.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    issue.add_argument("--sub", help="subject (who uses the token); default MEMBER-token")
    issue.set_defaults(func=cmd_token_issue)
    revoke = token.add_parser(
        "revoke",
        help="refuse one token (--jti), or a member's tokens issued before a time (audited)",
    )
    revoke.add_argument("--jti", help="the token's id (its jti claim)")
    revoke.add_argument("--member", help="revoke this member's tokens...")
    revoke.add_argument(
        "--issued-before",
        type=_time_argument,
        help="...issued (iat) before this ISO 8601 time with zone, or 'now'",
    )
    revoke.add_argument("--reason", help="recorded in the audit event")
    revoke.set_defaults(func=cmd_token_revoke)

    audit = commands.add_parser("audit", help="the tamper-evident audit log").add_subparsers(
        dest="audit_command", required=True, metavar="SUBCOMMAND"
    )
    export = audit.add_parser("export", help="write the whole log as JSON Lines")
    export.add_argument("--out", required=True, help="file to write")
    export.set_defaults(func=cmd_audit_export)
    verify = audit.add_parser("verify", help="verify an export offline (no database needed)")
    verify.add_argument("file", help="a JSON Lines export")
    verify.add_argument(
        "--checkpoint", help="a checkpoint (GET /v1/audit/checkpoint) the export must reach"
    )
    verify.add_argument("--public-key", help="PEM public key that signed the checkpoint")
    verify.set_defaults(func=cmd_audit_verify)
    keygen = audit.add_parser("keygen", help="write a new checkpoint signing key")
    keygen.add_argument("out", help="file for the private key (created with mode 0600)")
    keygen.set_defaults(func=cmd_audit_keygen)
    audit.add_parser(
        "public-key", help="print the public half of HASHSHARE_CHECKPOINT_KEY_FILE"
    ).set_defaults(func=cmd_audit_public_key)

    sync = commands.add_parser(
        "sync", help="keep a local copy of the shared set up to date", allow_abbrev=False
    )
    analyst_connection.add_arguments(sync)
    sync.add_argument("--out", required=True, help="folder of the local copy")
    sync.set_defaults(func=cmd_sync)

    edge = commands.add_parser(
        "edge", help="match locally against a live copy of the shared set (a member's edge)"
    )
    edge.add_argument("--upstream", help="the central service's base URL (required)")
    edge.add_argument(
        "--token-file", help="file holding a member token with hashes:read (required)"
    )
    edge.add_argument("--data", default="hashshare-edge", help="folder of the saved copy")
    edge.add_argument("--host", default="127.0.0.1", help="listen address (loopback default)")
    edge.add_argument("--port", type=int, default=8100)
    edge.add_argument(
        "--local-token-file", help="file holding the bearer token local callers must present"
    )
    edge.add_argument(
        "--max-staleness",
        type=float,
        default=300.0,
        help="seconds without an answer from upstream before /readyz turns not ready",
    )
    edge.add_argument(
        "--wait", type=float, default=20.0, help="long-poll of the central feed, seconds"
    )
    edge.add_argument(
        "--persist-seconds", type=float, default=10.0, help="save the copy at most this often"
    )
    edge.add_argument(
        "--page-limit", type=int, default=10_000, help="changes per request while syncing"
    )
    edge.add_argument(
        "--no-snapshot",
        action="store_true",
        help="make a first sync page through the change feed instead of GET /v1/snapshot",
    )
    edge.add_argument(
        "--fetch-allow",
        action="append",
        default=[],
        metavar="HOST",
        help="a host (and its subdomains) HMA's `url` parameters may fetch from; repeat for "
        "more. Without it the edge fetches no URLs",
    )
    edge.add_argument(
        "--report-counts",
        action="store_true",
        help="send match counts per hour and label upstream (no hashes; the token needs "
        "matches:report)",
    )
    edge.add_argument(
        "--edge-id", help="how reports name this edge (default: one generated and kept in --data)"
    )
    edge.add_argument("--log-level", default="info")
    edge.set_defaults(func=cmd_edge)
    edge_commands = edge.add_subparsers(dest="edge_command", metavar="{contribute}")
    contribute = edge_commands.add_parser(
        "contribute",
        help="submit a local bank's hashes to the shared set (an audited submission)",
        allow_abbrev=False,
    )
    contribute.add_argument("bank", help="the local bank, e.g. MY_BANK")
    contribute.add_argument(
        "--label",
        dest="labels",
        action="append",
        required=True,
        help="a label from GET /v1/labels (at least one behaviour label); repeat for more",
    )
    contribute.add_argument("--upstream", required=True, help="the central service's base URL")
    contribute.add_argument(
        "--token-file", required=True, help="file holding a member token with hashes:submit"
    )
    contribute.add_argument("--data", default="hashshare-edge", help="the edge's data folder")
    contribute.set_defaults(func=cmd_edge_contribute)

    report = commands.add_parser("report", help="print a transparency report of a period")
    report.add_argument("--period", required=True, help="2026, 2026-Q4 or 2026-11")
    report.add_argument("--format", choices=["md", "json"], default="md")
    report.set_defaults(func=cmd_report)

    config = commands.add_parser("config", help="the configuration").add_subparsers(
        dest="config_command", required=True, metavar="SUBCOMMAND"
    )
    check = config.add_parser(
        "check", help="report every problem of the configuration at once (exit 1 if any)"
    )
    check.add_argument("--no-database", action="store_true", help="do not connect to the database")
    check.set_defaults(func=cmd_config_check)

    keys = commands.add_parser("keys", help="production secrets").add_subparsers(
        dest="keys_command", required=True, metavar="SUBCOMMAND"
    )
    generate = keys.add_parser(
        "generate", help="write a token signing key, its JWKS, and an audit HMAC key"
    )
    generate.add_argument("--out", required=True, help="folder for the key files")
    generate.add_argument("--kid", help="key id of the new signing key (default: from the time)")
    generate.add_argument(
        "--keep-jwks",
        type=Path,
        help="a current jwks.json whose keys stay in the new one (key rotation)",
    )
    generate.add_argument(
        "--no-audit-key", action="store_true", help="only the signing key and JWKS"
    )
    generate.add_argument(
        "--audit-key-only", action="store_true", help="only a new audit key (its rotation)"
    )
    generate.set_defaults(func=cmd_keys_generate)

    spec = commands.add_parser("openapi", help="write the OpenAPI spec")
    spec.add_argument("--out", default=str(DEFAULT_OPENAPI_PATH))
    spec.set_defaults(func=cmd_openapi)

    hashing_cli.register(commands)
    register_analyst_commands(commands)
    return parser


def _output_closed() -> int:
    """The reader went away (`hashshare report | head`): say so once, without a traceback."""
    # Whatever is still buffered for stdout can go nowhere; send it to /dev/null so the
    # interpreter's final flush does not fail a second time.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    print("hashshare: output closed before it was all written (broken pipe)", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
        sys.stdout.flush()
        return result
    except BrokenPipeError:
        return _output_closed()
    except ConfigError as exc:
        print(f"hashshare: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from hashshare.errors import HashshareError
        from hashshare.failures import describe

        if isinstance(exc, HashshareError | ValueError):
            print(f"hashshare: {exc}", file=sys.stderr)
            return 1
        reason = describe(exc)
        if reason is not None:
            print(f"hashshare: {reason}", file=sys.stderr)
            return 2
        raise
