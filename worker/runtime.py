"""What a worker process builds once at start and passes down: settings, Redis, handler."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import redis

from config.accounts import settings_for
from config.settings import Settings, load_settings
from planner.guard import Guard
from planner.service import Live
from worker.handlers import Handler, build_handler


@dataclass
class Runtime:
    settings: Settings
    client: redis.Redis
    handler: Handler
    rng: np.random.Generator = field(default_factory=np.random.default_rng)
    _live: dict[str, Live] = field(default_factory=dict)
    _handlers: dict[str, Handler] = field(default_factory=dict)
    _guards: dict[str, Guard] = field(default_factory=dict)

    def live(self, account: str) -> Live:
        """The account's settings (ACCOUNTS_FILE overrides) with the shared connection."""
        if account not in self._live:
            self._live[account] = Live.connect(
                self.client, settings_for(self.settings, account), account
            )
        return self._live[account]

    def guard(self, account: str) -> Guard:
        """The account's guard (its caps and keys), built once per worker process."""
        if account not in self._guards:
            live = self.live(account)
            self._guards[account] = Guard(live.client, live.settings, account)
        return self._guards[account]

    def handler_for(self, account: str) -> Handler:
        settings = self.live(account).settings
        if settings is self.settings:
            return self.handler
        if account not in self._handlers:
            self._handlers[account] = build_handler(
                settings, rng=self.rng, dry_run_mix=settings.DRY_RUN_MIX or None
            )
        return self._handlers[account]


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    """The process-wide runtime of an ``rq worker``: settings from the environment.

    The worker's own connection (``rq worker --url``) and ours point at one Redis: REDIS_URL
    (``planner worker`` and docker-compose pass the same value to both).
    """
    settings = load_settings()
    url = settings.REDIS_URL or os.environ.get("RQ_REDIS_URL", "")
    if not url:
        from planner.embedded import connect  # noqa: PLC0415

        client = connect(settings)
    else:
        client = redis.Redis.from_url(url)
    rng = np.random.default_rng(settings.DRY_RUN_SEED)
    handler = build_handler(settings, rng=rng, dry_run_mix=settings.DRY_RUN_MIX or None)
    return Runtime(settings=settings, client=client, handler=handler, rng=rng)
