"""`hashshare config check`: every problem of a deployment's configuration, in one report.

Beyond the settings themselves it loads the token verification keys and the signing key,
and asks the database whether it is reachable and its schema is the one this code expects.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization

from hashshare.config import ConfigError, Settings, settings_problems
from hashshare.failures import describe, redact_url


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)


def _check_keys(settings: Settings, report: Report) -> None:
    from hashshare.auth.tokens import TokenVerifier

    if settings.dev_mode:
        report.facts.append("development mode: tokens are signed with a shared secret")
        return
    try:
        TokenVerifier(settings)
    except ConfigError as exc:
        report.problems.append(str(exc))
    else:
        kids = sorted(settings.jwt_public_keys)
        if settings.jwks_file is not None:
            jwks = json.loads(settings.jwks_file.read_text())
            kids += sorted(str(key.get("kid")) for key in jwks.get("keys", []))
        report.facts.append(f"token verification keys (kid): {', '.join(kids)}")
    if settings.jwt_private_key_file is not None:
        try:
            serialization.load_pem_private_key(
                settings.jwt_private_key_file.read_bytes(), password=None
            )
        except (OSError, ValueError, TypeError) as exc:
            report.problems.append(
                f"HASHSHARE_JWT_PRIVATE_KEY_FILE: cannot load {settings.jwt_private_key_file}: "
                f"{describe(exc) or exc}"
            )


async def _schema_revision(database_url: str) -> tuple[str | None, str | None]:
    """(the database's revision, the code's head revision)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from hashshare.db import create_engine
    from hashshare.migrations import alembic_config

    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            current = await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()
    return current, head


def database_problem(database_url: str) -> str | None:
    """Why the service cannot run on this database (unreachable, no schema, an older schema)."""
    where = redact_url(database_url)
    try:
        current, head = asyncio.run(_schema_revision(database_url))
    except Exception as exc:
        reason = describe(exc)
        if reason is None:
            raise
        return f"database {where}: {reason}"
    if current is None:
        return f"database {where} has no schema: run `hashshare db upgrade`"
    if current != head:
        return (
            f"database {where} is at schema {current}, this code needs {head}: "
            "run `hashshare db upgrade`"
        )
    return None


def _check_database(database_url: str, report: Report) -> None:
    problem = database_problem(database_url)
    if problem is not None:
        report.problems.append(problem)
    else:
        report.facts.append(f"database {redact_url(database_url)}: reachable, schema current")


def check(database: bool = True) -> Report:
    """Check the configuration in the environment; never raises for a configuration problem."""
    report = Report()
    settings, problems = settings_problems()
    report.problems.extend(problems)
    if settings is not None:
        _check_keys(settings, report)
    if database:
        from hashshare.config import load_database_url, load_read_database_url

        try:
            url, read_url = load_database_url(), load_read_database_url()
        except ConfigError:
            return report  # already reported with the other settings
        _check_database(url, report)
        if read_url != url:
            _check_database(read_url, report)
    return report
