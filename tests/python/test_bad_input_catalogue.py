"""Runs the bad-input catalogue (tests/bad_input/cases.py) through the built
`chutoro` command line: one test per case, then a summary of the cases and
kinds covered ("bad-input catalogue: N cases in K kinds").

The CLI is $CHUTORO_CLI (scripts/test.sh sets it; the test fails when it is
set but missing), else build/release/chutoro in the repository (the module is
skipped when that is missing). Every case runs in a fresh folder of its own
with that folder as the working directory, so messages name the case's files
as given. Cases with `pending=N` are xfail(strict=True): defect N of issue 15
is not fixed on this branch. How to add a case: tests/bad_input/README.md.
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "bad_input"))

import cases as catalogue  # noqa: E402

CLI_ENV = os.environ.get("CHUTORO_CLI")
CLI = Path(CLI_ENV) if CLI_ENV else ROOT / "build" / "release" / "chutoro"
if CLI_ENV and not CLI.exists():
    raise RuntimeError(f"CHUTORO_CLI={CLI_ENV} does not exist")
if not CLI.exists():
    pytest.skip(f"{CLI} not built (cmake --preset release && cmake --build --preset release)", allow_module_level=True)

# Files a fixed CLI may legitimately leave beside a model (e.g. a lock file of
# `add`), as regexes on the name; none today.
ALLOWED_NEW_FILES: list[str] = []

TIMEOUT = 60  # seconds for one CLI run: a hang is a failure, not a stuck suite
FILE_SIZE_LIMIT = 16 * 1024  # error_file_size_limited: below any model (200 rows: ~23 KB since format 3), above a 300-row labels CSV (~8 KB)
PREFIX = "chutoro: error: "
# Characters no one-line message may hold raw: C0 and C1 controls, DEL (the final newline aside).
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# ---------------------------------------------------------------- environment


def _can_unshare() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    try:
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


_NEEDS = {"root": lambda: os.geteuid() == 0, "unshare": _can_unshare}


def _unmet_needs(case: catalogue.Case) -> list[str]:
    return [n for n in case.needs if not _NEEDS[n]()]


def run_cli(argv: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), *argv], cwd=cwd, capture_output=True, stdin=subprocess.DEVNULL,
                          timeout=TIMEOUT, **kw)


# ---------------------------------------------------------------- making the files

_model_cache: dict[tuple, bytes] = {}


def _model_bytes(spec: catalogue.Model, work: Path) -> bytes:
    key = (spec.data, spec.input, spec.fit_args)
    if key not in _model_cache:
        d = work / f"model{len(_model_cache)}"
        d.mkdir()
        (d / spec.input).write_bytes(spec.data)
        r = run_cli(["fit", spec.input, "--save", "m.chutoro", "--threads", "1", "--quiet", *spec.fit_args], d)
        assert r.returncode == 0, f"fitting the case's model failed: {r.stderr.decode(errors='replace')}"
        _model_cache[key] = (d / "m.chutoro").read_bytes()
    b = _model_cache[key]
    return spec.patch(b) if spec.patch else b


def make_files(case: catalogue.Case, folder: Path, work: Path) -> None:
    for name, spec in case.files.items():
        p = folder / name
        if isinstance(spec, bytes):
            p.write_bytes(spec)
        elif isinstance(spec, catalogue.Model):
            p.write_bytes(_model_bytes(spec, work))
        elif isinstance(spec, catalogue.Fifo):
            os.mkfifo(p, 0o600)
        elif isinstance(spec, catalogue.CharDevice):
            os.mknod(p, 0o666 | stat.S_IFCHR, os.makedev(spec.major, spec.minor))
        elif isinstance(spec, catalogue.Directory):
            p.mkdir()
        elif isinstance(spec, catalogue.Symlink):
            p.symlink_to(spec.target)
        elif isinstance(spec, catalogue.Unreadable):
            p.write_bytes(spec.data)
            p.chmod(0)
            try:
                p.open("rb").close()
            except PermissionError:
                pass
            else:
                pytest.skip("running with privileges that read a mode-000 file")
        elif isinstance(spec, catalogue.WithMode):
            p.write_bytes(spec.data)
            p.chmod(spec.mode)
        else:
            raise TypeError(f"{case.name}: unknown file spec {spec!r}")


# ---------------------------------------------------------------- checks


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry below `folder` (links not followed): type, inode, mode, and the
    bytes of regular files or the target of links."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            if stat.S_ISREG(st.st_mode):
                content = p.read_bytes() if st.st_mode & 0o400 else None
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(p)
            else:
                content = None
            out[str(p.relative_to(folder))] = (stat.S_IFMT(st.st_mode), st.st_ino, stat.S_IMODE(st.st_mode), content)
    return out


def _allowed(name: str) -> bool:
    return any(re.fullmatch(r, Path(name).name) for r in ALLOWED_NEW_FILES)


def expect_unchanged(before: dict, after: dict, may_change: tuple[str, ...] = (), may_add: tuple[str, ...] = ()) -> None:
    """The folder holds what it held (entries in may_change may differ, those in may_add may appear)."""
    added = sorted(n for n in after if n not in before and n not in may_add and not _allowed(n))
    assert not added, f"left behind: {added}"
    removed = sorted(n for n in before if n not in after)
    assert not removed, f"removed: {removed}"
    for name, was in before.items():
        if name in may_change:
            continue
        now = after[name]
        assert now[0] == was[0], f"{name} changed type"
        assert now[1] == was[1], f"{name} was replaced (another inode)"
        assert now[2] == was[2], f"{name} changed mode {oct(was[2])} -> {oct(now[2])}"
        assert now[3] == was[3], f"{name} changed contents"


def error_line(r: subprocess.CompletedProcess) -> str:
    """The run's one error line (without the prefix), after checking its form."""
    try:
        err = r.stderr.decode("utf-8")
    except UnicodeDecodeError as e:
        raise AssertionError(f"stderr is not UTF-8 (raw bytes echoed?): {r.stderr!r}") from e
    assert err.endswith("\n") and err.count("\n") == 1, f"not exactly one line on stderr: {err!r}"
    line = err[:-1]
    assert line.startswith(PREFIX), f"no '{PREFIX}' prefix: {line!r}"
    assert not CONTROL.search(line), f"raw control characters in the message: {line!r}"
    return line[len(PREFIX) :]


def expect_error(case: catalogue.Case, r: subprocess.CompletedProcess) -> str:
    assert r.returncode >= 0, f"killed by signal {-r.returncode}; stderr {r.stderr!r}"
    assert r.returncode != 0, f"exit 0 (success), expected {case.rc}; stderr {r.stderr!r}"
    msg = error_line(r)
    assert r.returncode == case.rc, f"exit {r.returncode}, expected {case.rc}: {msg}"
    assert r.stdout == b"", f"stdout not empty: {r.stdout[:200]!r}"
    assert re.search(case.message, msg), f"message does not match {case.message!r}: {msg}"
    if case.not_message:
        assert not re.search(case.not_message, msg), f"message matches {case.not_message!r}: {msg}"
    return msg


def output_arg(case: catalogue.Case) -> str:
    return case.argv[case.argv.index("--output") + 1]


def labels_of(csv_text: str) -> list[int]:
    lines = csv_text.splitlines()
    assert lines and lines[0] == "label,probability,outlier_score", f"not a result CSV: {csv_text[:100]!r}"
    return [int(line.split(",")[0]) for line in lines[1:]]


def partition(labels: list[int]) -> list[frozenset[int]]:
    groups = collections.defaultdict(set)
    for i, label in enumerate(labels):
        groups[label].add(i)
    return sorted((frozenset(g) for label, g in groups.items() if label >= 0), key=min)


# ---------------------------------------------------------------- outcomes


def outcome_error(case, folder, work):
    before = snapshot(folder)
    r = run_cli(case.argv, folder)
    expect_error(case, r)
    expect_unchanged(before, snapshot(folder))


def outcome_write_through_or_refuse(case, folder, work):
    """--output names a device or FIFO: write into it (it stays what it is) or
    refuse with one line naming it; never replace it with a regular file."""
    target = output_arg(case)
    before = snapshot(folder)
    received = bytearray()
    reader = stop = None
    if isinstance(case.files.get(target), catalogue.Fifo):
        fd = os.open(folder / target, os.O_RDONLY | os.O_NONBLOCK)  # a reader, so that opening to write does not block
        stop = threading.Event()

        def read():
            while True:
                try:
                    chunk = os.read(fd, 1 << 16)
                except BlockingIOError:
                    chunk = None
                if chunk:
                    received.extend(chunk)
                elif stop.is_set():
                    break
                else:
                    time.sleep(0.005)
            os.close(fd)

        reader = threading.Thread(target=read)
        reader.start()
    report = None
    if target == "/dev/null":
        # A private mount namespace whose /dev holds only a fresh null device: what the CLI does to
        # "/dev/null" happens to that node, never to the machine's.
        mnt, report = work / "dev", work / "dev_null_after.txt"
        mnt.mkdir()
        script = ('mount -t tmpfs tmpfs "$MNT" && mknod -m 666 "$MNT/null" c 1 3 && mount --bind "$MNT" /dev '
                  '|| exit 99; "$0" "$@"; rc=$?; '
                  'if [ -c /dev/null ]; then echo chardev >"$REPORT"; else echo replaced >"$REPORT"; fi; exit $rc')
        cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, str(CLI), *case.argv]
        r = subprocess.run(cmd, cwd=folder, capture_output=True, stdin=subprocess.DEVNULL, timeout=TIMEOUT,
                           env={**os.environ, "MNT": str(mnt), "REPORT": str(report)})
        assert r.returncode != 99, f"could not set up a private /dev: {r.stderr!r}"
    else:
        try:
            r = run_cli(case.argv, folder)
        finally:
            if reader:
                stop.set()
                reader.join()
    if report is not None:
        assert report.read_text().strip() == "chardev", "/dev/null was replaced by a regular file"
    if r.returncode == 0:
        assert r.stderr == b"", r.stderr
        if reader:
            text = received.decode()
            assert labels_of(text), "nothing written through the FIFO"
            assert len(labels_of(text)) == catalogue.BLOBS.count(b"\n") - 1
    else:
        msg = expect_error(
            catalogue.Case(case.name, case.kind, case.argv, rc=r.returncode if r.returncode in (1, 2) else 1,
                           message=re.escape(target)), r)
        assert msg
    expect_unchanged(before, snapshot(folder))


def outcome_stdout(case, folder, work):
    """--output - writes the CSV to stdout and creates no file."""
    before = snapshot(folder)
    r = run_cli(case.argv, folder)
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""
    assert len(labels_of(r.stdout.decode())) == catalogue.BLOBS.count(b"\n") - 1
    expect_unchanged(before, snapshot(folder))


def outcome_replaced_keeps_mode(case, folder, work):
    """Replacing an existing output keeps its mode."""
    target = output_arg(case)
    mode = case.files[target].mode
    before = snapshot(folder)
    r = run_cli(case.argv, folder)
    assert r.returncode == 0, r.stderr
    assert len(labels_of((folder / target).read_text())) == catalogue.BLOBS.count(b"\n") - 1
    got = stat.S_IMODE((folder / target).stat().st_mode)
    assert got == mode, f"{target}: mode {oct(mode)} became {oct(got)}"
    expect_unchanged(before, snapshot(folder), may_change=(target,))


def outcome_same_clusters_or_refuse(case, folder, work):
    """Data whose scale float32 distances cannot carry: the clusters of the
    reference (unscaled) data, or an error naming the input and the problem."""
    ref = work / "reference"
    ref.mkdir()
    (ref / "ref.csv").write_bytes(case.reference)
    rr = run_cli(["cluster", "ref.csv", "--output", "out.csv"], ref)
    assert rr.returncode == 0, rr.stderr
    expected = partition(labels_of((ref / "out.csv").read_text()))
    assert len(expected) >= 2, "the reference data must have clusters"
    before = snapshot(folder)
    r = run_cli(case.argv, folder)
    target = output_arg(case)
    if r.returncode == 0:
        got = partition(labels_of((folder / target).read_text()))
        assert got == expected, f"{len(got)} clusters, {len(expected)} in the same data unscaled"
        expect_unchanged(before, snapshot(folder), may_add=(target,))
    else:
        msg = expect_error(catalogue.Case(case.name, case.kind, case.argv, rc=r.returncode,
                                          message=re.escape(case.argv[1])), r)
        assert re.search(r"scale|range|overflow|underflow|float32", msg), msg
        expect_unchanged(before, snapshot(folder))


def outcome_error_file_size_limited(case, folder, work):
    """The default error checks, for a run whose files may not exceed
    FILE_SIZE_LIMIT bytes (RLIMIT_FSIZE, SIGXFSZ ignored: writes fail with EFBIG
    as on a full disk)."""
    import resource

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))

    model = next(n for n, s in case.files.items() if isinstance(s, catalogue.Model))
    assert (folder / model).stat().st_size > FILE_SIZE_LIMIT, "the model must exceed the limit"
    before = snapshot(folder)
    r = run_cli(case.argv, folder, preexec_fn=limit)
    expect_error(case, r)
    expect_unchanged(before, snapshot(folder))


def outcome_concurrent_adds(case, folder, work):
    """Two `add` runs on one model at once, three rounds: every batch whose add
    succeeded is in the model at the end; an add that fails names the model."""
    model = next(n for n, s in case.files.items() if isinstance(s, catalogue.Model))
    batches = [n for n in case.files if n != model]
    original = (folder / model).read_bytes()
    n0 = len(case.files[model].data.splitlines()) - 1
    sizes = {b: len(case.files[b].splitlines()) - 1 for b in batches}
    for round_ in range(3):
        (folder / model).write_bytes(original)
        before = snapshot(folder)
        procs = [subprocess.Popen([str(CLI), *[b if a == "{batch}" else a for a in case.argv]], cwd=folder,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for b in batches]
        results = [p.communicate(timeout=TIMEOUT) + (p.returncode,) for p in procs]
        added = 0
        for b, (out, err, rc) in zip(batches, results):
            if rc == 0:
                added += sizes[b]
            else:
                msg = error_line(subprocess.CompletedProcess([], rc, out, err))
                assert model in msg, f"round {round_}: add {b} failed without naming {model}: {msg}"
        assert added > 0, f"round {round_}: neither add succeeded"
        rj = run_cli(["cluster", "--model", model, "--json"], folder)
        assert rj.returncode == 0, rj.stderr
        import json

        n = json.loads(rj.stdout)["n"]
        assert n == n0 + added, f"round {round_}: the model holds {n} items; {n0} + {added} were added (lost update)"
        expect_unchanged(before, snapshot(folder), may_change=(model,))


OUTCOMES = {
    "error": outcome_error,
    "write_through_or_refuse": outcome_write_through_or_refuse,
    "stdout": outcome_stdout,
    "replaced_keeps_mode": outcome_replaced_keeps_mode,
    "same_clusters_or_refuse": outcome_same_clusters_or_refuse,
    "error_file_size_limited": outcome_error_file_size_limited,
    "concurrent_adds": outcome_concurrent_adds,
}


# ---------------------------------------------------------------- the tests


def _param(case: catalogue.Case):
    marks = []
    if case.pending is not None:
        marks.append(pytest.mark.xfail(strict=True, reason=f"defect {case.pending} of issue 15 not fixed here"))
    return pytest.param(case, id=case.name, marks=marks)


@pytest.fixture(scope="module")
def work_root(tmp_path_factory):
    return tmp_path_factory.mktemp("bad_input")


@pytest.mark.parametrize("case", [_param(c) for c in catalogue.CASES])
def test_case(case: catalogue.Case, work_root: Path) -> None:
    unmet = _unmet_needs(case)
    if unmet:
        pytest.skip(f"needs {', '.join(unmet)}")
    work = work_root / case.name
    folder = work / "case"
    folder.mkdir(parents=True)
    try:
        make_files(case, folder, work_root)
        OUTCOMES[case.outcome](case, folder, work)
    finally:
        for p in folder.rglob("*"):  # mode-000 files: let the tmp cleanup remove them
            if p.is_file() and not p.is_symlink():
                p.chmod(0o600)


def test_catalogue_summary(capsys, record_property) -> None:
    """The catalogue is well-formed; prints how many cases and kinds it covers."""
    names = [c.name for c in catalogue.CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    kinds = collections.Counter(c.kind for c in catalogue.CASES)
    pending = collections.Counter(c.pending for c in catalogue.CASES if c.pending is not None)
    for c in catalogue.CASES:
        assert c.outcome in OUTCOMES, f"{c.name}: unknown outcome {c.outcome}"
        assert c.outcome != "error" or c.message, f"{c.name}: an error case needs a message regex"
        assert set(c.needs) <= set(_NEEDS), f"{c.name}: unknown needs {c.needs}"
        assert c.pending is None or 1 <= c.pending <= 9, f"{c.name}: pending must be a defect number of issue 15"
    line = f"bad-input catalogue: {len(names)} cases in {len(kinds)} kinds"
    detail = ", ".join(f"{k} {n}" for k, n in kinds.items())
    todo = ", ".join(f"defect {d}: {n}" for d, n in sorted(pending.items()))
    record_property("bad_input_cases", len(names))
    record_property("bad_input_kinds", len(kinds))
    with capsys.disabled():
        print(f"\n{line} ({detail}); pending fixes (xfail): {todo or 'none'}")
    assert len(kinds) >= 10 and len(names) >= 90
