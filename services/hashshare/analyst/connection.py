"""Where the commands that call a service find its URL and their token.

URL: `--url`, else `HASHSHARE_URL`, else the login file. Token: `--token-file`, else
`HASHSHARE_TOKEN_FILE`, else `HASHSHARE_TOKEN`, else the login file. Never a command-line
argument: other local users can read those (`ps`, /proc). `hashshare login` writes the
login file with mode 0600: `$HASHSHARE_CLIENT_CONFIG`, else
`$XDG_CONFIG_HOME/hashshare/client.json` (`~/.config/hashshare/client.json`).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path

from hashshare.config import ConfigError

URL_ENV = "HASHSHARE_URL"
# Names of environment variables, not secrets.
TOKEN_ENV = "HASHSHARE_TOKEN"  # noqa: S105
TOKEN_FILE_ENV = "HASHSHARE_TOKEN_FILE"  # noqa: S105
CONFIG_ENV = "HASHSHARE_CLIENT_CONFIG"


@dataclass(frozen=True, slots=True)
class Connection:
    url: str
    token: str


def config_path() -> Path:
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hashshare" / "client.json"


def _saved() -> dict[str, str]:
    path = config_path()
    if not path.exists():
        return {}
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the login file {path}: {exc}") from None
    return {key: value for key, value in saved.items() if isinstance(value, str)}


def read_token_file(path: str | Path) -> str:
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the token file {path}: {exc.strerror}") from None
    if not token:
        raise ConfigError(f"the token file {path} is empty")
    return token


def resolve(
    url: str | None, token_file: str | None, extra_token_env: str | None = None
) -> Connection:
    """The service and token to use, from flags, the environment, then the login file."""
    saved = _saved()
    url = url or os.environ.get(URL_ENV) or saved.get("url")
    if not url:
        raise ConfigError(f"no service URL: give --url, set {URL_ENV}, or run `hashshare login`")
    token_file = token_file or os.environ.get(TOKEN_FILE_ENV)
    if token_file:
        token = read_token_file(token_file)
    else:
        token = (
            (os.environ.get(extra_token_env) if extra_token_env else None)
            or os.environ.get(TOKEN_ENV)
            or saved.get("token")
            or ""
        )
    if not token:
        raise ConfigError(
            f"no token: give --token-file, set {TOKEN_FILE_ENV} or {TOKEN_ENV}, "
            "or run `hashshare login`"
        )
    return Connection(url.rstrip("/"), token)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help=f"the service (default: ${URL_ENV} or the login file)")
    parser.add_argument(
        "--token-file",
        help=f"file holding the bearer token (default: ${TOKEN_FILE_ENV}, ${TOKEN_ENV} "
        "or the login file)",
    )


def save(url: str, token: str) -> Path:
    """Write the login file, readable by its owner only; the token is never printed."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # also when the file already existed with a wider mode
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump({"url": url.rstrip("/"), "token": token}, out)
        out.write("\n")
    return path


def cmd_login(args: argparse.Namespace) -> int:
    token = read_token_file(args.token_file)
    if token.count(".") != 2:
        raise ConfigError(f"{args.token_file} does not hold a JWT (header.payload.signature)")
    path = save(args.url, token)
    print(f"saved the service URL {args.url.rstrip('/')} and your token in {path} (mode 0600)")
    return 0
