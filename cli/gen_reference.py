#!/usr/bin/env python3
"""Writes memprof's man page or its bash completion from the CLI's own help.

    cli/gen_reference.py MEMPROF man OUT     memprof(1), troff
    cli/gen_reference.py MEMPROF bash OUT    bash completion for verbs and options

Both are generated at build time from `memprof --help` and `memprof help
VERB`, so they list every verb and option the binary has, and cannot fall
out of step with it (tests/integration/test_install.py checks the installed
ones against the binary too).
"""
import datetime
import os
import re
import subprocess
import sys

OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def help_text(memprof, *args):
    proc = subprocess.run([memprof, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit("%s %s failed: %s" % (memprof, " ".join(args), proc.stderr))
    return proc.stdout


def verbs(overview):
    """[(verb, summary)] from the overview's verb list."""
    found = []
    listing = overview.split("verbs:", 1)[1].split("\n\n", 1)[0]
    for line in listing.splitlines():
        m = re.match(r"^  (\w+)\s+(.*)$", line)
        if m:
            found.append((m.group(1), m.group(2).strip()))
    return found


def options(text):
    seen = []
    for option in OPTION.findall(text):
        if option not in seen:
            seen.append(option)
    return seen


def troff_escape(text):
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + line) if line.startswith((".", "'")) else line
                     for line in text.splitlines())


def man_page(memprof):
    overview = help_text(memprof, "--help")
    version = help_text(memprof, "--version").split()[-1]
    # SOURCE_DATE_EPOCH keeps the page reproducible when packaged.
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0")) or None
    date = (datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc) if epoch
            else datetime.datetime.now(datetime.timezone.utc)).strftime("%Y-%m-%d")
    common = overview.split("target (the CLI", 1)[1]
    common = "target (the CLI" + common
    out = [
        '.TH MEMPROF 1 "%s" "memprof %s" "User Commands"' % (date, version),
        ".SH NAME",
        "memprof \\- memory inspector for C, C++ and Rust programs: cores, live processes, GDB and LLDB",
        ".SH SYNOPSIS",
        ".B memprof",
        ".I VERB",
        "[\\fB\\-\\-core\\fR \\fIFILE\\fR | \\fB\\-\\-pid\\fR \\fIPID\\fR] [\\fIoptions\\fR] [\\fIargs\\fR]",
        ".SH DESCRIPTION",
        "memprof reads the memory of a program that is paused in a debugger, running, or dead "
        "as a core dump, with no recompilation and no allocator hooks: heap blocks exact to "
        "malloc's own counts, leaks in valgrind's kinds, bytes of a data structure per field "
        "path from its DWARF types, wasteful patterns with estimated savings.  The same verbs "
        "run inside GDB and LLDB as \\fBmemprof\\fR \\fIVERB\\fR.",
        ".SH VERBS",
    ]
    for verb, summary in verbs(overview):
        out += [".TP", ".B %s" % verb, troff_escape(summary)]
    out += [".SH COMMON OPTIONS", ".nf", troff_escape(common.strip()), ".fi"]
    for verb, _ in verbs(overview):
        text = help_text(memprof, "help", verb)
        # The common options follow every verb's own text: said once above.
        own = text.split("target (the CLI", 1)[0].rstrip()
        out += [".SH %s" % ("memprof " + verb).upper(), ".nf", troff_escape(own), ".fi"]
    out += [
        ".SH EXIT STATUS",
        "0 success; 1 a runtime error (one line on standard error says what and where); "
        "2 a usage error; 3 a check asked for with \\fB\\-\\-fail\\-on\\fR or "
        "\\fB\\-\\-fail\\-on\\-pressure\\fR failed.",
        ".SH ENVIRONMENT",
        ".TP",
        ".B MEMPROF_LIBRARY",
        "the libmemprof.so the GDB front end loads, instead of the installed one.",
        ".SH FILES",
        ".TP",
        ".I PREFIX/share/memprof/gdb/memprof.py",
        "the GDB front end: \\fBsource\\fR it, or add that line to \\fI~/.gdbinit\\fR.",
        ".TP",
        ".I PREFIX/lib/.../memprof/libmemprof\\-lldb.so",
        "the LLDB plugin: \\fBplugin load\\fR it, or add that line to \\fI~/.lldbinit\\fR.",
        ".SH SEE ALSO",
        ".BR gdb (1),",
        ".BR lldb (1),",
        ".BR valgrind (1),",
        ".BR pahole (1).",
        "The user guides in the docs directory of the memprof sources (one per verb).",
    ]
    return "\n".join(out) + "\n"


def bash_completion(memprof):
    overview = help_text(memprof, "--help")
    names = [verb for verb, _ in verbs(overview)]
    common = options(overview.split("target (the CLI", 1)[1])
    cases = []
    for verb in names:
        own = [o for o in options(help_text(memprof, "help", verb)) if o not in common]
        cases.append("        %s) opts=%s ;;" % (verb, "'" + " ".join(own) + "'"))
    return """# bash completion for memprof, generated from its help by cli/gen_reference.py
_memprof()
{
    local cur prev verb opts
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    case $prev in
        --core|--exe|--output|--snapshot|--hints|--debug-dir|--sysroot)
            [[ $prev == --debug-dir || $prev == --sysroot ]] \\
                && COMPREPLY=($(compgen -d -- "$cur")) \\
                || COMPREPLY=($(compgen -f -- "$cur"))
            return ;;
        --pid)
            COMPREPLY=($(compgen -W "$(ps -eo pid= 2>/dev/null)" -- "$cur"))
            return ;;
        --format)
            COMPREPLY=($(compgen -W "text json folded csv prometheus svg" -- "$cur"))
            return ;;
    esac
    if ((COMP_CWORD == 1)); then
        COMPREPLY=($(compgen -W "%(verbs)s help --help --version" -- "$cur"))
        return
    fi
    verb=${COMP_WORDS[1]}
    case $verb in
%(cases)s
        help) COMPREPLY=($(compgen -W "%(verbs)s" -- "$cur")); return ;;
        *) opts='' ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts %(common)s --help" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}
complete -F _memprof memprof
""" % {"verbs": " ".join(names), "cases": "\n".join(cases), "common": " ".join(common)}


def main():
    if len(sys.argv) != 4 or sys.argv[2] not in ("man", "bash"):
        print(__doc__, file=sys.stderr)
        return 2
    memprof, kind, out = sys.argv[1:]
    text = man_page(memprof) if kind == "man" else bash_completion(memprof)
    with open(out, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
