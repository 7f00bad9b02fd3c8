#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/)
except the model files (make_model_seeds.cpp): small cuts of the shared data
sets (../shared/data, or CHUTORO_DATA_DIR) and hand-made edge cases.
Usage: tests/fuzz/make_seeds.py   (rewrites the files; the corpus is committed)"""
import os
import struct
import sys

here = os.path.dirname(os.path.abspath(__file__))
data = os.environ.get("CHUTORO_DATA_DIR", os.path.join(here, "..", "..", "..", "shared", "data"))
corpus = os.path.join(here, "corpus")


def put(target, name, content):
    os.makedirs(os.path.join(corpus, target), exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8", "surrogateescape")
    with open(os.path.join(corpus, target, name), "wb") as f:
        f.write(content)


def head_lines(name, lines):
    with open(os.path.join(data, name), "rb") as f:
        return b"".join(f.readline() for _ in range(lines))


def npy(descr, shape, payload, major=1, fortran=False):
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, "True" if fortran else "False", shape)
    prefix = 10 if major == 1 else 12
    while (prefix + len(d) + 1) % 64:
        d += " "
    d += "\n"
    head = b"\x93NUMPY" + bytes([major, 0])
    head += struct.pack("<H", len(d)) if major == 1 else struct.pack("<I", len(d))
    return head + d.encode("latin-1") + payload


def main():
    # ---- csv: heads of the shared sets, then edge cases
    put("csv", "digits_head.csv", head_lines("digits.csv", 12))
    put("csv", "letter_head.csv", head_lines("letter.csv", 40))
    put("csv", "shuttle_head.csv", head_lines("shuttle.csv", 40))
    put("csv", "chameleon_head.csv", head_lines("chameleon_ds3.csv", 60))
    put("csv", "crlf_bom.csv", "\ufeffa,b,label\r\n1,2,x\r\n3,4,y\r\n")
    put("csv", "cr_only.csv", "a,b\r1,2\r3,4\r\r5,6")
    put("csv", "quoted.csv", 'x,"y, q",label\n1,"2","A ""big"" one"\n 3 ,\t4,"two\nlines"\n')
    put("csv", "numbers.csv", "v,w\n1e-50,-0\n+5,3.4028235e38\n1e39,.5\nnan,inf\n")
    put("csv", "ragged.csv", "a,b\n1\n2,3,4\n")
    put("csv", "header_only.csv", "a,b,label\n")
    put("csv", "pandas.csv", "0,1,2\n1,2,3\n4,5,6\n")
    put("csv", "garbage.csv", b"x\x1b[2J,label\n1,\xff\xfe\n2,\"a\"b\n")
    put("csv", "empty.csv", "")
    # ---- npy: a cut of clusterable_data.npy (float64, shape (2309, 2)), then edge cases
    with open(os.path.join(data, "clusterable_data.npy"), "rb") as f:
        raw = f.read()
    hlen = struct.unpack("<H", raw[8:10])[0]
    rows = raw[10 + hlen : 10 + hlen + 40 * 2 * 8]
    put("npy", "clusterable_head_f8.npy", npy("<f8", "(40, 2)", rows))
    f4 = b"".join(struct.pack("<f", struct.unpack("<d", rows[i : i + 8])[0]) for i in range(0, len(rows), 8))
    put("npy", "clusterable_head_f4.npy", npy("<f4", "(40, 2)", f4))
    put("npy", "v2_f4.npy", npy("<f4", "(3, 2)", f4[:24], major=2))
    put("npy", "v3_big_f8.npy", npy(">f8", "(2, 2)", struct.pack(">4d", 1, 2, 3, 4), major=3))
    put("npy", "fortran.npy", npy("<f4", "(2, 2)", f4[:16], fortran=True))
    put("npy", "int64.npy", npy("<i8", "(2, 1)", struct.pack("<2q", 1, 2)))
    put("npy", "rank1.npy", npy("<f4", "(4,)", f4[:16]))
    put("npy", "structured.npy", npy("[('a', '<f4')]", "(2,)", f4[:8]).replace(b"'[(", b"[(").replace(b")]'", b")]"))
    put("npy", "nan.npy", npy("<f4", "(1, 2)", struct.pack("<2f", 1, float("nan"))))
    put("npy", "truncated.npy", npy("<f8", "(10, 10)", rows[:40]))
    put("npy", "magic_only.npy", b"\x93NUMPY")
    # ---- lines
    put("lines", "words_head.txt", head_lines("words_en.txt", 200))
    put("lines", "cr_only.txt", "alpha\rbeta\r\rgamma")
    put("lines", "crlf_bom.txt", "\ufeffcaf\u00e9\r\n\u65e5\u672c\r\n\r\nna\u00efve\n")
    put("lines", "invalid_utf8.txt", b"ok\n\xff\xfe\n\xc0\x80\n\xed\xa0\x80\n")
    put("lines", "no_newline.txt", "single")
    # ---- plugin: bytes read by fuzz_plugin.cpp in this order: abi, caps, present,
    # reserved, len kind, status, value (f32), name null, name length, name, message.
    def plugin(abi=0, caps=0, present=0, reserved=0, len_kind=11, status=0, value=1.0, name_null=0,
               name=b"euclid", message=b"", extra=b""):
        out = bytes([abi]) + extra + bytes([caps, present, reserved, len_kind, status])
        return out + struct.pack("<f", value) + bytes([name_null, len(name)]) + name + message
    put("plugin", "ok.bin", plugin())
    put("plugin", "batch.bin", plugin(caps=1))
    put("plugin", "fails.bin", plugin(status=4, message=b"cannot read row 7: \x1b[31mbad\xff"))
    put("plugin", "nan.bin", plugin(value=float("nan")))
    put("plugin", "negative.bin", plugin(value=-1.0))
    put("plugin", "abi2.bin", plugin(abi=250, extra=struct.pack("<I", 2)))
    put("plugin", "null_fields.bin", plugin(present=0xEB))
    put("plugin", "reserved.bin", plugin(reserved=0xFF))
    put("plugin", "huge_len.bin", bytes([0, 0, 0, 0, 250]) + struct.pack("<Q", 1 << 40) + bytes([0]) +
        struct.pack("<f", 1.0) + b"\x00\x03abc")
    put("plugin", "name_null.bin", plugin(name_null=255))
    return 0


if __name__ == "__main__":
    sys.exit(main())
