"""The GDB host: registers `memprof VERB ...` for every verb of the engine and
hands the engine GDB's target when a command needs one.

- a live process GDB runs or attached to (connection "native"): the pid with
  MP_PID_ALREADY_STOPPED (memory through /proc, no call into GDB per read)
  plus the registers of every thread as GDB sees them;
- a core file (connection "core"): the engine opens the core file itself,
  with GDB's executable unless --exe says otherwise, exactly as the CLI's
  `--core CORE --exe EXE` would;
- anything else (gdbserver, ...): memory through inferior.read_memory behind
  the engine's page cache, mappings from `info proc mappings` (else from the
  sections GDB knows), the auxiliary vector from `info auxv`, registers.

Errors become gdb.GdbError carrying the engine's one-line message.
"""
import contextlib
import ctypes
import os
import re
import signal
import sys

import gdb

from . import _engine as E

_MASK64 = (1 << 64) - 1
_FILE_OPTIONS = ("--core", "--exe", "--output", "--sysroot", "--debug-dir")


class _Run:
    """State of one command: the callbacks and objects the engine may call
    or point to must stay alive until mp_command_run returns."""

    def __init__(self, verb):
        self.verb = verb
        self.interrupted = False
        self.keep = []
        self.progress_columns = 0
        # --progress=auto draws only for someone at a terminal: GDB's own
        # stderr, not a pipe or a log (gdb -batch under a script).
        try:
            interactive = os.isatty(2)
        except OSError:
            interactive = False
        self.host = E.Host(name=b"gdb", target=None,
                           interrupted=E.INTERRUPTED_FN(self._poll),
                           context=None,
                           open_target=E.OPEN_TARGET_FN(self._open_target),
                           progress=E.PROGRESS_FN(self._progress),
                           progress_interactive=interactive,
                           hints=E.session_hints())

    # The engine's progress line, redrawn in place on GDB's stderr; the
    # engine calls it from this thread only, at most ten times a second.
    def _progress(self, _context, report):
        try:
            text = report.contents.text
            if text is None:
                gdb.write("\r%s\r" % (" " * self.progress_columns), gdb.STDERR)
                self.progress_columns = 0
            else:
                text = text.decode("utf-8", "replace")
                pad = max(0, self.progress_columns - len(text))
                gdb.write("\r" + text + " " * pad, gdb.STDERR)
                self.progress_columns = max(self.progress_columns, len(text))
            gdb.flush(gdb.STDERR)
        except KeyboardInterrupt:
            self.interrupted = True
        except Exception:  # a progress line is never worth a traceback
            pass

    # Ctrl-C: SIGINT is held back while the engine runs (see run() below);
    # the engine's poll asks whether one is waiting.
    def _poll(self, _context):
        if not self.interrupted and signal.SIGINT in signal.sigpending():
            self.interrupted = True
        return self.interrupted

    def _open_target(self, _context, options, out):
        try:
            out[0] = open_target(options.contents, self)
            return None
        except E.EngineError as e:
            return E.new_error(e.code, str(e))
        except KeyboardInterrupt:
            self.interrupted = True
            return E.new_error(E.ERR_INTERRUPTED, "interrupted")
        except gdb.error as e:
            return E.new_error(E.ERR_IO, "gdb: %s" % e)
        except Exception as e:  # never a traceback: one line for the user
            return E.new_error(E.ERR_IO, "%s: %s" % (type(e).__name__, e))


def run(argv):
    """(status, output, messages) of one command line on GDB's target."""
    state = _Run(argv[0] if argv else None)
    previous_hook = sys.unraisablehook

    # A KeyboardInterrupt raised on entry to a ctypes callback (a Ctrl-C
    # that came just before SIGINT was held back) is reported through
    # sys.unraisablehook: it only sets the flag.
    def hook(unraisable):
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            state.interrupted = True
        else:
            previous_hook(unraisable)

    # Ctrl-C while the engine works: GDB's SIGINT handler would raise a
    # KeyboardInterrupt in whatever Python code runs next (the engine's
    # poll, the hook above while it handles the previous one, ...), and
    # Python prints a traceback for one raised there.  SIGINT is held back
    # for the length of the command instead (the engine's threads inherit
    # the mask) and the poll asks whether one is pending.  One the engine
    # stopped for is taken away; one that came too late to stop it is
    # GDB's again when the mask is restored, last: a Quit, as for any
    # command.
    sys.unraisablehook = hook
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        return E.run(argv, state.host)
    finally:
        sys.unraisablehook = previous_hook
        if state.interrupted and signal.SIGINT in signal.sigpending():
            signal.sigwait({signal.SIGINT})
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def write_messages(messages):
    gdb.write(messages, gdb.STDERR)


# ----------------------------------------------------------------- targets

def _target_options(options):
    """A copy of the engine's options, completed from GDB's settings: the
    executable GDB loaded and GDB's sysroot, unless the command line set
    them."""
    copy = E.TargetOptions(options.exe_path, options.sysroot, options.debug_dirs,
                           options.n_debug_dirs, options.no_debuginfod)
    if not copy.exe_path:
        exe = _executable()
        if exe:
            copy.exe_path = exe.encode("utf-8", "surrogateescape")
    if not copy.sysroot:
        sysroot = gdb.parameter("sysroot") or ""
        if sysroot and not sysroot.startswith("target:") and os.path.isdir(sysroot) \
                and os.path.realpath(sysroot) != "/":
            copy.sysroot = sysroot.encode("utf-8", "surrogateescape")
    return copy


def _executable():
    name = gdb.current_progspace().filename
    if not name:
        return None
    if name.startswith("target:"):
        name = name[len("target:"):]
    return name if os.path.isfile(name) else None


_core_paths = {}


def _core_path(inferior, connection):
    """The core file GDB has open: `info target` names it (GDB 13 has no
    Python attribute for it).  Cached per connection."""
    key = (connection.num, inferior.num, inferior.pid)
    path = _core_paths.get(key)
    if path is None:
        text = gdb.execute("info target", to_string=True)
        m = re.search(r"Local core dump file:\s*\n\s*`(.*)', file type", text)
        if not m:
            raise E.EngineError(E.ERR_NOT_FOUND, "cannot find the core file's name in "
                                "`info target`; give --core FILE")
        path = m.group(1)
        _core_paths.clear()
        _core_paths[key] = path
    return path


def open_target(options, state):
    lib = E.lib()
    inferior = gdb.selected_inferior()
    connection = inferior.connection
    if connection is None or inferior.pid == 0:
        raise E.EngineError(E.ERR_NOT_FOUND,
                            "no process: run or attach to the program, or load a core "
                            "(core-file FILE); or give --core FILE / --pid PID")
    opts = _target_options(options)
    state.keep.append(opts)
    target = ctypes.c_void_p()
    if connection.type == "core":
        E.check(lib.mp_target_open_core(_core_path(inferior, connection).encode(
            "utf-8", "surrogateescape"), ctypes.byref(opts), ctypes.byref(target)))
        try:
            _add_frame_variables(target, inferior, state)
        except BaseException:
            lib.mp_target_release(target)
            raise
        return target.value
    if connection.type == "native":
        E.check(lib.mp_target_attach_pid(inferior.pid, ctypes.byref(opts),
                                         E.PID_ALREADY_STOPPED, ctypes.byref(target)))
    else:
        read = E.READ_MEMORY_FN(_memory_reader(inferior, state))
        state.keep.append(read)
        E.check(lib.mp_target_open_callback(read, None, ctypes.byref(opts),
                                            ctypes.byref(target)))
    try:
        if connection.type != "native":
            _describe_remote(target, inferior)
        for tid, registers in _thread_registers(inferior):
            E.check(lib.mp_target_add_thread(target, tid, ctypes.byref(registers)))
        E.check(lib.mp_target_finish(target))
        _add_frame_variables(target, inferior, state)
    except BaseException:
        lib.mp_target_release(target)
        raise
    return target.value


@contextlib.contextmanager
def _selection_kept():
    """Restores GDB's selected thread and frame after a walk over threads."""
    selected_thread = gdb.selected_thread()
    try:
        selected_frame = gdb.selected_frame()
    except gdb.error:
        selected_frame = None
    try:
        yield
    finally:
        if selected_thread is not None and selected_thread.is_valid():
            selected_thread.switch()
            if selected_frame is not None and selected_frame.is_valid():
                selected_frame.select()


def _thread_registers(inferior):
    """[(tid, Registers)] for every thread, read from GDB's newest frame of
    each; the selected thread and frame are restored."""
    names = E.register_names()
    result = []
    with _selection_kept():
        for thread in sorted(inferior.threads(), key=lambda t: t.num):
            if not thread.is_valid() or thread.is_exited():
                continue
            if thread.is_running():
                raise E.EngineError(E.ERR_USAGE, "thread %d is running: stop it first "
                                    "(interrupt -a)" % thread.num)
            thread.switch()
            frame = gdb.newest_frame()
            registers = E.Registers()
            for i, name in enumerate(names):
                try:
                    registers.value[i] = int(frame.read_register(name)) & _MASK64
                except (gdb.error, ValueError):
                    pass  # a register this target does not have stays 0
            pid, lwp, _ = thread.ptid
            result.append((lwp or pid, registers))
    return result


# Verbs that name heap blocks by type: they get the frame variables.
_TYPED_ROOT_VERBS = ("leaks",)
_MAX_FRAMES = 64
_MAX_FRAME_VARIABLES = 10000


def _frame_variables(inferior):
    """[FrameVariable] for the pointers and references to records, and the
    records in memory, of the newest frames of every thread; the selected
    thread and frame are restored."""
    record = (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION)
    pointer = (gdb.TYPE_CODE_PTR, gdb.TYPE_CODE_REF, gdb.TYPE_CODE_RVALUE_REF)
    result = []
    with _selection_kept():
        for thread in sorted(inferior.threads(), key=lambda t: t.num):
            if not thread.is_valid() or thread.is_exited() or thread.is_running():
                continue
            thread.switch()
            pid, lwp, _ = thread.ptid
            frame, level = gdb.newest_frame(), 0
            while frame is not None and level < _MAX_FRAMES:
                try:
                    block = frame.block()
                except RuntimeError:
                    block = None  # no debug info for this frame
                while block is not None and len(result) < _MAX_FRAME_VARIABLES:
                    for symbol in block:
                        if not (symbol.is_variable or symbol.is_argument):
                            continue
                        try:
                            value = symbol.value(frame)
                            if value.is_optimized_out:
                                continue
                            kind = value.type.strip_typedefs()
                            if kind.code in pointer:
                                if kind.target().strip_typedefs().code not in record:
                                    continue
                                held = (int(value) if kind.code == gdb.TYPE_CODE_PTR
                                        else int(value.referenced_value().address))
                                address = 0
                            elif kind.code in record and value.address is not None:
                                held, address = 0, int(value.address)
                            else:
                                continue
                            result.append(E.FrameVariable(
                                name=symbol.name.encode("utf-8", "replace"),
                                type=str(kind).encode("utf-8", "replace"),
                                address=address & _MASK64, value=held & _MASK64,
                                tid=lwp or pid, frame=level))
                        except (gdb.error, gdb.MemoryError, ValueError):
                            continue  # a variable GDB cannot read here
                    if block.function is not None:
                        break  # the function's outermost block: its locals are done
                    block = block.superblock
                try:
                    frame, level = frame.older(), level + 1
                except gdb.error:
                    break
    return result


def _add_frame_variables(target, inferior, state):
    """Hands GDB's frame variables to the target for verbs that use them."""
    if state.verb not in _TYPED_ROOT_VERBS:
        return
    lib = E.lib()
    for variable in _frame_variables(inferior):
        E.check(lib.mp_target_add_frame_variable(target, ctypes.byref(variable)))


def _memory_reader(inferior, state):
    def read(_context, address, buffer, length):
        try:
            data = inferior.read_memory(address, length)
            ctypes.memmove(buffer, data.tobytes(), length)
            return None
        except gdb.MemoryError as e:
            return E.new_error(E.ERR_FAULT, "cannot read %d bytes at %#x: %s"
                               % (length, address, e))
        except KeyboardInterrupt:
            state.interrupted = True
            return E.new_error(E.ERR_INTERRUPTED, "interrupted")
        except Exception as e:
            return E.new_error(E.ERR_IO, "gdb: %s" % e)
    return read


_PERMS = {"r": E.PERM_READ, "w": E.PERM_WRITE, "x": E.PERM_EXEC, "s": E.PERM_SHARED}


def _describe_remote(target, inferior):
    """Mappings and auxv of a target the engine reaches through callbacks."""
    lib = E.lib()
    mappings = _proc_mappings() or _section_mappings()
    if not mappings:
        raise E.EngineError(E.ERR_NOT_FOUND, "gdb knows no memory map of this target "
                            "(`info proc mappings` and `info files` list nothing)")
    for start, end, offset, perms, path in mappings:
        m = E.Mapping(start, end, offset, perms, path.encode("utf-8", "surrogateescape"),
                      E.CONTENTS_FULL if perms & E.PERM_READ or perms & E.PERM_UNKNOWN
                      else E.CONTENTS_NONE)
        E.check(lib.mp_target_add_mapping(target, ctypes.byref(m)))
    auxv = _auxv()
    if auxv:
        entries = (E.AuxvEntry * len(auxv))(*[E.AuxvEntry(t, v) for t, v in auxv])
        E.check(lib.mp_target_set_auxv(target, entries, len(auxv)))


_MAPPING_LINE = re.compile(
    r"^\s*(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)"
    r"(?:\s+([r-][w-][x-][ps]))?\s*(.*)$")


def _proc_mappings():
    try:
        text = gdb.execute("info proc mappings", to_string=True)
    except gdb.error:
        return []
    rows = []
    for line in text.splitlines():
        m = _MAPPING_LINE.match(line)
        if not m:
            continue
        perms = 0
        if m.group(4):
            for c in m.group(4):
                perms |= _PERMS.get(c, 0)
        else:
            perms = E.PERM_UNKNOWN | E.PERM_READ
        rows.append((int(m.group(1), 16), int(m.group(2), 16), int(m.group(3), 16),
                     perms, m.group(5).strip()))
    return rows


def _section_mappings():
    """Fallback: the loaded sections GDB lists, page-aligned and merged."""
    try:
        text = gdb.execute("info files", to_string=True)
    except gdb.error:
        return []
    ranges = []
    for m in re.finditer(r"(0x[0-9a-f]+) - (0x[0-9a-f]+) is \S+(?: in (\S+))?", text):
        start, end = int(m.group(1), 16) & ~0xfff, (int(m.group(2), 16) + 0xfff) & ~0xfff
        if end > start:
            ranges.append((start, end, m.group(3) or ""))
    ranges.sort()
    merged = []
    for start, end, path in ranges:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end, path])
    return [(s, e, 0, E.PERM_UNKNOWN | E.PERM_READ, p) for s, e, p in merged]


_AUXV_LINE = re.compile(r"^(\d+)\s.*?\s(0x[0-9a-f]+|\d+)(?:\s+\".*\")?\s*$")


def _auxv():
    try:
        text = gdb.execute("info auxv", to_string=True)
    except gdb.error:
        return []
    entries = []
    for line in text.splitlines():
        m = _AUXV_LINE.match(line)
        if m and int(m.group(1)) != 0:
            entries.append((int(m.group(1)), int(m.group(2), 0)))
    return entries


# ---------------------------------------------------------------- commands

def execute(argv):
    status, output, messages = run(argv)
    # gdb -batch exits non-zero only when its last command failed; a script
    # that runs more after a check ends with `quit $_memprof_status`.
    gdb.set_convenience_variable("_memprof_status", status)
    if output:
        gdb.write(output)
    lines = [l for l in messages.splitlines() if l.strip()]
    if status != 0:
        for line in lines[:-1]:
            gdb.write(line + "\n", gdb.STDERR)
        raise gdb.GdbError(lines[-1] if lines else
                           "memprof: exit status %d" % status)
    for line in lines:
        gdb.write(line + "\n", gdb.STDERR)


_help_cache = {}


def _verb_help(verb):
    text = _help_cache.get(verb)
    if text is None:
        text = E.run(["help", verb])[1]
        _help_cache[verb] = text
    return text


def _verb_options(verb):
    found = []
    for option in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*|-h)\b", _verb_help(verb)):
        if option not in found:
            found.append(option)
    if "--help" not in found:
        found.append("--help")
    return found


def _verb_formats(verb):
    for line in _verb_help(verb).splitlines():
        if line.startswith("formats:"):
            return line.split()[1:]
    return []


def complete_arguments(verb, text, word):
    """Completion of one verb's arguments: options, formats, file names."""
    words = gdb.string_to_argv(text) if text.strip() else []
    at_new_word = not text or text[-1].isspace()
    current = "" if at_new_word or not words else words[-1]
    before = words if at_new_word else words[:-1]
    previous = before[-1] if before else None
    if previous in _FILE_OPTIONS:
        # GDB's own filename completer does not cope with the option before
        # the name: list the directory here.
        candidates = _file_names(current, directories_only=previous in
                                 ("--debug-dir", "--sysroot"))
    elif previous == "--format":
        candidates = _verb_formats(verb)
    elif previous == "--pid":
        return gdb.COMPLETE_NONE
    elif current.startswith("-") or not current:
        candidates = _verb_options(verb)
    else:
        return gdb.COMPLETE_SYMBOL
    # GDB replaces only `word`, the text after its last word-break
    # character ('-' is one): answer with the part of each match from there.
    cut = len(current) - len(word) if word is not None and current.endswith(word) else 0
    return [c[cut:] for c in candidates if c.startswith(current)]


def _file_names(prefix, directories_only):
    directory, start = os.path.split(prefix)
    try:
        names = os.listdir(os.path.expanduser(directory) or ".")
    except OSError:
        return []
    result = []
    for name in sorted(names):
        if not name.startswith(start) or (name.startswith(".") and not start.startswith(".")):
            continue
        path = os.path.join(directory, name)
        is_dir = os.path.isdir(os.path.expanduser(path))
        if is_dir:
            result.append(path + "/")
        elif not directories_only:
            result.append(path)
    return result


# ------------------------------------------------------------ logical ROOT
# ROOT of `memprof logical` is any expression GDB evaluates in the selected
# frame.  GDB only evaluates it: its address and type name go to the engine
# as ADDRESS:TYPE (the engine does the walk).  A global chain the engine
# parses itself (`registry.items[3]`) and the engine's own forms
# (MODULE:VARIABLE, ADDRESS:TYPE) go unchanged, so GDB and the CLI agree.

# Options of `logical` that take a value (the engine's common ones and the
# verb's own): their values are not words of ROOT.
_LOGICAL_VALUED = ("--core", "--exe", "--sysroot", "--pid", "--format", "--output",
                   "--debug-dir", "--metric", "--max-objects", "--max-depth", "--top",
                   "--name", "--member")
_CHAIN = re.compile(r"[A-Za-z_][\w:]*((\.|->)[A-Za-z_]\w*|\[(\d+|0[xX][0-9a-fA-F]+)\])*\Z")
_LAST_MEMBER = re.compile(r"(.+?)(\.|->)([A-Za-z_]\w*)\Z", re.S)
_RECORDS = (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION)
_OPERATOR_EDGE = re.compile(r"^[-+*/&|<>!~^%()]|[-+*/&|<>!~^%(]$")


def _single_colon(text):
    return re.search(r"(?<!:):(?!:)", text) is not None


def _is_global(name):
    """True when name is a global or static the engine finds by name
    (no local of the selected frame hides it)."""
    try:
        symbol = gdb.lookup_symbol(name)[0]
    except gdb.error:  # no frame: nothing local can hide it
        symbol = None
    if symbol is not None and (symbol.is_argument or
                               symbol.addr_class != gdb.SYMBOL_LOC_STATIC):
        return False
    return True


def _record_address(value):
    """(address, type name) of the struct value is or points to, or None."""
    kind = value.type.strip_typedefs()
    if kind.code == gdb.TYPE_CODE_PTR and kind.target().strip_typedefs().code in _RECORDS:
        return int(value) & _MASK64, str(kind.target())
    if kind.code in (gdb.TYPE_CODE_REF, gdb.TYPE_CODE_RVALUE_REF):
        value = value.referenced_value()
        kind = value.type.strip_typedefs()
    if kind.code in _RECORDS and value.address is not None:
        return int(value.address) & _MASK64, str(value.type)
    return None


def _evaluate_root(text):
    """(ROOT for the engine, extra options) for expression text."""
    # A pointer member keeps the length its struct gives it: the struct
    # goes over with --member (the engine's rule for chains).
    last = _LAST_MEMBER.match(text)
    if last:
        try:
            parent = gdb.parse_and_eval(last.group(1))
            where = _record_address(parent)
            if where is not None:
                member = parent.type.strip_typedefs()
                if member.code == gdb.TYPE_CODE_PTR:
                    member = member.target()
                field = member.strip_typedefs()[last.group(3)].type.strip_typedefs()
                if field.code == gdb.TYPE_CODE_PTR:
                    return "%#x:%s" % where, ["--member", last.group(3)]
        except (gdb.error, KeyError, TypeError):
            pass  # not a member access GDB can split: the whole expression
    value = gdb.parse_and_eval(text)
    kind = value.type.strip_typedefs()
    where = _record_address(value)
    if where is None and value.address is not None:
        where = int(value.address) & _MASK64, str(value.type)
    if where is None and "$" not in text:
        # A number or a name GDB reads as a value: the engine's own lookup
        # answers it, as the CLI's does.
        raise gdb.error("no address")
    if where is None:
        raise gdb.GdbError("memprof: %s (%s) has no address (a register or a computed "
                           "value): give a pointer, e.g. (struct instance *)$rdi" % (text, kind))
    if kind.code == gdb.TYPE_CODE_PTR and where[0] == 0:
        raise gdb.GdbError("memprof: %s is NULL" % text)
    return "%#x:%s" % where, []


def logical_argv(argv):
    """argv of `logical` with ROOT, any GDB expression, made an engine ROOT."""
    words, options, i = argv[1:], [], 0
    root_words = []
    while i < len(words):
        word = words[i]
        if word == "--":
            root_words += words[i + 1:]
            break
        if word.startswith("--") or word == "-h":
            options.append(word)
            if word in _LOGICAL_VALUED and i + 1 < len(words):
                options.append(words[i + 1])
                i += 1
        else:
            root_words.append(word)
        i += 1
    # Words of one expression typed without quotes: `(struct instance *) $rdi`.
    root = " ".join(root_words)
    other_target = any(o.split("=")[0] in ("--core", "--pid") for o in options)
    # Whatever GDB does not evaluate goes to the engine exactly as typed,
    # so a malformed line gets the CLI's own answer.  Words of one
    # expression typed without quotes have operators between them
    # (`(struct x *) $rdi`, `items + 3`); other stray words are the
    # engine's to refuse.
    if not root or other_target or _single_colon(root):
        return argv
    if len(root_words) > 1 and not any(_OPERATOR_EDGE.search(w) for w in root_words):
        return argv
    # GDB 13 dies (SIGSEGV) evaluating a symbol in an inferior that has no
    # program while another inferior has a core: nothing to evaluate there.
    progspace = gdb.current_progspace()
    if progspace is None or progspace.filename is None:
        return argv
    head = re.match(r"[A-Za-z_][\w:]*", root)
    if _CHAIN.match(root) and head and _is_global(head.group(0)):
        return argv
    try:
        engine_root, extra = _evaluate_root(root)
    except gdb.GdbError:
        raise
    except gdb.error:
        # Not an expression GDB knows here (a Rust path, a static out of
        # scope, stray words): the engine looks it up and says what failed.
        return argv
    if not any(o.split("=")[0] == "--name" for o in options):
        extra += ["--name", root]
    return [argv[0], engine_root] + extra + options


class _VerbCommand(gdb.Command):
    verb = None

    def __init__(self):
        super().__init__("memprof " + self.verb, gdb.COMMAND_DATA)

    def invoke(self, argument, from_tty):
        self.dont_repeat()
        argv = [self.verb] + gdb.string_to_argv(argument)
        if self.verb == "logical":
            argv = logical_argv(argv)
        execute(argv)

    def complete(self, text, word):
        return complete_arguments(self.verb, text, word)


class _HintCommand(gdb.Command):
    """Add hints for what DWARF cannot say, kept for the session.

Usage: memprof hint [TYPE] MEMBER HINT...   (one line of the hints file format)
       memprof hint --clear                 (forget the session's hints)

Example: memprof hint [struct registry] samples length nr
Later memprof commands (logical, leaks, patterns, ...) apply them after
their --hints files; see docs/logical.md, "Hints"."""

    def __init__(self):
        super().__init__("memprof hint", gdb.COMMAND_DATA)

    def invoke(self, argument, from_tty):
        self.dont_repeat()
        text = argument.strip()
        if text == "--clear":
            E.clear_hints()
            return
        if not text:
            raise gdb.GdbError("memprof: hint: expected [TYPE] MEMBER HINT... "
                               "(see help memprof hint)")
        try:
            count = E.add_hints(text, "gdb")
        except E.EngineError as e:
            raise gdb.GdbError("memprof: %s" % e) from None
        if from_tty:
            gdb.write("memprof: %d member(s) hinted\n" % count)


class MemprofCommand(gdb.Command):
    """Inspect the memory of the program being debugged with memprof.

Usage: memprof VERB [options] [args]

GDB supplies the target (the live process, the core file, or a remote
target through gdbserver); --core FILE or --pid PID inspect another one.
Options and output are the same as the memprof command line's.
"memprof --help" lists the common options; "help memprof VERB" describes
a verb."""

    def __init__(self):
        super().__init__("memprof", gdb.COMMAND_DATA, gdb.COMPLETE_NONE, True)

    def invoke(self, argument, from_tty):
        self.dont_repeat()
        argv = gdb.string_to_argv(argument)
        if argv and argv[0] == "logical":
            argv = logical_argv(argv)
        execute(argv if argv else ["--help"])

    def complete(self, text, word):
        words = text.split()
        if len(words) > 1 or (words and text[-1].isspace()):
            return gdb.COMPLETE_NONE
        prefix = words[0] if words else ""
        names = [v for v, _ in E.verbs()] + ["--help", "--version"]
        return [n for n in names if n.startswith(prefix)]


_registered = False


def register_commands():
    global _registered
    if _registered:
        return
    MemprofCommand()
    _HintCommand()
    for verb, summary in E.verbs():
        doc = "%s\n\n%s" % (summary[:1].upper() + summary[1:], _verb_help(verb).rstrip())
        cls = type("Memprof_" + re.sub(r"\W", "_", verb), (_VerbCommand,),
                   {"__doc__": doc, "verb": verb})
        cls()
    _registered = True
