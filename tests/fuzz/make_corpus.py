#!/usr/bin/env python3
"""make_corpus.py — (re)write the seed corpora of the fuzz targets.

    python3 tests/fuzz/make_corpus.py BUILD_DIR/streamfit

Seeds: the test data (NIST StRD sets, breast cancer), hand-made edge cases
(quotes, CRLF, a byte-order mark, huge exponents, denormals, "nan", "-0", a
1 MiB line, truncated UTF-8), model files and checkpoints written by the
streamfit binary given, and checkpoints cut at many lengths. The first byte
of a table / row-stream / record / checkpoint seed is the target's mode byte
(see each fuzz_<name>.c). Files named regress-* are inputs that once broke a
target: they are kept, never rewritten.
"""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

here = pathlib.Path(__file__).resolve().parent
root = here.parent.parent
data = root / "tests" / "data"
sf = sys.argv[1]


def seed(target, name, payload):
    d = here / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(payload)


def clear(target):
    d = here / "corpus" / target
    if d.exists():
        for f in d.iterdir():
            if not f.name.startswith("regress-"):
                f.unlink()


for t in ["table", "row_stream", "record", "model_json", "checkpoint", "option_numbers"]:
    clear(t)

small = {
    "longley": (data / "nist" / "Longley.csv").read_bytes(),
    "norris": (data / "nist" / "Norris.csv").read_bytes()[:2000],
    "cancer": b"".join((data / "real" / "breast_cancer.csv").read_bytes().splitlines(True)[:12]),
}
edge = {
    "quotes": b'y,"a,b",c\n1,"2",3\n"4",5,"6"\n1,"unterminated,2\n',
    "crlf": b"y,a,b\r\n1,2,3\r\n4,5,6\r\n\r\n7,8,9",
    "bom": b"\xef\xbb\xbfy,a\n1,2\n3,4\n",
    "exponents": b"y,a,b\n1e308,1e309,-1e-320\n4.9e-324,2.2250738585072014e-308,1e-400\n0x1p3,1e+,+-1\n",
    "specials": b"y,a,b\nnan,1,2\n1,inf,-inf\n-0,0,-0.0\n1,NaN,2\n1,,2\n,1,2\n",
    "ragged": b"y,a,b\n1,2\n1,2,3,4\n1,2,3\n\n\n1,2,3",
    "utf8": b"y,\xc3\xa9t\xc3\xa9,b\n1,2,3\n1,\xe2\x82,3\n1,2,\xff\xfe\n",
    "longline": b"y,a\n1," + b"1" * (1 << 20) + b"\n1,2\n",
    "libsvm": b"1 1:0.5 3:2 10:-1\n0 2:1e3 3:0\n+1 1:1 1:2\n-1 0:1\n1 4:nan\n1 5:\n1 x:1\n",
}
for name, text in {**small, **edge}.items():
    for mode in (0x02, 0x13, 0x42):  # header + CSV; LIBSVM, 2 threads; 64-byte lines
        if name == "longline" and mode != 0x02:
            continue
        seed("table", f"{name}-{mode:02x}", bytes([mode]) + text)
    if name not in ("libsvm", "longline"):  # one 1 MiB seed is enough
        seed("row_stream", f"{name}", bytes([0x02, 3]) + text)
        seed("row_stream", f"{name}-t3", bytes([0x32, 0]) + text)

records = {
    "csv": (0x04, b"y,a,b,c\n1,2,3,4\n1,2\n1,2,3,4,5\n1,x,3,4\nnan,1,2,3\n"),
    "csv-first": (0x00, b"1,2,3\n4,5,6\n7,8\n"),
    "json": (0x01, b'{"y": 1, "a": 2, "b": 3}\n{"y": 0, "b": 1, "a": 2}\n{"y": "x", "a": 1, "b": 2}\n{"a": 1}\n[1,2]\n{"y": 1e999, "a": 1, "b": 2}\n{"y":1,"a":{"n":1},"b":2}\n'),
    "json-label": (0x09, b'{"a": 2, "y": 1}\n{"y": 1, "a": 2}\n'),
    "libsvm": (0x32, b"\n1 1:0.5 3:2\n0 2:1e3 3:0\n1 9:1\n1 0:1\n1 2:x\n"),
}
for name, (mode, text) in records.items():
    seed("record", name, bytes([mode]) + text)

tmp = pathlib.Path(tempfile.mkdtemp())
try:
    csv = tmp / "d.csv"
    rows = ["y,a,b,c", "1,0.5,1.5,2", "0,1.5,-0.5,3", "1,2.5,0.25,-1", "0,-1,2,0.5", "2,0.1,0.2,0.3", "0,3,1,2"]
    csv.write_text("\n".join(rows + rows[1:] * 5) + "\n")
    models = {
        "ols": ["--model", "ols", "--input", str(data / "nist" / "Longley.csv")],
        "ridge": ["--model", "ridge", "--lambda", "2", "--no-intercept", "--input", str(data / "nist" / "Norris.csv")],
        "logistic": ["--model", "logistic", "--standardize", "--input", str(data / "real" / "breast_cancer.csv")],
        "softmax": ["--model", "softmax", "--input", str(csv)],
    }
    env = dict(os.environ, STREAMFIT_DEVICE="cpu")
    for name, args in models.items():
        out = tmp / f"{name}.json"
        subprocess.run([sf, "train", *args, "--device", "cpu", "--out", str(out)], check=True,
                       stderr=subprocess.DEVNULL, env=env)
        text = out.read_bytes()
        seed("model_json", name, text)
        seed("model_json", name + "-cut", text[: len(text) // 2])
    for name in ["ols", "logistic", "softmax"]:
        ck = tmp / f"ck-{name}"
        subprocess.run([sf, "stream", "--source", f"file:{csv}", "--model", name, "--device", "cpu",
                        "--warmup-rows", "10", "--batch-rows", "5", "--window", "8",
                        "--checkpoint-dir", str(ck)], check=True, stderr=subprocess.DEVNULL)
        blob = (ck / "checkpoint.bin").read_bytes()
        seed("checkpoint", name, b"\x00" + blob)            # the file as written
        body = blob[:-8]
        seed("checkpoint", name + "-body", b"\x01" + body)  # checksum recomputed by the target
        for k in range(1, 9):                              # cut, checksum recomputed
            seed("checkpoint", f"{name}-cut{k}", b"\x01" + body[: len(body) * k // 9])
finally:
    shutil.rmtree(tmp)

for i, s in enumerate([b"0", b"-0", b"1e308", b"1e309", b"nan", b"inf", b"0x10", b" 5", b"5 ",
                       b"99999999999999999999", b"-1001", b"1000000", b"4.9e-324", b"1e-400",
                       b"+.5", b"."]):
    seed("option_numbers", f"n{i:02d}", s)
print("corpora written under", here / "corpus")
