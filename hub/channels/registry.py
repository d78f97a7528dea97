"""The outgoing channels by name: each channel module registers itself with `@register`.

The modules named in `CHANNEL_MODULES` are imported by name at process start (`load_channels`,
called before a process loads its policy: by `create_app` in hub/__init__.py, the CLI's policy
loading in hub/cli/common.py and the worker's `get_hub` in tasks/runtime.py; `channels`, `get`
and `for_kind` call it too), so this module imports none of them: a new channel is one new
package plus one line here.
"""

from __future__ import annotations

import importlib
import threading

from hub.channels.base import Channel
from hub.policy.model import add_channel_name, remove_channel_name

CHANNEL_MODULES = (
    "hub.channels.teams.channel",
    "hub.channels.email.channel",
    "hub.channels.status_text",  # no channel: the status page text's overridable template
    "hub.channels.ticket",
)

_channels: dict[str, Channel] = {}
_kinds: dict[str, Channel] = {}
_silent: dict[str, Channel] = {}  # channels that notify nobody (`Channel.notifies` False)
_loaded = False  # the imports began (a module they import may call load_channels again)
_ready = False  # the imports are done: later calls return at once, without the lock
_lock = threading.RLock()
_ordered: tuple[Channel, ...] | None = None  # `channels()`, until a channel (un)registers


def register(channel_class: type[Channel]) -> type[Channel]:
    """Class decorator: register one instance of this channel under its `name`."""
    global _ordered
    channel = channel_class()
    with _lock:
        if not channel.name or channel.name in _channels or channel.name in _silent:
            raise ValueError(f"a channel needs a name not registered yet, got {channel.name!r}")
        taken = [k for k in channel.kinds if k in _kinds]
        if taken:
            raise ValueError(f"outbox kinds {taken} belong to another channel")
        _kinds.update(dict.fromkeys(channel.kinds, channel))
        if not channel.notifies:  # delivers its own rows only: no `via:`, not in channels()
            _silent[channel.name] = channel
            return channel_class
        _channels[channel.name] = channel
        _ordered = None
        add_channel_name(channel.name)
    return channel_class


def unregister(name: str) -> None:
    """Forget a channel (tests that register one of their own)."""
    global _ordered
    with _lock:
        channel = _channels.pop(name, None) or _silent.pop(name, None)
        _ordered = None
        remove_channel_name(name)
        for kind in channel.kinds if channel else ():
            _kinds.pop(kind, None)


def load_channels() -> None:
    """Import every module of `CHANNEL_MODULES` once (each registers its channel)."""
    global _loaded, _ready
    if _ready:
        return
    with _lock:
        if _loaded:
            return
        _loaded = True
        for name in CHANNEL_MODULES:
            importlib.import_module(name)
        _ready = True


def channels() -> list[Channel]:
    """Every registered channel: those of `CHANNEL_MODULES` in its order, then the others in
    the order they registered (whichever module was imported first)."""
    global _ordered
    load_channels()
    ordered = _ordered
    if ordered is None:
        rank = {name: i for i, name in enumerate(CHANNEL_MODULES)}
        with _lock:
            ordered = _ordered = tuple(
                sorted(_channels.values(), key=lambda c: rank.get(type(c).__module__, len(rank)))
            )
    return list(ordered)


def channel_names() -> tuple[str, ...]:
    """The names a policy may use in `via:`."""
    return tuple(c.name for c in channels())


def get(name: str) -> Channel:
    """The channel called `name` (as in a `Recipient` or a policy's `via:`)."""
    load_channels()
    try:
        return _channels[name]
    except KeyError:
        raise KeyError(f"no outgoing channel {name!r} (known: {', '.join(_channels)})") from None


def for_kind(kind: str) -> Channel:
    """The channel that writes and sends outbox rows of `kind` (the rows' `channel`)."""
    load_channels()
    try:
        return _kinds[kind]
    except KeyError:
        raise KeyError(f"no outgoing channel sends {kind!r} rows") from None
