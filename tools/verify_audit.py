#!/usr/bin/env python3
"""Verify rrproxy audit logs without trusting rrproxy.

An independent implementation of the checks in docs/audit-format.md
(format version 1), written against that document and nothing else:
Python 3 standard library only, with Ed25519 signature verification
implemented here from RFC 8032 because the standard library has none.

    python3 tools/verify_audit.py [--pubkey FILE] [--checkpoints FILE] PATH...

PATH is an audit file or a directory (its *.jsonl files). Records are
grouped into chains by rrproxy.instance and each chain is checked in
event.sequence order across its files. Exit status: 0 every chain is
intact, 1 a check failed (one line "FAIL <file>:<line>: sequence <n>:
<what>" names the first record that cannot be trusted), 2 usage error.
"""

import argparse
import base64
import binascii
import hashlib
import json
import os
import re
import sys

ZERO_HASH = "0" * 64
MAX_INT = 2**53 - 1
HEX64 = re.compile(r"[0-9a-f]{64}\Z")
KEY_ID = re.compile(r"[0-9a-f]{16}\Z")
# RFC 3339, UTC, exactly microseconds (docs/audit-format.md, Records).
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z\Z")
ROTATED_NAME = re.compile(r".*\.(\d{20})\.jsonl\Z")
CHECKPOINT_MESSAGE = "rrproxy-audit-checkpoint-v1\n{}\n{}\n{}\n"


class Fail(Exception):
    """The first record (file, line, sequence) that cannot be trusted."""

    def __init__(self, path, line, seq, what):
        super().__init__(f"FAIL {path}:{line}: sequence {seq}: {what}")


class Usage(Exception):
    pass


# --- Ed25519 verification: RFC 8032 section 5.1 (the section 6 reference
# code, with its two errata fixed: the missing "% p" in recover_x and the
# unraised signature-length exception). Verification only; nothing secret
# is handled here, so constant time does not matter.

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493  # group order
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _add(a, b):
    # Extended homogeneous coordinates (X, Y, Z, T), x=X/Z, y=Y/Z, xy=T/Z;
    # RFC 8032 section 5.1.4, "add-2008-hwcd-3".
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    pa = (y1 - x1) * (y2 - x2) % P
    pb = (y1 + x1) * (y2 + x2) % P
    pc = 2 * t1 * t2 * D % P
    pd = 2 * z1 * z2 % P
    e, f, g, h = pb - pa, pd - pc, pd + pc, pb + pa
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(s, pt):
    q = (0, 1, 1, 0)  # neutral element
    while s > 0:
        if s & 1:
            q = _add(q, pt)
        pt = _add(pt, pt)
        s >>= 1
    return q


def _equal(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


def _recover_x(y, sign):
    if y >= P:
        return None  # non-canonical encoding (RFC 8032 section 5.1.3, step 1)
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


def _decompress(b):
    y = int.from_bytes(b, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P)


_GY = 4 * pow(5, P - 2, P) % P
_GX = _recover_x(_GY, 0)
BASE = (_GX, _GY, 1, _GX * _GY % P)


def ed25519_verify(public, msg, sig):
    """RFC 8032 section 5.1.7: is sig a valid signature of msg by public?"""
    if len(public) != 32 or len(sig) != 64:
        return False
    a = _decompress(public)
    r = _decompress(sig[:32])
    s = int.from_bytes(sig[32:], "little")
    if a is None or r is None or s >= L:
        return False
    k = int.from_bytes(hashlib.sha512(sig[:32] + public + msg).digest(), "little") % L
    return _equal(_mul(s, BASE), _add(r, _mul(k, a)))


# SubjectPublicKeyInfo for Ed25519 is fixed: SEQUENCE { SEQUENCE { OID
# 1.3.101.112 }, BIT STRING { 32-byte key } } (RFC 8410 section 4).
SPKI_ED25519_PREFIX = bytes.fromhex("302a300506032b6570032100")


def load_public_key(path):
    try:
        with open(path, encoding="ascii") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise Usage(f"--pubkey {path}: {e}")
    m = re.search(r"-----BEGIN PUBLIC KEY-----\s*(.*?)\s*-----END PUBLIC KEY-----", text, re.S)
    if not m:
        raise Usage(f"--pubkey {path}: no PEM PUBLIC KEY block")
    try:
        der = base64.b64decode("".join(m.group(1).split()), validate=True)
    except binascii.Error as e:
        raise Usage(f"--pubkey {path}: bad base64: {e}")
    if len(der) != 44 or not der.startswith(SPKI_ED25519_PREFIX):
        raise Usage(f"--pubkey {path}: not an Ed25519 public key")
    return der[12:]


def key_id(public):
    return hashlib.sha256(public).hexdigest()[:16]


# --- RFC 8785 (JCS) canonical form, for the value types the format allows:
# strings, integers up to 2^53-1, booleans, arrays of strings, in one
# top-level object.

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
for _c in range(0x20):
    _ESCAPES.setdefault(chr(_c), "\\u%04x" % _c)
_MUST_ESCAPE = re.compile('["\\\\\x00-\x1f]')


def _string(s):
    return '"' + _MUST_ESCAPE.sub(lambda m: _ESCAPES[m.group()], s) + '"'


def _value(v, name):
    if isinstance(v, bool):  # before int: bool is an int in Python
        return "true" if v else "false"
    if isinstance(v, int):
        if abs(v) > MAX_INT:
            raise ValueError(f"{name}: integer {v} beyond 2^53-1")
        return str(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return "[" + ",".join(_string(x) for x in v) + "]"
    raise ValueError(f"{name}: {type(v).__name__} value is not allowed (strings, integers, booleans, arrays of strings only)")


def canonical(rec):
    """UTF-8 JCS serialization of rec, and of rec without its
    rrproxy.chain.hash member (what that hash covers)."""
    # RFC 8785 section 3.2.3 orders names by UTF-16 code units; for ASCII
    # names (parse_line refuses others) that is plain code-point order. A
    # lone surrogate (from a \ud8xx escape) makes encode raise.
    members = [(k, _string(k) + ":" + _value(rec[k], k)) for k in sorted(rec)]
    full = "{" + ",".join(m for _, m in members) + "}"
    hashed = "{" + ",".join(m for k, m in members if k != "rrproxy.chain.hash") + "}"
    return full.encode("utf-8"), hashed.encode("utf-8")


def _no_duplicates(pairs):
    rec = {}
    for k, v in pairs:
        if k in rec:
            raise ValueError(f"duplicate member {k!r}")
        rec[k] = v
    return rec


def _refuse_float(s):
    raise ValueError(f"floating-point number {s} is not allowed")


def _refuse_constant(s):
    raise ValueError(f"{s} is not JSON")


def parse_line(line):
    """The record in line (bytes, no newline) and the canonical form its
    rrproxy.chain.hash covers; ValueError unless the line is exactly the
    canonical serialization of one JSON object."""
    if not line:
        raise ValueError("empty line")
    try:
        text = line.decode("utf-8")
        rec = json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_refuse_float, parse_constant=_refuse_constant)
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8: {e}")
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON: {e}")
    except RecursionError:
        raise ValueError("not a record: JSON nested too deeply")
    if not isinstance(rec, dict):
        raise ValueError("not a JSON object")
    for k, v in rec.items():
        if not k.isascii():
            raise ValueError(f"member name {k!r} is not ASCII")
        if isinstance(v, dict):
            raise ValueError(f"{k}: nested object is not allowed")
    try:
        canon, hashed = canonical(rec)
    except UnicodeEncodeError:
        raise ValueError("string with an unpaired surrogate")
    if canon != line:
        raise ValueError("not in canonical form (RFC 8785): " + _first_difference(line, canon))
    return rec, hashed


def _first_difference(got, want):
    i = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    return f"byte {i + 1} is {got[i:i + 12]!r}, canonical has {want[i:i + 12]!r}"


# --- files and chains


class AuditFile:
    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        self.instance = None
        self.first_seq = None
        self.records = 0
        self.last_seq = None

    def probe(self):
        """Find the chain and first sequence from the first readable record."""
        first_error = None
        with open(self.path, "rb") as f:
            for n, raw in enumerate(f, 1):
                try:
                    rec, _ = parse_line(raw.rstrip(b"\n"))
                except ValueError as e:
                    first_error = first_error or (n, str(e))
                    continue
                inst, seq = rec.get("rrproxy.instance"), rec.get("event.sequence")
                if isinstance(inst, str) and isinstance(seq, int) and not isinstance(seq, bool):
                    self.instance, self.first_seq = inst, seq - (n - 1)
                    return
                first_error = first_error or (n, "no rrproxy.instance or event.sequence")
        if first_error:
            raise Fail(self.path, first_error[0], 0, first_error[1])  # no chain to place it in


def collect(paths, exclude):
    files, seen = [], set(exclude)
    for p in paths:
        if os.path.isdir(p):
            found = sorted(os.path.join(p, n) for n in os.listdir(p) if n.endswith(".jsonl"))
            found = [f for f in found if os.path.isfile(f)]
        elif os.path.isfile(p):
            found = [p]
        else:
            raise Usage(f"{p}: no such file or directory")
        for f in found:
            real = os.path.realpath(f)
            if real not in seen:
                seen.add(real)
                files.append(AuditFile(f))
    return files


def load_checkpoint_copy(path):
    """{(instance, sequence): (line bytes, line number)} of the copy file."""
    copy = {}
    try:
        f = open(path, "rb")
    except OSError as e:
        raise Usage(f"--checkpoints {path}: {e}")
    with f:
        for n, raw in enumerate(f, 1):
            if not raw.endswith(b"\n"):
                raise Fail(path, n, 0, "checkpoint copy: incomplete last line")
            line = raw[:-1]
            try:
                rec, _ = parse_line(line)
            except ValueError as e:
                raise Fail(path, n, 0, f"checkpoint copy: {e}")
            inst, seq = rec.get("rrproxy.instance"), rec.get("event.sequence")
            if rec.get("event.action") != "checkpoint" or not isinstance(inst, str) or not isinstance(seq, int):
                raise Fail(path, n, seq if isinstance(seq, int) else 0, "checkpoint copy: not a checkpoint record")
            if copy.get((inst, seq), (line,))[0] != line:
                raise Fail(path, n, seq, "checkpoint copy: two different records for one sequence")
            copy[(inst, seq)] = (line, n)
    return copy


class Chain:
    def __init__(self, instance, files, pubkey, copy, copy_path):
        self.instance = instance
        self.files = sorted(files, key=lambda f: (f.first_seq, f.name))
        self.pubkey = pubkey
        self.copy = {seq: v for (inst, seq), v in copy.items() if inst == instance}
        self.copy_path = copy_path
        self.records = 0
        self.first_time = self.last_time = None
        self.last_checkpoint = None
        self.restarts = 0
        self.stopped = False

    def verify(self):
        seq, prev_hash, prev_file = 0, ZERO_HASH, None
        path, n = self.files[0].path, 0
        for af in self.files:
            path = af.path
            with open(af.path, "rb") as f:
                for n, raw in enumerate(f, 1):
                    seq += 1

                    def fail(what, seq=seq, path=path, n=n):
                        return Fail(path, n, seq, what)

                    if not raw.endswith(b"\n"):
                        raise fail(f"incomplete last line ({len(raw)} bytes without a newline: a crash mid-write, or a cut)")
                    line = raw[:-1]
                    try:
                        rec, hashed = parse_line(line)
                    except ValueError as e:
                        raise fail(str(e))
                    got = self._check_core(rec, fail)
                    if got != seq:
                        raise fail(f"record has sequence {got}, expected {seq}: records missing, repeated or out of order", got)
                    if rec["rrproxy.instance"] != self.instance:
                        raise fail(f"record of instance {rec['rrproxy.instance']!r} inside chain {self.instance!r}")
                    want = hashlib.sha256(hashed).hexdigest()
                    if rec["rrproxy.chain.hash"] != want:
                        raise fail(f"rrproxy.chain.hash is wrong (the record was changed): canonical form hashes to {want}")
                    if rec["rrproxy.chain.prev"] != prev_hash:
                        raise fail(f"rrproxy.chain.prev {rec['rrproxy.chain.prev']} is not the hash of sequence {seq - 1} ({prev_hash})")
                    action = rec["event.action"]
                    self._check_structure(rec, action, af, n == 1, prev_file, fail)
                    if action == "checkpoint":
                        self._check_checkpoint(rec, prev_hash, fail)
                    if seq in self.copy and self.copy[seq][0] != line:
                        raise Fail(self.copy_path, self.copy[seq][1], seq, f"this checkpoint differs from the log's "
                                   f"record at sequence {seq} ({path}:{n}): the log was changed or replaced")
                    prev_hash = rec["rrproxy.chain.hash"]
                    self.records += 1
                    self.first_time = self.first_time or rec["@timestamp"]
                    self.last_time = rec["@timestamp"]
                    af.records += 1
                    af.last_seq = seq
            if af.records:
                prev_file = af
        missing = sorted(s for s in self.copy if s > seq)
        if missing:
            s = missing[0]
            raise Fail(self.copy_path, self.copy[s][1], s, f"this checkpoint of chain {self.instance!r} is missing "
                       f"from the log, which ends at {path}:{n}, sequence {seq}: records after it were cut off")
        if self.pubkey is not None and self.last_checkpoint is None:
            # Without a checkpoint nothing is signed, so a forged chain
            # would pass: trust ends at the first record.
            raise Fail(self.files[0].path, 1, 1, "no checkpoint in this chain: nothing in it is signed by the --pubkey key")

    def _check_core(self, rec, fail):
        for name, ok in (("event.sequence", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1),
                         ("@timestamp", lambda v: isinstance(v, str) and TIMESTAMP.match(v)),
                         ("event.action", lambda v: isinstance(v, str) and v),
                         ("rrproxy.instance", lambda v: isinstance(v, str)),
                         ("rrproxy.chain.prev", lambda v: isinstance(v, str) and HEX64.match(v)),
                         ("rrproxy.chain.hash", lambda v: isinstance(v, str) and HEX64.match(v))):
            if name not in rec:
                raise fail(f"no {name}")
            if not ok(rec[name]):
                raise fail(f"{name} {json.dumps(rec[name])} is malformed")
        return rec["event.sequence"]

    def _check_structure(self, rec, action, af, first_in_file, prev_file, fail):
        seq = rec["event.sequence"]
        if (seq == 1) != (action == "audit-start"):
            raise fail(f"first record of the chain is {action!r}, not audit-start (earlier files missing?)"
                       if seq == 1 else "audit-start after sequence 1: a chain starts only once")
        # audit-stop is "followed by nothing" until the chain is opened
        # again; a checkpoint covering the stop record is tolerated.
        if self.stopped and action not in ("audit-restart", "checkpoint"):
            raise fail(f"{action!r} after audit-stop: only audit-restart may follow a clean stop")
        if action == "audit-restart":
            self.restarts += 1
        self.stopped = action == "audit-stop" or (self.stopped and action == "checkpoint")
        if first_in_file:
            m = ROTATED_NAME.match(af.name)
            if m and int(m.group(1)) != seq:
                raise fail(f"file name says its first record is sequence {int(m.group(1))} (renamed file?)")
            # A file after another starts with audit-file-start (rotation)
            # or audit-restart (rrproxy restarted onto a new, empty active
            # file; the format document does not cover this case).
            if prev_file is not None and action not in ("audit-file-start", "audit-restart"):
                raise fail(f"first record of a file after another is {action!r}, not audit-file-start")
        if action == "audit-file-start":
            if not first_in_file or prev_file is None:
                raise fail("audit-file-start that does not start a file following another")
            prev_name, prev_last = rec.get("rrproxy.file.previous"), rec.get("rrproxy.file.previous_last_sequence")
            if prev_name != prev_file.name:
                raise fail(f"rrproxy.file.previous is {json.dumps(prev_name)}, but the previous file is "
                           f"{prev_file.name!r} (files renamed or missing)")
            if prev_last != prev_file.last_seq or isinstance(prev_last, bool):
                raise fail(f"rrproxy.file.previous_last_sequence is {json.dumps(prev_last)}, "
                           f"but {prev_file.name} ends at sequence {prev_file.last_seq}")

    def _check_checkpoint(self, rec, prev_hash, fail):
        seq = rec["event.sequence"]
        cs, ch = rec.get("rrproxy.checkpoint.sequence"), rec.get("rrproxy.checkpoint.hash")
        kid, sig64 = rec.get("rrproxy.checkpoint.key_id"), rec.get("rrproxy.checkpoint.signature")
        if cs != seq - 1 or isinstance(cs, bool):
            raise fail(f"rrproxy.checkpoint.sequence is {json.dumps(cs)}, not the record before it ({seq - 1})")
        if ch != prev_hash:
            raise fail(f"rrproxy.checkpoint.hash {json.dumps(ch)} is not the hash of sequence {seq - 1} ({prev_hash})")
        if not isinstance(kid, str) or not KEY_ID.match(kid):
            raise fail(f"rrproxy.checkpoint.key_id {json.dumps(kid)} is malformed")
        try:
            sig = base64.b64decode(sig64, validate=True) if isinstance(sig64, str) else b""
        except binascii.Error:
            sig = b""
        if len(sig) != 64 or base64.b64encode(sig).decode() != sig64:
            raise fail("rrproxy.checkpoint.signature is not 64 bytes of standard padded base64")
        signed = False
        if self.pubkey is not None:
            if kid != key_id(self.pubkey):
                raise fail(f"checkpoint signed with key {kid}, not the --pubkey key {key_id(self.pubkey)}: forged or foreign chain")
            msg = CHECKPOINT_MESSAGE.format(self.instance, cs, ch).encode("utf-8")
            if not ed25519_verify(self.pubkey, msg, sig):
                raise fail("checkpoint signature does not verify")
            signed = True
        self.last_checkpoint = (cs, signed, kid)


def verify(paths, pubkey=None, checkpoints=None, out=sys.stdout):
    exclude = [os.path.realpath(checkpoints)] if checkpoints else []
    copy = load_checkpoint_copy(checkpoints) if checkpoints else {}
    files = collect(paths, exclude)
    empty = []
    for af in files:
        af.probe()
        if af.instance is None:
            empty.append(af)
    chains = {}
    for af in files:
        if af.instance is not None:
            chains.setdefault(af.instance, []).append(af)
    for inst, seq in sorted(copy):
        if inst not in chains:
            raise Fail(checkpoints, copy[(inst, seq)][1], seq,
                       f"checkpoint of instance {inst!r}, but no file of that chain was given: the log is missing")
    if not chains:
        raise Fail(paths[0], 0, 0, "no audit records found")
    done = []
    for inst in sorted(chains):
        c = Chain(inst, chains[inst], pubkey, copy, checkpoints)
        c.verify()
        done.append(c)
    for c in done:
        print_summary(c, out)
    for af in empty:
        print(f"note: {af.path} is empty", file=out)
    print(f"OK: {len(done)} chain(s) intact", file=out)


def print_summary(c, out):
    last = c.files[-1].last_seq
    print(f"chain {c.instance!r}: {c.records} records, sequence 1..{last}, {len(c.files)} file(s), "
          f"{c.restarts} restart(s)", file=out)
    print(f"  time   {c.first_time} .. {c.last_time}", file=out)
    for af in c.files:
        print(f"  file   {af.path}: {af.records} records, sequence {af.first_seq}..{af.last_seq}", file=out)
    if c.last_checkpoint is None:
        print("  checkpoint: none", file=out)
    else:
        seq, signed, kid = c.last_checkpoint
        how = f"signature verified (key {kid})" if signed else f"signature NOT checked, no --pubkey (key {kid})"
        print(f"  checkpoint: last covers sequence {seq}, {how}; {last - seq} record(s) after it", file=out)
    if c.copy:
        print(f"  checkpoint copy: all {len(c.copy)} checkpoint(s) present", file=out)


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="verify_audit.py",
        description="Verify rrproxy audit logs (docs/audit-format.md) independently of rrproxy.",
        epilog="Exit status: 0 intact, 1 a check failed (FAIL <file>:<line>: sequence <n>: <what>), 2 usage error.")
    ap.add_argument("--pubkey", metavar="FILE", help="Ed25519 public key (PEM PUBLIC KEY) that signs checkpoints; "
                    "every checkpoint's signature is checked, and a chain without one fails")
    ap.add_argument("--checkpoints", metavar="FILE", help="checkpoint copy (audit.checkpoint_copy): every record in it "
                    "must be in the log, byte for byte")
    ap.add_argument("paths", nargs="+", metavar="PATH", help="audit file, or directory of *.jsonl audit files")
    args = ap.parse_args(argv)
    try:
        pubkey = load_public_key(args.pubkey) if args.pubkey else None
        verify(args.paths, pubkey, args.checkpoints)
    except Usage as e:
        print(f"verify_audit.py: {e}", file=sys.stderr)
        return 2
    except Fail as e:
        print(e)
        return 1
    except OSError as e:
        print(f"verify_audit.py: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
