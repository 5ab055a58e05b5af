"""`memprof report --html` is aggregated: the page of a heap with ten times
the blocks is about the same size, not ten times larger (issue 13: "fast
with a 10-million-block heap (aggregated, not one element per block)").

Two cores of bench/workload, 100,000 and 1,000,000 chunks of the same
mixed shape, made with gcore; the page of the larger must stay under 1.5
times the smaller's, and the count of block addresses written in it must
not grow with the blocks either (examples and leak groups keep a few
each, the list of unreferenced blocks its first 1000, which both heaps
exceed).  Sizes only: nothing here is timed."""
import os
import re
import tempfile

from mptest import check, finish, held_core, memprof

WORKLOAD = os.environ.get("WORKLOAD")
tmp = tempfile.mkdtemp(prefix="memprof-report-size-")


def page_of(chunks):
    """The page of a core of workload --chunks chunks, and the heap's blocks."""
    with held_core([WORKLOAD, "--chunks", str(chunks), "--shape", "mixed"]) as core:
        page = os.path.join(tmp, "report-%d.html" % chunks)
        status, out, err = memprof("report", "--html", page, "--core", core, timeout=600)
        check(status == 0, "report --html of %d chunks: %s" % (chunks, err[-300:]))
        status, out, err = memprof("heap", "--core", core, "--format", "json")
        blocks = int(re.search(r'"in_use": \{\s*"chunks": (\d+)', out).group(1)) if status == 0 else 0
    html = open(page, encoding="utf-8").read() if os.path.exists(page) else ""
    return html, blocks


if not WORKLOAD or not os.path.exists(WORKLOAD):
    raise SystemExit("WORKLOAD (bench/workload) is not built")

small, small_blocks = page_of(100000)
large, large_blocks = page_of(1000000)
check(small and large, "both pages written")
check(large_blocks >= 9 * small_blocks > 0,
      "the larger heap has about ten times the blocks: %d and %d" % (small_blocks, large_blocks))
check(len(large) <= 1.5 * len(small),
      "the page does not grow with the blocks: %d bytes for %d blocks, %d for %d"
      % (len(small), small_blocks, len(large), large_blocks))
addresses = lambda html: len(set(re.findall(r"0x[0-9a-f]{8,}", html)))
check(addresses(large) <= 1.5 * addresses(small),
      "block addresses in the page do not grow with the blocks: %d and %d"
      % (addresses(small), addresses(large)))
finish()
