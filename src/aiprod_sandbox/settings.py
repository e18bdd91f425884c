"""Server-wide configuration: one frozen `Settings`, built once from flags > env > defaults.

Every option is declared once in `OPTIONS`; the command line (`cli.py`) derives its flags from
that table and `Settings.load` applies the `AIPROD_SANDBOX_<NAME>` variables. `Client` is the
same for the commands that talk to a running sandbox (`--url`, `--key`). Nothing else in the
package reads the environment.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .core.tiers import TIERS
from .errors import ConfigError

if TYPE_CHECKING:
    from .core.config import CoreConfig

ENV_PREFIX = "AIPROD_SANDBOX_"
CLOCK_MODES = ("real", "manual")
JOB_TIMINGS = ("instant", "simulated")
LOG_LEVELS = ("debug", "info", "warning", "error")
HTTP_PARSERS = ("auto", "httptools", "h11")
EVENT_LOOPS = ("auto", "uvloop", "asyncio")


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _parse_choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {text!r}")
        return value

    return parse


def _parse_port(text: str) -> int:
    if not text.strip().isdigit():
        raise ValueError(f"port must be a whole number 0-65535, got {text!r}")
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be 0-65535, got {port}")
    return port


def _parse_positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(f"must be a whole number of at least 1, got {text!r}")
    return int(text)


def _parse_positive_float(text: str) -> float:
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"must be a positive number, got {text!r}")
    return value


def _parse_scale(text: str) -> float:
    value = _parse_positive_float(text)
    if value > 1_000_000:
        raise ValueError(f"at most 1000000 clock seconds per real second, got {text!r}")
    return value


def _parse_start_time(text: str) -> float:
    from .core.clock import parse_clock_time  # here: `--help` and `--version` stay instant

    try:
        return parse_clock_time(text)
    except ValueError as exc:  # not ISO 8601, no offset, or out of a clock's range
        raise ValueError(f"{exc}: {text!r}") from exc


def _parse_delays(text: str) -> tuple[float, ...]:
    delays = tuple(float(part) for part in text.replace(" ", "").split(",") if part)
    if not delays or any(not d > 0 for d in delays):
        raise ValueError(f"expected positive seconds separated by commas, got {text!r}")
    return delays


def _parse_optional_str(text: str) -> str | None:
    return text.strip() or None


def _parse_path(text: str) -> Path | None:
    return Path(text).expanduser() if text.strip() else None


@dataclass(frozen=True)
class Option:
    """One setting: its flag, its variable, how text becomes a value, and its help line."""

    name: str
    parse: Callable[[str], Any]
    help: str
    metavar: str | None = None
    is_flag: bool = False
    repeat: bool = False  # a flag given many times; the variable separates values with commas

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


OPTIONS: tuple[Option, ...] = (
    Option("host", str, "interface to listen on (the container uses 0.0.0.0)", "HOST"),
    Option("port", _parse_port, "TCP port (0 picks a free one)", "PORT"),
    Option("seed", int, "seed for ids, scores and costs; same seed, same answers", "N"),
    Option("fixtures", _parse_path, "folder of fixtures overriding the shipped ones", "DIR"),
    Option(
        "data_dir",
        _parse_path,
        "keep every account in this folder (SQLite), across restarts; default: memory only",
        "DIR",
    ),
    Option(
        "public_url",
        _parse_optional_str,
        "base URL used in result links (default: the Host the request came to)",
        "URL",
    ),
    Option(
        "strict_keys",
        _parse_bool,
        "accept only fixture keys and keys created through the API",
        is_flag=True,
    ),
    Option("default_tier", _parse_choice(TIERS), "tier of keys without a tier prefix", "TIER"),
    Option("log_level", _parse_choice(LOG_LEVELS), "debug, info, warning or error", "LEVEL"),
    Option(
        "admin_token",
        _parse_optional_str,
        "token (header X-AIPROD-Admin-Token) that reaches every account in /_sandbox",
        "TOKEN",
    ),
    Option("clock", _parse_choice(CLOCK_MODES), "default clock of new accounts", "MODE"),
    Option(
        "time_scale",
        _parse_scale,
        "run the real clock N times faster (60 = a minute a second)",
        "N",
    ),
    Option("start_time", _parse_start_time, "ISO 8601 time new clocks start at", "ISO8601"),
    Option("job_timing", _parse_choice(JOB_TIMINGS), "instant or simulated job timing", "MODE"),
    Option(
        "webhook_timeout",
        _parse_positive_float,
        "seconds one webhook attempt may take in all (a slow-dripping receiver is cut off)",
        "SECONDS",
    ),
    Option(
        "webhook_retry_delays",
        _parse_delays,
        "seconds to wait after each failed attempt; attempts = delays + 1",
        "S,S,...",
    ),
    Option(
        "scenario",
        str,
        "switch a scenario on for every account (a library name or a YAML file); repeatable",
        "NAME_OR_FILE",
        repeat=True,
    ),
    Option(
        "link_secret",
        _parse_optional_str,
        "secret that signs result links (default: random per server, so only it makes them)",
        "SECRET",
    ),
    Option(
        "port_file",
        _parse_path,
        "write the port being served to this file while serving (read by `health`)",
        "FILE",
    ),
    Option(
        "http",
        _parse_choice(HTTP_PARSERS),
        "HTTP/1.1 parser: httptools, h11, or auto (httptools where it is installed)",
        "PARSER",
    ),
    Option(
        "loop",
        _parse_choice(EVENT_LOOPS),
        "event loop: uvloop, asyncio, or auto (uvloop where it is installed)",
        "LOOP",
    ),
    Option(
        "deny_private_webhooks",
        _parse_bool,
        "refuse webhook URLs that resolve to private or loopback addresses",
        is_flag=True,
    ),
    Option(
        "max_accounts",
        _parse_positive_int,
        "accounts opened by keys the server keeps (a smaller CI machine may want fewer)",
        "N",
    ),
    Option(
        "max_jobs_per_account",
        _parse_positive_int,
        "jobs an account keeps; past it the ones ended longest ago are forgotten",
        "N",
    ),
)


@dataclass(frozen=True)
class Settings:
    """Everything the server is configured with. Build it with `Settings.load`."""

    host: str = "127.0.0.1"
    port: int = 8080
    seed: int = 0
    fixtures: Path | None = None
    data_dir: Path | None = None  # None: accounts live in memory only
    public_url: str | None = None
    strict_keys: bool = False
    default_tier: str = "pro"
    log_level: str = "info"
    admin_token: str | None = None
    clock: str = "real"
    time_scale: float = 1.0
    start_time: float | None = None
    job_timing: str = "instant"
    webhook_timeout: float = 30.0
    webhook_retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0, 3600.0)
    deny_private_webhooks: bool = False
    scenario: tuple[str, ...] = ()
    port_file: Path | None = None
    link_secret: str | None = None
    http: str = "auto"
    loop: str = "auto"
    webhook_max_age: float = 24 * 3600.0
    webhook_concurrency: int = 64
    webhook_queue: int = 10_000
    webhook_excerpt_bytes: int = 2048
    # Limits that keep memory bounded: these two are flags too, the rest settable by
    # embedders and tests.
    max_accounts: int = 10_000  # besides fixture accounts
    new_accounts_burst: int = 1_000  # per client address: new accounts at once...
    new_accounts_per_second: float = 50.0  # ...and then this many a second
    account_idle_seconds: float = 60.0  # an empty account unused this long may be let go
    max_jobs_per_account: int = 100_000
    journal_size: int = 1_000
    journal_bytes: int = 512 * 1024  # an account's journal: headers and bodies kept
    journal_body_bytes: int = 4096  # each body kept up to this, then cut with a marker
    max_body_bytes: int = 1024 * 1024
    link_ttl_seconds: float = 3600.0

    @classmethod
    def load(
        cls,
        flags: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Flags (parsed; `None` = unset) win over variables, variables over defaults."""
        env = os.environ if environ is None else environ
        given = {name for name, value in (flags or {}).items() if value is not None}
        values: dict[str, Any] = {}
        for option in OPTIONS:
            raw = None if option.name in given else env.get(option.env)
            if raw is not None:
                try:
                    if option.repeat:
                        parts = [part.strip() for part in raw.split(",") if part.strip()]
                        values[option.name] = tuple(option.parse(part) for part in parts)
                        continue
                    values[option.name] = option.parse(raw)
                except ValueError as exc:
                    raise ConfigError(f"{option.env}: {exc}") from exc
        for name, value in (flags or {}).items():
            if value is not None:
                values[name] = tuple(value) if isinstance(value, list) else value
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def core(self) -> CoreConfig:
        """The part of these settings the core reads (`core/config.py`)."""
        from .core.config import CoreConfig
        from .core.deliveries import RetryPolicy
        from .core.urls import local_url

        return CoreConfig(
            seed=self.seed,
            clock=self.clock,
            time_scale=self.time_scale,
            start_time=self.start_time,
            job_timing=self.job_timing,
            default_tier=self.default_tier,
            strict_keys=self.strict_keys,
            fixtures=self.fixtures,
            scenarios=self.scenario,
            base_url=self.public_url or local_url(self.host, self.port),
            pinned_base_url=bool(self.public_url),
            link_secret=self.link_secret,
            link_ttl_seconds=self.link_ttl_seconds,
            retry=RetryPolicy(
                delays=self.webhook_retry_delays,
                max_age=self.webhook_max_age,
                timeout=self.webhook_timeout,
            ),
            max_accounts=self.max_accounts,
            new_accounts_burst=self.new_accounts_burst,
            new_accounts_per_second=self.new_accounts_per_second,
            account_idle_seconds=self.account_idle_seconds,
            max_jobs_per_account=self.max_jobs_per_account,
            journal_size=self.journal_size,
            journal_bytes=self.journal_bytes,
            journal_body_bytes=self.journal_body_bytes,
        )


@dataclasses.dataclass(frozen=True)
class Client:
    """Where the client commands (`aiprod-sandbox trigger ...`) find a running sandbox: a
    flag, else `AIPROD_SANDBOX_URL` / `AIPROD_SANDBOX_KEY`, else None (the command's default)."""

    URL_VARIABLE: ClassVar[str] = "AIPROD_SANDBOX_URL"
    KEY_VARIABLE: ClassVar[str] = "AIPROD_SANDBOX_KEY"

    url: str | None
    key: str | None

    @classmethod
    def load(
        cls, url: str | None, key: str | None, environ: Mapping[str, str] | None = None
    ) -> Client:
        env = os.environ if environ is None else environ
        return cls(url or env.get(cls.URL_VARIABLE), key or env.get(cls.KEY_VARIABLE))
