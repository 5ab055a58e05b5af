"""memprof for GDB: the `memprof` command and a Python API over libmemprof.

In GDB (`source BUILD/gdb/memprof.py`, or the installed copy):

    (gdb) memprof info
    (gdb) python import memprof; print(memprof.info()["threads"][0]["tid"])

Every verb of the engine is a function here: memprof.info(*args) runs
`memprof info ARGS --format json` on GDB's current target and returns the
parsed JSON (verbs that write no JSON return their text).  memprof.run(...)
runs any command line and returns its output.  Failures raise memprof.Error
with the engine's one-line message.

Outside GDB the same functions work as the CLI does: pass --core or --pid.
"""
import json

from . import _engine

try:
    import gdb  # present only inside GDB
    if not hasattr(gdb, "execute"):  # a directory named gdb on sys.path
        raise ImportError("not inside GDB")
    from . import _gdb as _host
except ImportError:
    gdb = None
    _host = None

_ErrorBase = gdb.GdbError if gdb is not None else Exception


class Error(_ErrorBase):
    """A memprof command failed; str() is the engine's message, status its
    exit status (1 runtime error, 2 usage error, 3 a check failed)."""

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


def verbs():
    """[(name, summary)] of the verbs the engine knows."""
    return _engine.verbs()


def _failure(status, messages):
    lines = [l for l in messages.splitlines() if l.strip()]
    # The engine says what went wrong on its last line; warnings come first.
    # A failed check (status 3) may say nothing: the `memprof` command says this.
    message = lines[-1] if lines else "memprof: exit status %d" % status
    return Error(message, status)


def run(*argv):
    """Runs one memprof command line (argv[0] is the verb) on the debugger's
    target and returns its standard output as text.  Warnings go to GDB's
    standard error; failures raise Error."""
    argv = [str(a) for a in argv]
    if _host is not None:
        status, output, messages = _host.run(argv)
    else:
        status, output, messages = _engine.run(argv)
    if status != 0:
        raise _failure(status, messages)
    if messages and _host is not None:
        _host.write_messages(messages)
    return output


def hint(text):
    """Adds hints (lines of the hints file format, docs/logical.md "Hints")
    for the rest of the session: memprof.hint("[struct registry]\\nsamples
    length nr").  Returns how many members are hinted; a bad line raises
    Error naming it ("python:LINE: ...") and adds nothing."""
    try:
        return _engine.add_hints(str(text), "python")
    except _engine.EngineError as e:
        raise Error("memprof: %s" % e) from None


_json_verbs = {}


def _has_json(verb):
    if verb in _json_verbs:
        return _json_verbs[verb]
    _json_verbs[verb] = False
    help_text = _engine.run(["help", verb])[1]
    for line in help_text.splitlines():
        if line.startswith("formats:"):
            _json_verbs[verb] = "json" in line.split()
    return _json_verbs[verb]


def _verb_function(verb, summary):
    def call(*args):
        if any(a == "--format" or str(a).startswith("--format=") for a in args):
            return run(verb, *args)
        if _has_json(verb):
            text = run(verb, *args, "--format", "json")
            try:
                return json.loads(text)
            except ValueError:
                # An action that writes no JSON even when asked for it
                # (`snapshot save` says what it saved): its text, never a
                # JSONDecodeError.
                return text
        return run(verb, *args)

    call.__name__ = verb
    call.__doc__ = ("%s\n\nmemprof.%s(*args) runs `memprof %s ARGS --format json` and "
                    "returns the parsed JSON." % (summary, verb, verb))
    return call


def _export_verbs():
    for verb, summary in _engine.verbs():
        name = verb.replace("-", "_")
        if name not in globals() or getattr(globals()[name], "_memprof_verb", False):
            f = _verb_function(verb, summary)
            f._memprof_verb = True
            globals()[name] = f


_export_verbs()

if _host is not None:
    _host.register_commands()
