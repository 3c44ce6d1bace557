"""The chronicle command as a whole: entry points, help, exit codes and
one-line errors for bad arguments and missing queues."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chronicle.cli.common import parse_age, parse_size
from conftest import child_env
from test_cli_support import cli, cli_process, error_line, write_queue

COMMANDS = ["inspect", "tail", "readers", "verify", "repair", "retain", "export", "stats"]


def test_no_command_shows_the_overview() -> None:
    r = cli()
    assert r.code == 2 and r.err == ""
    assert "Commands:" in r.out and "verify" in r.out


def test_python_m_chronicle_runs_the_command() -> None:
    r = cli_process("--version")
    assert r.returncode == 0
    assert b"chronicle" in r.stdout


def test_console_script_is_installed() -> None:
    script = shutil.which("chronicle", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.skip("the package is not installed in this interpreter's environment")
    r = subprocess.run([script, "--help"], capture_output=True, timeout=60, env=child_env())
    assert r.returncode == 0
    for name in COMMANDS:
        assert name.encode() in r.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_and_json(name: str) -> None:
    r = cli(name, "--help")
    assert r.code == 0
    assert "QUEUE" in r.out
    assert "--json" in r.out
    assert cli(name, "-h").out == r.out


@pytest.mark.parametrize("name", COMMANDS)
def test_missing_queue_is_one_line_and_exit_3(tmp_path: Path, name: str) -> None:
    missing = str(tmp_path / "nope")
    extra = ["--to", str(tmp_path / "x.npy")] if name == "export" else []
    r = cli(name, missing, *extra)
    assert r.code == 3, r.err
    line = error_line(r)
    assert line.startswith(f"chronicle {name}: error: ")
    assert missing in line and "no such queue" in line
    assert not os.path.exists(missing)  # no tool creates a queue by looking at it


def test_directory_without_a_queue_is_exit_3(tmp_path: Path) -> None:
    r = cli("inspect", str(tmp_path))
    assert r.code == 3
    assert "not a Chronicle queue" in error_line(r)


def test_missing_queue_in_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    r = cli_process("verify", str(tmp_path / "nope"))
    assert r.returncode == 3
    assert r.stderr.decode().count("\n") == 1
    assert b"Traceback" not in r.stderr


@pytest.mark.parametrize(
    "args, words",
    [
        (["tail", "Q", "--bogus"], "No such option"),
        (["tail", "Q", "--last", "x"], "'x' is not a valid integer"),
        (["tail", "Q", "--type", "70000"], "70000"),
        (["tail", "Q", "--format", "xml"], "xml"),
        (["tail", "Q", "--from", "-1"], "-1"),
        (["retain", "Q", "--max-age", "soon"], "not an age"),
        (["retain", "Q", "--max-bytes", "lots"], "not a size"),
        (["export", "Q"], "--to"),
        (["nosuchcommand"], "No such command"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(qdir: str, args: list, words: str) -> None:
    write_queue(qdir, 5)
    r = cli(*[qdir if a == "Q" else a for a in args])
    assert r.code == 2, r.err
    line = error_line(r)
    assert words in line
    assert "--help" in line


@pytest.mark.parametrize(
    "args, words",
    [
        (["tail", "Q", "--from", "3", "--last", "2"], "exclusive"),
        (["tail", "Q", "--from", "50"], "beyond the end"),
        (["tail", "Q", "--from", "4", "--until", "2"], "before --from"),
        (["export", "Q", "--to", "out.csv"], "unknown output format"),
        (["export", "Q", "--to", "out.npy", "--dtype", "price:notatype"], "--dtype"),
        (["readers", "Q", "--remove", "nobody"], "no reader named"),
        (["readers", "Q", "--remove", "../escape"], "invalid reader name"),
        (["inspect", ""], "empty queue path"),
    ],
)
def test_arguments_that_do_not_fit_the_queue_exit_2(
    qdir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list, words: str
) -> None:
    write_queue(qdir, 5)
    monkeypatch.chdir(tmp_path)
    r = cli(*[qdir if a == "Q" else a for a in args])
    assert r.code == 2, r.err
    assert words in error_line(r)


def test_corrupt_meta_is_a_problem_not_a_crash(qdir: str) -> None:
    write_queue(qdir, 5)
    with open(os.path.join(qdir, "queue.meta"), "r+b") as f:
        f.write(b"JUNK")
    r = cli("inspect", qdir)
    assert r.code == 1
    assert "queue.meta" in error_line(r) and "bad magic" in r.err
    v = cli("verify", qdir)
    assert v.code == 1
    assert f"{os.path.join(qdir, 'queue.meta')}:0: bad magic" in v.out


def test_missing_extra_names_it_and_exits_5(qdir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_queue(qdir, 5)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import fails as if not installed
    r = cli("export", qdir, "--to", str(tmp_path / "out.parquet"))
    assert r.code == 5
    assert "chronicle-mq[export]" in error_line(r)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    r = cli("stats", qdir, "--plot", str(tmp_path / "p.png"))
    assert r.code == 5
    assert "chronicle-mq[plot]" in error_line(r)
    assert not (tmp_path / "out.parquet").exists()


def test_closed_pipe_ends_quietly(qdir: str) -> None:
    write_queue(qdir, 3000)
    p = subprocess.Popen(
        [sys.executable, "-m", "chronicle", "tail", qdir, "--from", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(),
    )
    assert p.stdout is not None and p.stderr is not None
    first = p.stdout.readline()
    assert first.startswith(b"0  ")
    p.stdout.close()  # like `| head -1`
    err = p.stderr.read()
    assert p.wait(timeout=60) == 0
    assert b"Traceback" not in err and b"Error" not in err


@pytest.mark.parametrize(
    "text, value",
    [("4096", 4096), ("10G", 10 << 30), ("512M", 512 << 20), ("1.5KiB", 1536), ("2k", 2048), ("7 GB", 7 << 30)],
)
def test_sizes(text: str, value: int) -> None:
    assert parse_size(None, None, text) == value


@pytest.mark.parametrize(
    "text, seconds",
    [("7d", 7 * 86400.0), ("12h", 43200.0), ("30m", 1800.0), ("45s", 45.0), ("500ms", 0.5), ("1d12h", 129600.0),
     ("2w", 1209600.0), ("90", 90.0)],
)
def test_ages(text: str, seconds: float) -> None:
    assert parse_age(None, None, text) == seconds


def _run_in_terminal(args: list) -> bytes:
    """Output of `python -m chronicle args` run with a pseudo-terminal as
    stdout and stderr, as an operator's shell would."""
    import pty
    import select

    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "chronicle", *args], stdin=slave, stdout=slave, stderr=slave,
                         env=child_env())
    os.close(slave)
    out = b""
    try:
        while select.select([master], [], [], 30)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
        if p.poll() is None:
            p.kill()
        p.wait(timeout=30)
    return out


def test_progress_bar_only_on_a_terminal(qdir: str) -> None:
    write_queue(qdir, 3000)
    shown = _run_in_terminal(["verify", qdir])
    assert b"verifying" in shown and b"100%" in shown and b"clean" in shown
    piped = cli_process("verify", qdir)
    assert piped.returncode == 0
    assert b"verifying" not in piped.stdout + piped.stderr
    json_on_terminal = _run_in_terminal(["verify", qdir, "--json"])
    assert b"verifying" not in json_on_terminal and b'"clean": true' in json_on_terminal
