"""The bad-input catalogue: every kind of bad input (and hazardous output
target) the `chutoro` command line must handle, as data.

Each case says how to make its files, the command line, and what must happen:
by default the run fails with `rc`, prints nothing on stdout and exactly one
line on stderr, "chutoro: error: <message>", which matches `message` (a regex,
searched) and not `not_message`, and is printable (valid UTF-8, no control
characters); afterwards the case's folder holds exactly what it held before
the run, byte for byte and inode for inode (no file left behind, none
replaced: inputs, models and earlier outputs untouched). A few cases are not
plain failures; their `outcome` names the check that replaces the default
(see tests/python/test_bad_input_catalogue.py, OUTCOMES).

Cases with `pending=N` reproduce defect N of issue 15 ("Reliability") whose
fix is not on this branch yet: they run as xfail(strict=True), so the run
fails once the fix lands until the case is flipped (delete `pending`).

The runner is tests/python/test_bad_input_catalogue.py; how to add a case:
tests/bad_input/README.md.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Union

# ---------------------------------------------------------------- file makers


@dataclass(frozen=True)
class Fifo:
    """A named pipe (mkfifo)."""


@dataclass(frozen=True)
class CharDevice:
    """A character device node (mknod; needs root). 1, 3 is /dev/null's."""

    major: int = 1
    minor: int = 3


@dataclass(frozen=True)
class Directory:
    """An empty directory."""


@dataclass(frozen=True)
class Symlink:
    """A symbolic link to `target` (relative to the case's folder)."""

    target: str


@dataclass(frozen=True)
class Unreadable:
    """A file of these bytes with mode 000 (the case is skipped when the test
    runs with privileges that read it anyway, e.g. as root)."""

    data: bytes


@dataclass(frozen=True)
class WithMode:
    """A file of these bytes with this mode."""

    data: bytes
    mode: int


@dataclass(frozen=True)
class Model:
    """A model file: `chutoro fit <input> --save` on the bytes `data` written as
    `input`, with `fit_args`, then changed by `patch` (bytes -> bytes)."""

    data: bytes
    input: str = "train.csv"
    fit_args: tuple[str, ...] = ()
    patch: Callable[[bytes], bytes] | None = None


FileSpec = Union[bytes, Fifo, CharDevice, Directory, Symlink, Unreadable, WithMode, Model]


@dataclass
class Case:
    name: str
    kind: str
    argv: list[str]
    files: dict[str, FileSpec] = field(default_factory=dict)
    rc: int = 1
    message: str = ""
    not_message: str | None = None
    outcome: str = "error"
    pending: int | None = None  # defect number of issue 15 whose fix is not on this branch
    needs: tuple[str, ...] = ()  # "root" (mknod, chown), "unshare" (a private /dev)
    reference: bytes | None = None  # same_clusters_or_refuse: the input whose clusters a success must give
    why: str = ""  # what the case is about, when the name does not say


# ---------------------------------------------------------------- data

FIVE = b"x,y\n1,2\n3,4\n5,6\n7,8\n9,10\n"
# A version 1 sets (jaccard) model file from the fuzz corpus: token ids, no vocabulary.
OLD_SETS_MODEL = (Path(__file__).resolve().parents[1] / "fuzz" / "corpus" / "model" / "sets_hnsw.chutoro").read_bytes()


def blobs(n: int, seed: int = 1, dim: int = 3, scale: float = 1.0) -> bytes:
    """n rows of four well-separated Gaussian blobs (centres 10 apart, sigma 1), as CSV."""
    rng = random.Random(seed)
    centres = [(0, 0, 0), (10, 10, 0), (0, 10, 10), (10, 0, 10)]
    rows = [",".join("xyz"[:dim])]
    for i in range(n):
        c = centres[i % 4]
        rows.append(",".join(repr((c[k] + rng.gauss(0.0, 1.0)) * scale) for k in range(dim)))
    return ("\n".join(rows) + "\n").encode()


BLOBS = blobs(200)
MORE_BLOBS = blobs(100, seed=2)
FLAT = b"x,y\n1,2\n3,4\n5,6\n"
WORDS = b"alpha\nbeta\ngamma\n"
# The model-file cases were written against hnsw models (five sections); the
# default candidates = auto would make these 200 items an exact model.
HNSW = ("--candidates", "hnsw")
MODEL = Model(BLOBS, fit_args=HNSW)


def npy(dict_text: str, data: bytes, major: int = 1) -> bytes:
    """A .npy file: magic, version, header length, the dict padded to 64 bytes, then data."""
    prefix = 10 if major == 1 else 12
    header = dict_text
    while (prefix + len(header) + 1) % 64:
        header += " "
    header += "\n"
    out = b"\x93NUMPY" + bytes([major, 0])
    out += struct.pack("<H" if major == 1 else "<I", len(header))
    return out + header.encode("latin-1") + data


def npy_dict(descr: str, shape: str, fortran: bool = False) -> str:
    return f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}"


def f64(*v: float) -> bytes:
    return struct.pack(f"<{len(v)}d", *v)


def f32(*v: float) -> bytes:
    return struct.pack(f"<{len(v)}f", *v)


# ---------------------------------------------------------------- model patches


def _sections(b: bytes) -> dict[bytes, int]:
    """Offsets of the sections of a model file (docs/model_format.md)."""
    out, off = {}, 32
    while off + 16 <= len(b):
        tag = b[off : off + 4]
        (length,) = struct.unpack_from("<Q", b, off + 8)
        out[tag] = off
        off += 16 + length + 8
    return out


def patch_parm(offset: int, fmt: str, value: float | int) -> Callable[[bytes], bytes]:
    """Sets a PARM field (offset in its payload) and re-seals the section's XXH64,
    so that the reader's range checks, not its checksum, meet the value."""
    from xxh64 import xxh64  # tests/bad_input/xxh64.py

    def patch(b: bytes) -> bytes:
        c = bytearray(b)
        p = _sections(b)[b"PARM"]
        struct.pack_into(fmt, c, p + 16 + offset, value)
        (length,) = struct.unpack_from("<Q", c, p + 8)
        struct.pack_into("<Q", c, p + 16 + length, xxh64(bytes(c[p : p + 16 + length])))
        return bytes(c)

    return patch


PARM_MIN_SAMPLES = 0  # u64
PARM_MIN_CLUSTER_SIZE = 60  # u64, after min_samples, candidates u32 and six u64


def flip_middle(b: bytes) -> bytes:
    i = len(b) // 2
    return b[:i] + bytes([b[i] ^ 0x5A]) + b[i + 1 :]


# ---------------------------------------------------------------- the cases

OUT = ["--output", "out.csv"]

CASES: list[Case] = [
    # ------------------------------------------------------------ usage: exit 2 before any work
    Case("MinClusterSizeZero", "usage", ["cluster", "five.csv", "--min-cluster-size", "0", *OUT],
         {"five.csv": FIVE}, rc=2, message=r"--min-cluster-size.*\[2, .*got \"?0"),
    Case("MinClusterSizeNegative", "usage", ["cluster", "five.csv", "--min-cluster-size", "-3", *OUT],
         {"five.csv": FIVE}, rc=2, message=r"--min-cluster-size.*got \"?-3"),
    Case("MinClusterSizeBeyondInt64", "usage",
         ["cluster", "five.csv", "--min-cluster-size", "99999999999999999999", *OUT], {"five.csv": FIVE},
         rc=2, message=r"--min-cluster-size.*(99999999999999999999|too large|out of range)",
         not_message=r"9223372036854775807",
         why="an over-size value must be reported as given, not clamped to 2^63-1"),
    Case("MinSamplesZero", "usage", ["cluster", "five.csv", "--min-samples", "0", *OUT], {"five.csv": FIVE},
         rc=2, message=r"--min-samples.*got \"?0"),
    Case("NegativeSeed", "usage", ["cluster", "five.csv", "--seed", "-1", *OUT], {"five.csv": FIVE},
         rc=2, message=r"--seed"),
    Case("UnknownMetric", "usage", ["cluster", "five.csv", "--metric", "dice", *OUT], {"five.csv": FIVE},
         rc=2, message=r"dice.*euclidean"),
    Case("MetricDoesNotFitCsv", "usage", ["cluster", "five.csv", "--metric", "levenshtein", *OUT],
         {"five.csv": FIVE}, rc=2, message=r"levenshtein.*csv"),
    Case("MetricDoesNotFitLines", "usage", ["cluster", "w.txt", "--metric", "euclidean", *OUT],
         {"w.txt": b"a\nb\nc\nd\ne\n"}, rc=2, message=r"euclidean.*lines"),
    Case("UnknownFormat", "usage", ["cluster", "five.csv", "--format", "xlsx", *OUT], {"five.csv": FIVE},
         rc=2, message=r"xlsx.*csv"),
    Case("UnknownExtension", "usage", ["cluster", "data.xlsx", *OUT], {"data.xlsx": b"x\n1\n"},
         rc=2, message=r"data\.xlsx.*--format"),
    Case("UnknownOption", "usage", ["cluster", "five.csv", "--no-such-option", *OUT], {"five.csv": FIVE},
         rc=2, message=r"--no-such-option"),
    Case("UnknownSelectionMethod", "usage", ["cluster", "five.csv", "--cluster-selection-method", "best", *OUT],
         {"five.csv": FIVE}, rc=2, message=r"best.*eom"),
    Case("NoSubcommand", "usage", [], rc=2, message=r"subcommand|--help"),
    Case("OutputEmptyString", "usage", ["cluster", "five.csv", "--output", ""], {"five.csv": FIVE},
         rc=2, message=r"--output.*(empty|\"\")",
         why='--output "" must name the option and say the path is empty'),
    Case("FitWithoutSave", "usage", ["fit", "five.csv"], {"five.csv": FIVE}, rc=2, message=r"--save"),
    Case("FitSaveOntoInput", "usage", ["fit", "five.csv", "--save", "five.csv"], {"five.csv": FIVE},
         rc=2, message=r"--save"),
    Case("ClusterModelAndInput", "usage", ["cluster", "--model", "m.chutoro", "blobs.csv", *OUT],
         {"m.chutoro": MODEL, "blobs.csv": BLOBS}, rc=2, message=r"INPUT.*--model"),
    Case("ClusterNeitherInputNorModel", "usage", ["cluster", *OUT], rc=2, message=r"INPUT.*--model"),
    Case("ClusterModelWithMinSamples", "usage", ["cluster", "--model", "m.chutoro", "--min-samples", "3", *OUT],
         {"m.chutoro": MODEL}, rc=2, message=r"--min-samples.*--model"),
    Case("ClusterModelWithMetric", "usage", ["cluster", "--model", "m.chutoro", "--metric", "cosine", *OUT],
         {"m.chutoro": MODEL}, rc=2, message=r"--metric.*--model"),
    Case("ClusterModelWithCandidates", "usage",
         ["cluster", "--model", "m.chutoro", "--candidates", "exact", *OUT], {"m.chutoro": MODEL},
         rc=2, message=r"--candidates.*--model"),
    Case("ClusterModelMinClusterSizeOne", "usage", ["cluster", "--model", "m.chutoro", "--min-cluster-size", "1"],
         {"m.chutoro": MODEL}, rc=2, message=r"--min-cluster-size"),
    Case("AddWithMetric", "usage", ["add", "m.chutoro", "blobs.csv", "--metric", "cosine"],
         {"m.chutoro": MODEL, "blobs.csv": MORE_BLOBS}, rc=2, message=r"--metric"),
    Case("AddOutputIsModel", "usage", ["add", "m.chutoro", "blobs.csv", "--output", "m.chutoro"],
         {"m.chutoro": MODEL, "blobs.csv": MORE_BLOBS}, rc=2, message=r"--output.*m\.chutoro"),
    Case("AddWithoutInput", "usage", ["add", "m.chutoro"], {"m.chutoro": MODEL}, rc=2, message=r"INPUT"),
    Case("PredictWithoutOutput", "usage", ["predict", "m.chutoro", "blobs.csv"],
         {"m.chutoro": MODEL, "blobs.csv": MORE_BLOBS}, rc=2, message=r"--output"),
    Case("PredictOutputIsInput", "usage", ["predict", "m.chutoro", "blobs.csv", "--output", "blobs.csv"],
         {"m.chutoro": MODEL, "blobs.csv": MORE_BLOBS}, rc=2, message=r"--output.*INPUT.*blobs\.csv"),
    # ------------------------------------------------------------ the input file itself
    Case("MissingInput", "input_file", ["cluster", "missing.csv", *OUT], message=r"missing\.csv.*cannot open"),
    Case("InputIsDirectory", "input_file", ["cluster", "folder.csv", *OUT], {"folder.csv": Directory()},
         message=r"folder\.csv.*directory"),
    Case("UnreadableInput", "input_file", ["cluster", "secret.csv", *OUT], {"secret.csv": Unreadable(FIVE)},
         message=r"secret\.csv.*cannot open.*(denied|permission)"),
    Case("DanglingSymlinkInput", "input_file", ["cluster", "dangling.csv", *OUT],
         {"dangling.csv": Symlink("nowhere.csv")}, message=r"dangling\.csv.*cannot open"),
    Case("InputIsDevNull", "input_file", ["cluster", "/dev/null", "--format", "csv", *OUT],
         message=r"/dev/null.*empty input"),
    # ------------------------------------------------------------ CSV content
    Case("EmptyCsv", "csv", ["cluster", "empty.csv", *OUT], {"empty.csv": b""}, message=r"empty\.csv.*empty input"),
    Case("HeaderOnlyCsv", "csv", ["cluster", "header.csv", *OUT], {"header.csv": b"x,y\n"},
         message=r"header\.csv.*no data rows"),
    Case("MissingHeader", "csv", ["cluster", "nohdr.csv", *OUT], {"nohdr.csv": b"1.5,2\n3,4\n"},
         message=r"nohdr\.csv.*line 1.*header"),
    Case("RaggedRowTooFew", "csv", ["cluster", "ragged.csv", *OUT], {"ragged.csv": b"a,b,c\n1,2,3\n4,5\n"},
         message=r"ragged\.csv.*line 3.*has 2 cells.*has 3"),
    Case("RaggedRowTooMany", "csv", ["cluster", "ragged.csv", *OUT], {"ragged.csv": b"x,y\n1,2\n3,4,5\n"},
         message=r"ragged\.csv.*line 3.*3 cells"),
    Case("NanCell", "csv", ["cluster", "nan.csv", *OUT], {"nan.csv": b"x,y\n1,2\n3,NaN\n"},
         message=r"nan\.csv.*line 3.*column 2.*\"y\".*NaN"),
    Case("NanCellLowercase", "csv", ["cluster", "nan.csv", *OUT], {"nan.csv": b"x,y\n1,nan\n"},
         message=r"nan\.csv.*line 2.*column 2.*NaN"),
    Case("InfCell", "csv", ["cluster", "inf.csv", *OUT], {"inf.csv": b"x,y\n1,inf\n"},
         message=r"inf\.csv.*line 2.*column 2.*infinite"),
    Case("InfinityCell", "csv", ["cluster", "inf.csv", *OUT], {"inf.csv": b"a,b\n1,2\n\n1,Infinity\n"},
         message=r"inf\.csv.*line 4.*column 2.*infinite"),
    Case("CellBeyondFloat32", "csv", ["cluster", "big.csv", *OUT], {"big.csv": b"a\n1e39\n"},
         message=r"big\.csv.*line 2.*float32"),
    Case("NonNumericCell", "csv", ["cluster", "text.csv", *OUT], {"text.csv": b"x,y\n1,2\nA,4\n"},
         message=r"text\.csv.*line 3.*column 1.*\"x\".*non-numeric"),
    Case("LabelColumnNotNamed", "csv", ["cluster", "labels.csv", *OUT], {"labels.csv": b"x,label\n1,A\n"},
         message=r"labels\.csv.*line 2.*column 2.*\"label\".*label column"),
    Case("EmptyCell", "csv", ["cluster", "hole.csv", *OUT], {"hole.csv": b"x,y\n1,\n"},
         message=r"hole\.csv.*line 2.*column 2.*empty cell"),
    Case("UnknownLabelColumn", "csv", ["cluster", "nolabel.csv", "--label-column", "class", *OUT],
         {"nolabel.csv": b"x,y\n1,2\n"}, message=r"nolabel\.csv.*\"class\".*not in the header"),
    Case("LabelColumnOnly", "csv", ["cluster", "onlylabel.csv", "--label-column", "label", *OUT],
         {"onlylabel.csv": b"label\nA\n"}, message=r"onlylabel\.csv.*no feature"),
    Case("UnterminatedQuote", "csv", ["cluster", "quote.csv", "--label-column", "label", *OUT],
         {"quote.csv": b'x,label\n1,A\n2,"B\n3,C\n'}, message=r"quote\.csv.*line 3.*never closed"),
    Case("GarbageAfterClosingQuote", "csv", ["cluster", "quote.csv", "--label-column", "label", *OUT],
         {"quote.csv": b'x,label\n1,"A"B\n'}, message=r"quote\.csv.*line 2.*closing quote"),
    Case("FewerItemsThanMinClusterSize", "csv", ["cluster", "five.csv", "--min-cluster-size", "6", *OUT],
         {"five.csv": FIVE}, message=r"five\.csv.*5 items.*--min-cluster-size 6"),
    # CR-only (old Mac) line ends are read now (tests/cpp/test_io.cpp), so they are no bad input.
    Case("BinaryGarbageCell", "csv", ["cluster", "garbage.csv", *OUT],
         {"garbage.csv": b"x,y\n1,\xff\xfe\x9b\x1b[31mred\x01\n"}, message=r"garbage\.csv.*line 2.*column 2", why="raw bytes (invalid UTF-8, C1 controls) must be escaped in the message"),
    Case("BinaryGarbageHeader", "csv", ["cluster", "garbage.csv", *OUT],
         {"garbage.csv": b"\xc3(\x80,y\nA,1\n"}, message=r"garbage\.csv.*line 2.*column 1", why="an invalid UTF-8 column name must be escaped in the message"),
    # ------------------------------------------------------------ NPY content
    Case("NpyWrongDtype", "npy", ["cluster", "ints.npy", *OUT],
         {"ints.npy": npy(npy_dict("<i8", "(8, 1)"), b"\1" * 64)}, message=r"ints\.npy.*int64"),
    Case("NpyFloat16", "npy", ["cluster", "f2.npy", *OUT], {"f2.npy": npy(npy_dict("<f2", "(1, 2)"), b"\0" * 4)},
         message=r"f2\.npy.*float16"),
    Case("NpyStructuredDtype", "npy", ["cluster", "rec.npy", *OUT],
         {"rec.npy": npy("{'descr': [('a', '<f4'), ('b', '<f4')], 'fortran_order': False, 'shape': (1,), }",
                         b"\0" * 8)}, message=r"rec\.npy.*structured"),
    Case("NpyRank1", "npy", ["cluster", "r1.npy", *OUT], {"r1.npy": npy(npy_dict("<f4", "(3,)"), f32(1, 2, 3))},
         message=r"r1\.npy.*rank 1.*\(3,\)"),
    Case("NpyRank3", "npy", ["cluster", "r3.npy", *OUT],
         {"r3.npy": npy(npy_dict("<f4", "(2, 2, 2)"), f32(*[1.0] * 8))}, message=r"r3\.npy.*rank 3"),
    Case("NpyFortranOrder", "npy", ["cluster", "fo.npy", *OUT],
         {"fo.npy": npy(npy_dict("<f4", "(2, 2)", fortran=True), f32(1, 2, 3, 4))}, message=r"fo\.npy.*Fortran"),
    Case("NpyTruncatedData", "npy", ["cluster", "short.npy", *OUT],
         {"short.npy": npy(npy_dict("<f4", "(8, 2)"), b"\0" * 60)}, message=r"short\.npy.*truncated"),
    Case("NpyTruncatedHeader", "npy", ["cluster", "trunch.npy", *OUT],
         {"trunch.npy": npy(npy_dict("<f8", "(2, 2)"), b"")[:30]}, message=r"trunch\.npy.*truncated"),
    Case("NpyMagicOnly", "npy", ["cluster", "magic.npy", *OUT], {"magic.npy": b"\x93NUMPY"},
         message=r"magic\.npy.*(truncated|too short|ends)", not_message=r"magic bytes .* are missing",
         why="a 6-byte file holding only the magic is truncated, not 'missing the magic bytes'"),
    Case("NpyTrailingBytes", "npy", ["cluster", "long.npy", *OUT],
         {"long.npy": npy(npy_dict("<f4", "(1, 2)"), f32(1, 2, 3))}, message=r"long\.npy.*bytes follow"),
    Case("NpyBadMagic", "npy", ["cluster", "fake.npy", *OUT], {"fake.npy": b"a,b\n1,2\n"},
         message=r"fake\.npy.*not a \.npy"),
    Case("NpyEmpty", "npy", ["cluster", "empty.npy", *OUT], {"empty.npy": b""}, message=r"empty\.npy.*empty input"),
    Case("NpyZeroRows", "npy", ["cluster", "zero.npy", *OUT], {"zero.npy": npy(npy_dict("<f4", "(0, 3)"), b"")},
         message=r"zero\.npy.*no rows"),
    Case("NpyNaN", "npy", ["cluster", "nan.npy", *OUT],
         {"nan.npy": npy(npy_dict("<f8", "(2, 2)"), f64(1, 2, 3, float("nan")))}, message=r"nan\.npy.*X\[1, 1\].*NaN"),
    Case("NpyInf", "npy", ["cluster", "inf.npy", *OUT],
         {"inf.npy": npy(npy_dict("<f4", "(2, 1)"), f32(1, float("inf")))}, message=r"inf\.npy.*X\[1, 0\].*infinite"),
    Case("NpyBeyondFloat32", "npy", ["cluster", "huge.npy", *OUT],
         {"huge.npy": npy(npy_dict("<f8", "(1, 1)"), f64(1e300))}, message=r"huge\.npy.*X\[0, 0\].*float32"),
    Case("NpyMalformedHeader", "npy", ["cluster", "hdr.npy", *OUT],
         {"hdr.npy": npy("{'descr': '<f4', 'shape': (1, 1)", b"\0" * 4)}, message=r"hdr\.npy.*malformed"),
    # ------------------------------------------------------------ text lines
    Case("EmptyLinesFile", "lines", ["cluster", "empty.txt", *OUT], {"empty.txt": b""},
         message=r"empty\.txt.*empty input"),
    Case("InvalidUtf8Line", "lines", ["cluster", "bad.txt", *OUT], {"bad.txt": b"alpha\nbe\xfft\ngamma\n"},
         message=r"bad\.txt.*line 2.*(UTF-8|utf-8)",
         why="the message names 'item 1' (a 0-based id) for line 2 of a file"),
    # ------------------------------------------------------------ output targets
    Case("OutputDirectoryMissing", "output", ["cluster", "five.csv", "--output", "no_dir/out.csv"],
         {"five.csv": FIVE}, message=r"no_dir"),
    Case("OutputIsDirectory", "output", ["cluster", "five.csv", "--output", "folder"],
         {"five.csv": FIVE, "folder": Directory()}, message=r"folder.*directory"),
    Case("FailedRunKeepsExistingOutput", "output", ["cluster", "nan.csv", *OUT],
         {"nan.csv": b"x\n1\nnan\n", "out.csv": b"previous result\n"}, message=r"nan\.csv.*NaN"),
    Case("OutputIsInput", "output", ["cluster", "five.csv", "--output", "five.csv"], {"five.csv": FIVE},
         rc=2, message=r"--output.*(INPUT|input)|INPUT.*--output|same file"),
    Case("OutputIsInputOtherSpelling", "output", ["cluster", "five.csv", "--output", "sub/../five.csv"],
         {"five.csv": FIVE, "sub": Directory()}, rc=2, message=r"--output.*(INPUT|input)|INPUT.*--output|same file"),
    Case("OutputIsInputBehindSymlinkedInput", "output", ["cluster", "link.csv", "--output", "five.csv"],
         {"five.csv": FIVE, "link.csv": Symlink("five.csv")}, rc=2,
         message=r"--output.*(INPUT|input)|INPUT.*--output|same file"),
    Case("OutputSymlinkToInput", "output", ["cluster", "five.csv", "--output", "link.csv"],
         {"five.csv": FIVE, "link.csv": Symlink("five.csv")}, rc=2,
         message=r"--output.*(INPUT|input)|INPUT.*--output|same file"),
    Case("FitOutputIsInput", "output", ["fit", "five.csv", "--save", "m.chutoro", "--output", "five.csv"],
         {"five.csv": FIVE}, rc=2, message=r"--output.*(INPUT|input)|INPUT.*--output|same file"),
    Case("OutputDevNull", "output", ["cluster", "blobs.csv", "--output", "/dev/null"], {"blobs.csv": BLOBS},
         outcome="write_through_or_refuse", needs=("root", "unshare"),
         why="run with a private /dev (unshare -m): the unfixed CLI replaces /dev/null with a regular file"),
    Case("OutputCharDevice", "output", ["cluster", "blobs.csv", "--output", "null"],
         {"blobs.csv": BLOBS, "null": CharDevice(1, 3)}, outcome="write_through_or_refuse",
         needs=("root",)),
    Case("OutputFifo", "output", ["cluster", "blobs.csv", "--output", "pipe"], {"blobs.csv": BLOBS, "pipe": Fifo()},
         outcome="write_through_or_refuse"),
    Case("OutputDashIsStdout", "output", ["cluster", "blobs.csv", "--output", "-", "--quiet"],
         {"blobs.csv": BLOBS}, outcome="stdout"),
    Case("ReplacedOutputKeepsMode", "output", ["cluster", "blobs.csv", *OUT, "--quiet"],
         {"blobs.csv": BLOBS, "out.csv": WithMode(b"old\n", 0o600)}, outcome="replaced_keeps_mode"),
    # ------------------------------------------------------------ model files
    Case("ModelMissing", "model_file", ["cluster", "--model", "missing.chutoro", *OUT],
         message=r"missing\.chutoro"),
    Case("ModelIsDirectory", "model_file", ["cluster", "--model", "folder.chutoro", *OUT],
         {"folder.chutoro": Directory()}, message=r"folder\.chutoro.*directory"),
    Case("ModelNotAModel", "model_file", ["cluster", "--model", "notamodel.chutoro", *OUT],
         {"notamodel.chutoro": b"x,y\n1,2\n"}, message=r"notamodel\.chutoro"),
    Case("ModelFlippedByte", "model_file", ["cluster", "--model", "m.chutoro", *OUT],
         {"m.chutoro": Model(BLOBS, fit_args=HNSW, patch=flip_middle)}, message=r"m\.chutoro.*(checksum|corrupt)"),
    Case("ModelTruncatedHalf", "model_file", ["cluster", "--model", "m.chutoro", *OUT],
         {"m.chutoro": Model(BLOBS, fit_args=HNSW, patch=lambda b: b[: len(b) // 2])}, message=r"m\.chutoro.*truncated"),
    Case("ModelTruncatedOneByte", "model_file", ["cluster", "--model", "m.chutoro", *OUT],
         {"m.chutoro": Model(BLOBS, fit_args=HNSW, patch=lambda b: b[:-1])},
         message=r"m\.chutoro.*(truncated|ends)", not_message=r"length \d+, \d+ bytes left",
         why="one byte short: the message must not quote a section length below the bytes left"),
    Case("ModelMinClusterSizeBeyondInt64", "model_file", ["cluster", "--model", "m.chutoro", *OUT],
         {"m.chutoro": Model(BLOBS, fit_args=HNSW, patch=patch_parm(PARM_MIN_CLUSTER_SIZE, "<Q", 2**63))},
         message=r"m\.chutoro.*min_cluster_size", why="PARM min_cluster_size >= 2^63 crashed the reader"),
    Case("ModelMinSamplesHuge", "model_file", ["cluster", "--model", "m.chutoro", *OUT],
         {"m.chutoro": Model(BLOBS, fit_args=HNSW, patch=patch_parm(PARM_MIN_SAMPLES, "<Q", 2**62))},
         message=r"m\.chutoro.*min_samples", why="PARM min_samples 2^62 was reported as a bad item count"),
    Case("AddToCorruptModel", "model_file", ["add", "m.chutoro", "blobs.csv", *OUT],
         {"m.chutoro": Model(BLOBS, fit_args=HNSW, patch=flip_middle), "blobs.csv": MORE_BLOBS}, message=r"m\.chutoro"),
    Case("PredictMissingModel", "model_file", ["predict", "missing.chutoro", "blobs.csv", *OUT],
         {"blobs.csv": MORE_BLOBS}, message=r"missing\.chutoro"),
    # ------------------------------------------------------------ items that do not fit the model
    Case("AddWrongDimension", "model_items", ["add", "m.chutoro", "flat.csv", *OUT],
         {"m.chutoro": MODEL, "flat.csv": FLAT}, message=r"flat\.csv.*2 dims.*m\.chutoro.*3 dims"),
    Case("PredictWrongDimension", "model_items", ["predict", "m.chutoro", "flat.csv", *OUT],
         {"m.chutoro": MODEL, "flat.csv": FLAT}, message=r"flat\.csv.*2 dims.*m\.chutoro.*3 dims"),
    Case("AddWrongKind", "model_items", ["add", "m.chutoro", "words.txt"],
         {"m.chutoro": MODEL, "words.txt": WORDS}, message=r"words\.txt.*m\.chutoro"),
    Case("AddNanItems", "model_items", ["add", "m.chutoro", "nan.csv", *OUT],
         {"m.chutoro": MODEL, "nan.csv": b"x,y,z\n1,2,3\n4,nan,6\n"}, message=r"nan\.csv.*NaN"),
    Case("ClusterModelMinClusterSizeAboveItems", "model_items",
         ["cluster", "--model", "m.chutoro", "--min-cluster-size", "500"], {"m.chutoro": MODEL},
         message=r"m\.chutoro.*200 items.*--min-cluster-size 500"),
    # A jaccard model keeps its token vocabulary since model format 4; one from before holds ids only.
    Case("AddToJaccardModelWithoutVocabulary", "model_items", ["add", "t.chutoro", "tokens.txt"],
         {"t.chutoro": OLD_SETS_MODEL, "tokens.txt": b"a b c\nx y z\n"},
         message=r"t\.chutoro.*jaccard.*vocabulary"),
    # ------------------------------------------------------------ value range of the data
    Case("DataScaledBy1e20", "value_range", ["cluster", "big.csv", *OUT], {"big.csv": blobs(200, scale=1e20)},
         outcome="same_clusters_or_refuse", reference=BLOBS,
         why="squared distances overflow float32: all noise, silently"),
    Case("DataScaledBy1e-30", "value_range", ["cluster", "tiny.csv", *OUT], {"tiny.csv": blobs(200, scale=1e-30)},
         outcome="same_clusters_or_refuse", reference=BLOBS,
         why="squared distances underflow float32: all noise, silently"),
    # ------------------------------------------------------------ the order of add's writes
    Case("AddModelSaveFailsWritesNoOutput", "write_order", ["add", "m.chutoro", "blobs.csv", *OUT],
         {"m.chutoro": MODEL, "blobs.csv": MORE_BLOBS}, message=r"m\.chutoro.*(File too large|too large)",
         outcome="error_file_size_limited",
         why="the model cannot be saved (file size limit, as a full disk): --output must not be written either"),
    # ------------------------------------------------------------ two writers
    Case("ConcurrentAddsKeepBothBatches", "concurrency", ["add", "m.chutoro", "{batch}", "--threads", "1"],
         {"m.chutoro": Model(blobs(600)), "a.csv": blobs(300, seed=3), "b.csv": blobs(300, seed=4)},
         outcome="concurrent_adds",
         why="two `chutoro add` on one model at once: both batches end up in it, or one refuses"),
]
