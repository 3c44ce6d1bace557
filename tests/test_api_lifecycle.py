"""SPEC §4, handle lifetimes: close(), context managers, use after close,
repr, and the ResourceWarning of a handle that was never closed."""
from __future__ import annotations

import gc
import warnings
from typing import Any, Callable, List, Tuple

import pytest

from chronicle import ChronicleError, ClosedError, Publisher, Queue, Subscriber
from conftest import SMALL_SEGMENT


def open_pub(qdir: str) -> Publisher:
    return Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT)


PUBLISHER_CALLS: List[Tuple[str, Callable[[Publisher], Any]]] = [
    ("append", lambda p: p.append(1, b"x")),
    ("append-buffer", lambda p: p.append(1, memoryview(b"x"))),
    ("append-bad-args", lambda p: p.append(1.5, "text")),
    ("flush", lambda p: p.flush()),
    ("flush_async", lambda p: p.flush_async()),
    ("next_seq", lambda p: p.next_seq),
    ("max_payload", lambda p: p.max_payload),
    ("append_many", lambda p: p.append_many(1, [b"x"])),
    ("enter", lambda p: p.__enter__()),
]

SUBSCRIBER_CALLS: List[Tuple[str, Callable[[Subscriber], Any]]] = [
    ("next", lambda s: s.next()),
    ("iter", lambda s: list(s)),
    ("wait-0", lambda s: s.wait(0)),
    ("wait-timeout", lambda s: s.wait(0.01)),
    ("wait-forever", lambda s: s.wait()),
    ("commit", lambda s: s.commit()),
    ("seek", lambda s: s.seek(0)),
    ("next_seq", lambda s: s.next_seq),
    ("ready", lambda s: s.ready()),
    ("next_batch", lambda s: s.next_batch()),
    ("enter", lambda s: s.__enter__()),
]


@pytest.mark.parametrize("name,call", PUBLISHER_CALLS, ids=[c[0] for c in PUBLISHER_CALLS])
def test_publisher_use_after_close_raises_closed_error(qdir: str, name: str, call: Callable[[Publisher], Any]) -> None:
    pub = open_pub(qdir)
    pub.append(0, b"x")
    pub.close()
    with pytest.raises(ClosedError) as info:
        call(pub)
    assert isinstance(info.value, ChronicleError) and isinstance(info.value, ValueError)
    assert qdir in str(info.value)


@pytest.mark.parametrize("name,call", SUBSCRIBER_CALLS, ids=[c[0] for c in SUBSCRIBER_CALLS])
def test_subscriber_use_after_close_raises_closed_error(
    qdir: str, name: str, call: Callable[[Subscriber], Any]
) -> None:
    with open_pub(qdir) as pub:
        pub.append(0, b"x")
    sub = Queue.open_subscriber(qdir, "s")
    sub.close()
    with pytest.raises(ClosedError):
        call(sub)


def test_close_is_idempotent(qdir: str) -> None:
    pub = open_pub(qdir)
    sub = Queue.open_subscriber(qdir, "s")
    for handle in (pub, sub):
        assert not handle.closed
        handle.close()
        assert handle.closed
        handle.close()
        assert handle.closed


def test_context_managers_return_the_handle_and_close_it(qdir: str) -> None:
    with open_pub(qdir) as pub:
        assert isinstance(pub, Publisher)
        with Queue.open_subscriber(qdir, "s") as sub:
            assert isinstance(sub, Subscriber)
    assert pub.closed and sub.closed


def test_context_manager_closes_on_exception(qdir: str) -> None:
    with pytest.raises(RuntimeError):
        with open_pub(qdir) as pub:
            raise RuntimeError("boom")
    assert pub.closed
    with open_pub(qdir) as again:  # the lock was released
        assert again.next_seq == 0


def test_closing_the_publisher_releases_the_lock(qdir: str) -> None:
    pub = open_pub(qdir)
    pub.close()
    with open_pub(qdir):
        pass


def test_repr_shows_path_and_state(qdir: str) -> None:
    pub = open_pub(qdir)
    sub = Queue.open_subscriber(qdir, "s")
    for handle, cls in ((pub, "Publisher"), (sub, "Subscriber")):
        assert cls in repr(handle) and qdir in repr(handle) and "open" in repr(handle)
        handle.close()
        assert "closed" in repr(handle)


def test_path_property(qdir: str) -> None:
    with open_pub(qdir) as pub, Queue.open_subscriber(qdir, "s") as sub:
        assert pub.path == qdir and sub.path == qdir and sub.name == "s"


@pytest.mark.parametrize("kind", ["publisher", "subscriber"])
def test_leaked_handle_warns_and_is_released(qdir: str, kind: str) -> None:
    def leak() -> None:
        if kind == "publisher":
            open_pub(qdir).append(0, b"x")
        else:
            Queue.open_subscriber(qdir, "leaky").next()

    with pytest.warns(ResourceWarning, match="unclosed"):
        leak()
        gc.collect()
    # released: the publisher lock / the reader name can be taken again
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        open_pub(qdir).close()
        Queue.open_subscriber(qdir, "leaky").close()


def test_closed_handle_gives_no_warning(qdir: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        open_pub(qdir).close()
        Queue.open_subscriber(qdir, "s").close()
        gc.collect()
