"""The file system says no: a full disk, a read-only mount, missing
permissions, hostile names, and the permissions of the files we create.

Full disk: segments are preallocated, so ENOSPC is an OSError when a segment
is made (never a SIGBUS on a mapped write), nothing written before is
harmed, and the publisher works again once space is freed.
"""
from __future__ import annotations

import errno
import json
import os
import pwd
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Dict, Iterator, Optional

import pytest
from conftest import child_env
from test_crash_support import SMALL_SEGMENT, append_expected, check_dense, payload_for, type_for

from chronicle import Queue, Subscriber


@contextmanager
def mounted_tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A private tmpfs of `size` at `where`, unmounted afterwards."""
    where.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True, text=True, timeout=30,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (no CAP_SYS_ADMIN?): {r.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def remount(where: Path, mode: str) -> None:
    r = subprocess.run(["mount", "-o", f"remount,{mode}", str(where)], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        pytest.skip(f"cannot remount the tmpfs {mode}: {r.stderr.strip()}")


def fill_disk(path: Path) -> None:
    """Write `path` until the file system is full."""
    chunk = b"\xa5" * 4096
    with open(path, "wb", buffering=0) as f:
        for _ in range(1 << 20):
            try:
                f.write(chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC
                return
    raise AssertionError("the disk never filled up")


def read_upto(sub: Subscriber, last: int) -> None:
    while sub.next_seq <= last:
        msg = sub.next()
        if msg is None:
            assert sub.wait(timeout=10), f"stalled at {sub.next_seq}"
            continue
        assert bytes(msg.payload) == payload_for(msg.seq) and msg.type_id == type_for(msg.seq)


def test_full_disk_fails_at_segment_creation_and_recovers(tmp_path: Path) -> None:
    with mounted_tmpfs(tmp_path / "mnt", "2m") as mnt:
        q = str(mnt / "queue")
        filler = mnt / "filler"
        with Queue.open_subscriber(q, "reader") as sub, Queue.open_publisher(q, segment_size=SMALL_SEGMENT) as pub:
            fill_disk(filler)
            # append until a roll needs a segment the disk has no room for
            with pytest.raises(OSError) as info:
                for _ in range(2000):
                    append_expected(pub, pub.next_seq, 1)
            err = info.value
            assert err.errno == errno.ENOSPC
            assert err.filename and str(err.filename).startswith(q) and ".seg" in str(err.filename)
            failed_at = pub.next_seq
            assert failed_at > 0
            # a failed append wrote nothing and left the publisher usable
            with pytest.raises(OSError):
                pub.append(type_for(failed_at), payload_for(failed_at))
            assert pub.next_seq == failed_at
            read_upto(sub, failed_at - 1)
            assert sub.next() is None

            # nothing new can be created meanwhile, with a clear error
            with pytest.raises(OSError) as info:
                Queue.open_publisher(str(mnt / "other"), segment_size=SMALL_SEGMENT)
            assert info.value.errno == errno.ENOSPC and str(mnt / "other") in str(info.value.filename)

            filler.unlink()
            append_expected(pub, failed_at, 300)  # several rolls
            read_upto(sub, failed_at + 299)
        assert check_dense(q) == failed_at + 300


def sparse_copy(src: str, dst: str) -> None:
    """Copy a queue as backup tools do: blocks of zeros become holes."""
    for dirpath, _, filenames in os.walk(src):
        target = os.path.join(dst, os.path.relpath(dirpath, src))
        os.makedirs(target, exist_ok=True)
        for name in filenames:
            data = Path(dirpath, name).read_bytes()
            with open(os.path.join(target, name), "wb") as f:
                f.truncate(len(data))
                for off in range(0, len(data), 4096):
                    block = data[off : off + 4096]
                    if block.count(0) != len(block):
                        f.seek(off)
                        f.write(block)


SPARSE_PUBLISHER = """
import sys
from chronicle import Queue
try:
    with Queue.open_publisher(sys.argv[1]) as pub:
        for i in range(300):
            pub.append(1, bytes([i % 251]) * 100)
    print("ok")
except OSError as e:
    print("oserror", e.errno, e.filename)
"""


def publish(qdir: str) -> "subprocess.CompletedProcess[str]":
    cmd = [sys.executable, "-c", SPARSE_PUBLISHER, qdir]
    return subprocess.run(cmd, env=child_env(), capture_output=True, text=True, timeout=60)


def test_sparse_copy_on_full_disk_is_an_error_not_sigbus(tmp_path: Path) -> None:
    """A restored (sparse) queue on a full disk: the publisher reserves the
    active segment's blocks when it opens it, so it reports ENOSPC instead
    of dying of SIGBUS on its first write into a hole."""
    with mounted_tmpfs(tmp_path / "mnt", "2m") as mnt:
        q, copy = str(mnt / "queue"), str(mnt / "copy")
        with Queue.open_publisher(q, segment_size=SMALL_SEGMENT) as pub:
            append_expected(pub, 0, 10)
        sparse_copy(q, copy)
        fill_disk(mnt / "filler")
        run = publish(copy)
        assert run.returncode == 0, f"publisher died with status {run.returncode}: {run.stderr[-500:]}"
        words = run.stdout.split()
        assert words[:2] == ["oserror", str(errno.ENOSPC)] and words[2].startswith(copy), run.stdout
        (mnt / "filler").unlink()
        run = publish(copy)
        assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-500:]
        assert check_dense(copy) == 310


def test_read_only_filesystem(tmp_path: Path) -> None:
    with mounted_tmpfs(tmp_path / "mnt", "4m") as mnt:
        q = str(mnt / "queue")
        with Queue.open_publisher(q, segment_size=SMALL_SEGMENT) as pub:
            append_expected(pub, 0, 200)
        with Queue.open_subscriber(q, "reader") as sub:
            read_upto(sub, 99)
            sub.commit()
        remount(mnt, "ro")
        try:
            for opener in (lambda: Queue.open_publisher(q), lambda: Queue.open_subscriber(q, "reader")):
                with pytest.raises(OSError) as info:
                    opener()
                assert info.value.errno == errno.EROFS
                assert str(info.value.filename).startswith(q), info.value
            new = str(mnt / "new")
            with pytest.raises(OSError) as info:
                Queue.open_publisher(new)
            assert info.value.errno == errno.EROFS and info.value.filename == new
        finally:
            remount(mnt, "rw")
        # nothing was harmed: the reader resumes, the publisher continues
        with Queue.open_subscriber(q, "reader") as sub, Queue.open_publisher(q) as pub:
            assert sub.next_seq == 100
            append_expected(pub, 200, 10)
            read_upto(sub, 209)


# ---- permissions ---------------------------------------------------------------


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory others can traverse but not write (tmp_path is private)."""
    d = Path(tempfile.mkdtemp(prefix="chronicle-perm-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def as_other_user(fn: Callable[[], None]) -> Dict[str, Optional[object]]:
    """Run fn in a forked child without our privileges; what it raised."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to run a child as another user")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody' to drop privileges to")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            out: Dict[str, Optional[object]] = {"raised": None}
            try:
                fn()
            except BaseException as e:  # report anything, the parent judges
                out = {"raised": type(e).__name__, "errno": getattr(e, "errno", None),
                       "filename": getattr(e, "filename", None), "message": str(e)}
            os.write(w, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    try:
        if not select.select([r], [], [], 30)[0]:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError("the unprivileged child did not answer")
        data = b""
        while chunk := os.read(r, 65536):
            data += chunk
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    return json.loads(data)  # type: ignore[no-any-return]


def test_missing_permissions_name_the_path(shared_dir: Path) -> None:
    q = str(shared_dir / "queue")
    with Queue.open_publisher(q, segment_size=SMALL_SEGMENT) as pub:
        append_expected(pub, 0, 5)

    def subscribe() -> None:
        with Queue.open_subscriber(q, "intruder"):
            pass

    def publish() -> None:
        with Queue.open_publisher(q):
            pass

    for fn in (subscribe, publish):
        got = as_other_user(fn)
        assert got["raised"] == "PermissionError" and got["errno"] == errno.EACCES, got
        assert str(got["filename"]).startswith(q) and q in str(got["message"]), got

    new = str(shared_dir / "new_queue")

    def create() -> None:
        with Queue.open_publisher(new):
            pass

    got = as_other_user(create)
    assert got["raised"] == "PermissionError" and got["filename"] == new, got
    assert not os.path.exists(new)
    # the queue itself is untouched
    assert check_dense(q) == 5


def modes(root: str) -> Dict[str, int]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            out[os.path.relpath(p, root)] = stat.S_IMODE(os.lstat(p).st_mode)
    out["."] = stat.S_IMODE(os.lstat(root).st_mode)
    return out


@pytest.fixture
def no_umask() -> Iterator[None]:
    """Show the modes Chronicle asks for, not what a umask leaves of them."""
    old = os.umask(0)
    yield
    os.umask(old)


def test_files_are_owner_only_by_default(qdir: str, no_umask: None) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub, Queue.open_subscriber(qdir, "r") as sub:
        append_expected(pub, 0, 200)  # rolls create more segments
        read_upto(sub, 199)
        sub.commit()
    got = modes(qdir)
    assert any(k.endswith(".seg") for k in got) and "readers/r.pos" in got
    for path, mode in got.items():
        is_dir = os.path.isdir(os.path.join(qdir, path))
        assert mode == (0o700 if is_dir else 0o600), f"{path}: {oct(mode)}"


def test_file_mode_is_configurable_and_kept(qdir: str, no_umask: None) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT, file_mode=0o640) as pub:
        append_expected(pub, 0, 50)
    # later handles that say nothing use the queue's mode
    with Queue.open_publisher(qdir) as pub, Queue.open_subscriber(qdir, "later") as sub:
        append_expected(pub, 50, 200)
        read_upto(sub, 249)
        sub.commit()
    got = modes(qdir)
    for path, mode in got.items():
        if os.path.isdir(os.path.join(qdir, path)):
            assert mode == 0o750, f"{path}: {oct(mode)}"
        elif not path.startswith("readers/"):
            assert mode == 0o640, f"{path}: {oct(mode)}"
    assert got["readers/later.pos"] == 0o640


# ---- names -------------------------------------------------------------------------

BAD_NAMES = [
    "", ".", "..", "../escape", "../../etc/passwd", "a/b", "/abs", "sub/../../x", ".hidden",
    "a" * 65, "a\x00b", "a b", "a\\b", "naïve", "tab\t", "new\nline", "a:b", "*", "~",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_reader_names_never_escape(tmp_path: Path, name: str) -> None:
    q = str(tmp_path / "queue")
    with Queue.open_publisher(q, segment_size=SMALL_SEGMENT) as pub:
        pub.append(1, b"x")
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    with pytest.raises(ValueError) as info:
        Queue.open_subscriber(q, name)
    assert "name" in str(info.value)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def test_reader_names_at_the_limits(qdir: str) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        pub.append(1, b"x")
    for name in ("a" * 64, "a..b", "x.y-z_0", "A"):
        with Queue.open_subscriber(qdir, name) as sub:
            assert sub.next() is not None
            sub.commit()
        assert os.path.isfile(os.path.join(qdir, "readers", name + ".pos"))
    for bad in (b"bytes", 7, None):
        with pytest.raises(TypeError):
            Queue.open_subscriber(qdir, bad)  # type: ignore[arg-type]
