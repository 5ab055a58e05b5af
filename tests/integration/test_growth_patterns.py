"""The leak-pattern examples over time: each grows its pattern on a timer
with --grow, three live snapshots (`snapshot save --pid`) are diffed, and
`memprof diff` must give the growth findings docs/diff.md says:

- examples/leak_buffer: a log buffer that is never flushed: the owner
  path `audit_log;data`, and by type the category of its block, held by
  that path;
- examples/leak_handlers: listeners never unsubscribed: `struct listener`
  by type, held by the listener chain of `app_events`;
- examples/leak_tls: per-thread history lists: the records by type (no
  global owns them, so no owner path holds them).

Between two snapshots the test waits for two more "tick" lines the program
prints after each round of growth, read after the earlier snapshot has
returned: growth in every interval is then the program's doing, however
slow the machine.  The impact of each finding is checked against the
table of docs/diff.md from the finding's own numbers and the last
snapshot's bytes in use.  (examples/steady_cache, which gives no finding,
is in test_diff.py.)

Snapshot versions: leak_handlers' snapshots rewritten as a memprof before
owner paths wrote them (blocks section version 1: 62-bit hashes, no owner
bits, no owner paths section) still diff, to the same growth by type and
none by owner path; a blocks or owner paths section of a version this
memprof does not know is refused with a message naming it."""
import json
import os
import re
import select
import struct
import subprocess
import tempfile
import zlib

from mptest import check, example, finish, memprof

tmp = tempfile.mkdtemp(prefix="memprof-growth-")


class Ticking:
    """An example started with --grow: "ready PID", then "tick N" lines."""

    def __init__(self, name):
        self.proc = subprocess.Popen([example(name), "--grow"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        self.fd = self.proc.stdout.fileno()
        self.pending = b""
        self.pid = None
        self.ticks = 0
        while self.pid is None:
            if not self.read(block=True):
                raise SystemExit("%s --grow did not print 'ready PID'" % name)

    def read(self, block):
        """Reads what is there (waits for something when block); False at EOF."""
        ready, _, _ = select.select([self.fd], [], [], None if block else 0)
        if not ready:
            return True
        data = os.read(self.fd, 4096)
        if not data:
            return False
        self.pending += data
        *lines, self.pending = self.pending.split(b"\n")
        for line in lines:
            m = re.match(rb"(ready|tick) (\d+)$", line)
            if m and m.group(1) == b"ready":
                self.pid = int(m.group(2))
            elif m:
                self.ticks = max(self.ticks, int(m.group(2)))
        return True

    def wait_for_ticks(self, more):
        """Waits for `more` ticks after every line already printed."""
        while self.read(block=False) and select.select([self.fd], [], [], 0)[0]:
            pass
        target = self.ticks + more
        while self.ticks < target:
            if not self.read(block=True):
                raise SystemExit("the example ended before tick %d" % target)

    def release(self):
        self.proc.stdin.close()
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def impact_of(rate, growth, in_use):
    """docs/diff.md's impact table, without --limit."""
    per_hour = rate * 3600
    if per_hour >= 1 << 30:
        return "critical"
    if per_hour >= 100 << 20 or (growth * 2 >= in_use and growth >= 1 << 20):
        return "high"
    if per_hour >= 10 << 20 or (growth * 10 >= in_use and growth >= 64 << 10):
        return "medium"
    return "low"


def grow_and_diff(name):
    program = Ticking(name)
    paths = []
    try:
        for i in range(3):
            # One tick first: the pattern exists at the first snapshot
            # however slowly the program started (a sanitized memprof
            # can be first there), so each interval only grows it.
            program.wait_for_ticks(2 if i else 1)
            path = os.path.join(tmp, "%s-%d.snap" % (name, i + 1))
            status, out, err = memprof("snapshot", "save", path, "--pid", str(program.pid),
                                       timeout=300)
            check(status == 0, "%s: snapshot save --pid: %s" % (name, err[-300:]))
            paths.append(path)
    finally:
        status = program.release()
    check(status == 0, "%s --grow exits 0 at EOF (%s)" % (name, status))
    status, out, err = memprof("diff", *paths, "--format", "json", timeout=300)
    check(status == 0, "%s: diff exits 0: %s" % (name, err[-300:]))
    return json.loads(out) if status == 0 else None


def rewrite_sections(path, out, change):
    """Copies snapshot path to out with change(tag, bytes) applied to each
    section (None drops it); the layout is core/heap/snapshot.c's."""
    data = open(path, "rb").read()[:-4]
    pos = 16
    _, n_chunks, n_arenas, n_problems = struct.unpack_from("<qQQQ", data, pos)
    pos += 32 + 10 * 8 + 16

    def skip_string(at):
        return at + 4 + struct.unpack_from("<I", data, at)[0]
    for _ in range(3):
        pos = skip_string(pos)
    pos += 64 * n_arenas
    for _ in range(n_problems):
        pos = skip_string(skip_string(pos + 8))
    pos += 8 + 16 * struct.unpack_from("<Q", data, pos)[0] + 16 * n_chunks
    sections = []
    at = pos + 4
    for _ in range(struct.unpack_from("<I", data, pos)[0]):
        tag, length = struct.unpack_from("<IQ", data, at)
        body = change(tag, data[at + 12:at + 12 + length])
        if body is not None:
            sections.append(struct.pack("<IQ", tag, len(body)) + body)
        at += 12 + length
    result = data[:pos] + struct.pack("<I", len(sections)) + b"".join(sections)
    open(out, "wb").write(result + struct.pack("<I", zlib.crc32(result)))


BLKS, OWNR = 0x424c4b53, 0x4f574e52


def blocks_version_1(tag, body):
    """The blocks section as version 1 wrote it; no owner paths section."""
    if tag == OWNR:
        return None
    if tag != BLKS:
        return body
    pos = 20   # u32 version, i64 timestamp, u64 modules: name, build id, bias
    for _ in range(struct.unpack_from("<Q", body, 12)[0]):
        for _ in range(2):
            pos += 4 + struct.unpack_from("<I", body, pos)[0]
        pos += 8
    chunks = struct.unpack_from("<Q", body, pos)[0]
    words = struct.unpack_from("<%dQ" % chunks, body, pos + 8)
    old = [(w >> 62) << 62 | (w & ((1 << 46) - 1)) for w in words]
    return (struct.pack("<I", 1) + body[4:pos + 8] + struct.pack("<%dQ" % chunks, *old))


def finding(report, name, by, subject):
    """The growth finding by type or owner path for subject, checked."""
    found = [f for f in report["findings"] if f["by"] == by and f["subject"] == subject]
    if not check(len(found) == 1, "%s: one growth finding by %s for %s: %s"
                 % (name, by, subject, [(f["by"], f["subject"]) for f in report["findings"]])):
        return None
    f = found[0]
    check(f["kind"] == "growth" and all(b > 0 for b in f["interval_bytes"]),
          "%s: %s grows in both intervals: %s" % (name, subject, f["interval_bytes"]))
    check(f["bytes"] == sum(f["interval_bytes"]) and f["bytes"] >= 4096,
          "%s: %s gained the sum of its intervals, at least 4096 bytes: %s"
          % (name, subject, f))
    last = report["snapshots"][-1]["bytes"]
    check(f["impact"] == impact_of(f["bytes_per_second"], f["bytes"], last),
          "%s: %s impact %s is the table's for %.0f bytes/s, +%d of %d bytes in use"
          % (name, subject, f["impact"], f["bytes_per_second"], f["bytes"], last))
    return f


# ------------------------------------------------------------- leak_buffer
report = grow_and_diff("leak_buffer")
if report:
    by_owner = finding(report, "leak_buffer", "owner", "audit_log;data")
    if by_owner:
        # One buffer reallocated: its block count stays one.
        check(by_owner["blocks"] == 0, "leak_buffer: audit_log;data is one block that grows: %s"
              % by_owner)
        by_type = finding(report, "leak_buffer", "type", by_owner["type"])
        check(by_type is None or by_type["owner"] == "audit_log;data",
              "leak_buffer: the type's growth is held by audit_log;data: %s" % by_type)

# ----------------------------------------------------------- leak_handlers
report = grow_and_diff("leak_handlers")
if report:
    by_type = finding(report, "leak_handlers", "type", "struct listener")
    if by_type:
        check(by_type["evidence"].find("typed by DWARF") >= 0,
              "leak_handlers: listeners typed by DWARF: %s" % by_type["evidence"])
        # 50 forgotten widgets a tick: whole listeners of 32 bytes, 40
        # usable (glibc x86-64).
        check(all(b % 50 == 0 and b > 0 for b in by_type["interval_blocks"])
              and by_type["bytes"] == 40 * sum(by_type["interval_blocks"]),
              "leak_handlers: listeners grow by 50 blocks of 40 bytes a tick: %s" % by_type)
        owner = by_type["owner"]
        check(owner is not None and owner.startswith("app_events;listeners"),
              "leak_handlers: the listeners are held by app_events;listeners...: %s" % owner)
        if owner:
            held = finding(report, "leak_handlers", "owner", owner)
            check(held is None or held["type"] == "struct listener",
                  "leak_handlers: %s holds struct listener: %s" % (owner, held))

# ------------------------------------------------------ snapshot versions
handlers = [os.path.join(tmp, "leak_handlers-%d.snap" % i) for i in (1, 2, 3)]
if report and all(os.path.exists(p) for p in handlers):
    old = [p + ".v1" for p in handlers]
    for p, o in zip(handlers, old):
        rewrite_sections(p, o, blocks_version_1)
    status, out, err = memprof("diff", *old, "--format", "json")
    check(status == 0, "snapshots without owner paths diff: %s" % err[-300:])
    if status == 0:
        before = json.loads(out)
        check(all(f["by"] == "type" for f in before["findings"]),
              "no growth by owner path without owner paths: %s" % before["findings"])
        now = {f["subject"]: f["bytes"] for f in report["findings"] if f["by"] == "type"}
        then = {f["subject"]: f["bytes"] for f in before["findings"]}
        check(then == now, "the same growth by type from version 1 blocks: %s and %s" % (then, now))
    status, out, err = memprof("diff", *old)
    check(status == 0 and "by type only" in out, "the text says the growth is by type only: %s"
          % out[-400:])
    newer = os.path.join(tmp, "newer.snap")
    rewrite_sections(handlers[1], newer, lambda tag, body: struct.pack("<I", 99) + body[4:]
                     if tag == OWNR else body)
    status, out, err = memprof("diff", handlers[0], newer, handlers[2])
    check(status == 1 and "owner paths section has version 99" in err and newer in err,
          "a newer owner paths section is refused by name: %d %s" % (status, err))
    rewrite_sections(handlers[1], newer, lambda tag, body: struct.pack("<I", 3) + body[4:]
                     if tag == BLKS else body)
    status, out, err = memprof("diff", handlers[0], newer, handlers[2])
    check(status == 1 and "blocks section has version 3" in err and newer in err,
          "a newer blocks section is refused by name: %d %s" % (status, err))

# ---------------------------------------------------------------- leak_tls
report = grow_and_diff("leak_tls")
if report:
    growth = [f for f in report["findings"] if f["by"] == "type"]
    check(len(growth) >= 1, "leak_tls: a growth finding by type: %s" % report["findings"])
    # 4 workers, 10 records of 64 bytes (72 usable) a round each.
    records = [f for f in growth if all(b % 72 == 0 for b in f["interval_bytes"])
               and f["bytes"] >= 2 * 4 * 10 * 72]
    check(len(records) >= 1, "leak_tls: the records grow by whole 72-byte records, at least "
          "two rounds of the 4 workers: %s" % [(f["subject"], f["interval_bytes"]) for f in growth])
    check(all(f["by"] == "type" or not f["subject"].startswith("tls_") for f in report["findings"]),
          "leak_tls: no global owns the TLS lists: %s" % report["findings"])

finish()
