// memprof's LLDB front-end: a native plugin on the SB API (no embedded
// Python).  `plugin load libmemprof-lldb.so` adds `memprof VERB ...` for
// every verb of libmemprof's command engine; each command line goes to
// mp_command_run unchanged, with LLDB's target supplied on demand:
//
// - a core file (process plugin "elf-core"): LLDB 14's SB API does not name
//   the core file, so the plugin looks for it among the files LLDB has open
//   or mapped, and accepts one only if the engine opens it as the same
//   process (pid, thread ids, pc of each thread) with the same memory
//   (samples); among several, one no other LLDB process reads, the newest.
//   The choice is kept per LLDB process.  The engine then reads the core
//   exactly as the CLI's --core would.  Otherwise memory goes through LLDB;
// - a live process on the host platform (LLDB traces it through
//   lldb-server): the pid with MP_PID_ALREADY_STOPPED once the kernel
//   confirms it is stopped, memory read through /proc, registers of every
//   thread from SBFrame (LLDB 14 has no fs_base/gs_base: they read 0, and
//   the engine finds the main thread's TCB mapping by its self-pointers);
// - anything else (remote platforms): memory through SBProcess::ReadMemory
//   behind the engine's page cache, mappings from SBMemoryRegionInfo,
//   registers from SBFrame.
//
// Supported: LLDB 14 (Debian 12's liblldb-14).
#include <lldb/API/LLDB.h>

#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "memprof/memprof.h"

namespace {

// A FILE * collecting output in memory (open_memstream).
class MemoryStream {
public:
	MemoryStream() { file_ = open_memstream(&buffer_, &size_); }
	~MemoryStream()
	{
		close();
		free(buffer_);
	}
	MemoryStream(const MemoryStream &) = delete;
	MemoryStream &operator=(const MemoryStream &) = delete;
	FILE *file() const { return file_; }
	std::string text()
	{
		close();
		return buffer_ ? std::string(buffer_, size_) : std::string();
	}

private:
	void close()
	{
		if (file_) {
			fclose(file_);
			file_ = nullptr;
		}
	}
	FILE *file_ = nullptr;
	char *buffer_ = nullptr;
	size_t size_ = 0;
};

struct Session {
	lldb::SBDebugger debugger;
	lldb::SBProcess process;
	const char *verb;     // the command's verb, or nullptr
	size_t progress_columns = 0;   // of the progress line last drawn
};

bool interrupted(void *context)
{
	auto *session = static_cast<Session *>(context);
	return session->debugger.GetCommandInterpreter().WasInterrupted();
}

// The engine's progress line, redrawn in place on the debugger's error
// stream (the command's own result only exists once it returns).  Erased
// with spaces: no terminal escapes in a log.
void progress(void *context, const mp_progress *p)
{
	auto *session = static_cast<Session *>(context);
	FILE *f = session->debugger.GetErrorFileHandle();
	if (!f)
		return;
	if (!p->text) {
		std::fprintf(f, "\r%*s\r", (int)session->progress_columns, "");
		session->progress_columns = 0;
	} else {
		size_t length = std::strlen(p->text);
		int pad = session->progress_columns > length
				  ? (int)(session->progress_columns - length) : 0;
		std::fprintf(f, "\r%s%*s", p->text, pad, "");
		session->progress_columns = std::max(session->progress_columns, length);
	}
	std::fflush(f);
}

// ------------------------------------------------------------ registers

// LLDB's name for the register memprof calls `name`, where they differ.
const char *lldb_register_name(const char *name)
{
	return std::strcmp(name, "eflags") == 0 ? "rflags" : name;
}

mp_error *add_threads(mp_target *target, lldb::SBProcess &process)
{
	for (uint32_t i = 0; i < process.GetNumThreads(); i++) {
		lldb::SBThread thread = process.GetThreadAtIndex(i);
		if (!thread.IsValid())
			continue;
		lldb::SBFrame frame = thread.GetFrameAtIndex(0);
		mp_registers registers = {};
		bool any = false;
		lldb::SBValueList sets = frame.GetRegisters();
		// The first set is the general-purpose registers on x86-64.
		lldb::SBValue gpr = sets.GetSize() ? sets.GetValueAtIndex(0) : lldb::SBValue();
		for (size_t r = 0; gpr.IsValid() && r < MP_NUM_REGISTERS; r++) {
			lldb::SBValue value =
				gpr.GetChildMemberWithName(lldb_register_name(mp_register_name(r)));
			if (!value.IsValid())
				continue;
			lldb::SBError error;
			uint64_t v = value.GetValueAsUnsigned(error, 0);
			if (error.Success()) {
				registers.value[r] = v;
				any = true;
			}
		}
		mp_error *err = mp_target_add_thread(target, (int64_t)thread.GetThreadID(),
						     any ? &registers : nullptr);
		if (err)
			return err;
	}
	return nullptr;
}

// ------------------------------------------------------------ core files

bool is_core_file(const std::string &path)
{
	int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	Elf64_Ehdr header;
	bool core = pread(fd, &header, sizeof(header), 0) == (ssize_t)sizeof(header) &&
		    std::memcmp(header.e_ident, ELFMAG, SELFMAG) == 0 &&
		    header.e_ident[EI_CLASS] == ELFCLASS64 && header.e_type == ET_CORE;
	close(fd);
	return core;
}

// Files LLDB has open or mapped that are ELF core files.
std::vector<std::string> open_core_files()
{
	std::set<std::string> seen;
	std::vector<std::string> cores;
	auto consider = [&](const std::string &path) {
		if (path.empty() || path[0] != '/' || !seen.insert(path).second)
			return;
		if (is_core_file(path))
			cores.push_back(path);
	};
	if (DIR *dir = opendir("/proc/self/fd")) {
		while (struct dirent *entry = readdir(dir)) {
			char link[PATH_MAX];
			std::string fd_path = std::string("/proc/self/fd/") + entry->d_name;
			ssize_t n = readlink(fd_path.c_str(), link, sizeof(link) - 1);
			if (n > 0)
				consider(std::string(link, (size_t)n));
		}
		closedir(dir);
	}
	if (FILE *maps = fopen("/proc/self/maps", "re")) {
		char *line = nullptr;
		size_t capacity = 0;
		while (getline(&line, &capacity, maps) > 0) {
			char *path = std::strchr(line, '/');
			if (!path)
				continue;
			path[std::strcspn(path, "\n")] = '\0';
			consider(path);
		}
		free(line);
		fclose(maps);
	}
	return cores;
}

// True when the core target is the process LLDB shows: same pid, same
// threads, same pc in each.
bool same_process(mp_target *target, lldb::SBProcess &process)
{
	if (mp_target_process(target)->pid != (int64_t)process.GetProcessID())
		return false;
	if (mp_target_thread_count(target) != process.GetNumThreads())
		return false;
	int rip = mp_register_index("rip");
	for (uint32_t i = 0; i < process.GetNumThreads(); i++) {
		lldb::SBThread thread = process.GetThreadAtIndex(i);
		const mp_thread *match = nullptr;
		for (size_t k = 0; k < mp_target_thread_count(target); k++)
			if (mp_target_thread(target, k)->tid == (int64_t)thread.GetThreadID())
				match = mp_target_thread(target, k);
		if (!match || !match->has_registers)
			return false;
		if (thread.GetFrameAtIndex(0).GetPC() != match->registers.value[rip])
			return false;
	}
	return true;
}

// True unless some memory differs between the core target and what LLDB
// reads from its own core: the first page of each writable mapping and
// the top of each stack.  Two cores of one process written at different
// times have the same pid, threads and often the same pc (a server blocked
// in the same call); their data tells them apart.
bool same_memory(mp_target *target, lldb::SBProcess &process)
{
	std::vector<uint64_t> addresses;
	for (size_t i = 0; i < mp_target_mapping_count(target) && addresses.size() < 64; i++) {
		const mp_mapping *m = mp_target_mapping(target, i);
		if ((m->perms & MP_PERM_WRITE) && m->contents == MP_CONTENTS_FULL)
			addresses.push_back(m->start);
	}
	int rsp = mp_register_index("rsp");
	for (size_t k = 0; k < mp_target_thread_count(target); k++) {
		const mp_thread *t = mp_target_thread(target, k);
		if (t->has_registers)
			addresses.push_back(t->registers.value[rsp] & ~(uint64_t)4095);
	}
	std::vector<char> ours(4096), lldbs(4096);
	for (uint64_t address : addresses) {
		lldb::SBError error;
		mp_error *err = mp_target_read(target, address, ours.data(), ours.size());
		if (err) {
			mp_error_free(err);
			continue;  // a page only one side can read proves nothing
		}
		if (process.ReadMemory(address, lldbs.data(), lldbs.size(), error) != lldbs.size() ||
		    error.Fail())
			continue;
		if (ours != lldbs)
			return false;
	}
	return true;
}

// The core file of each LLDB process (SBProcess::GetUniqueID), once found:
// a process reads one core for its whole life.  Keyed by the process, not
// by the pid: two cores of one process give two LLDB processes.
std::map<uint32_t, std::string> core_of_process;
// When each core file was first seen open, counted in searches: among
// cores that all match, the one LLDB opened last is the one just loaded.
std::map<std::string, uint64_t> core_first_seen;
uint64_t core_searches;

// The core files other LLDB processes (of any target) already read.
std::set<std::string> cores_of_other_processes(lldb::SBDebugger &debugger, uint32_t self)
{
	std::set<std::string> used;
	std::set<uint32_t> alive;
	for (uint32_t i = 0; i < debugger.GetNumTargets(); i++) {
		lldb::SBProcess p = debugger.GetTargetAtIndex(i).GetProcess();
		if (p.IsValid())
			alive.insert(p.GetUniqueID());
	}
	for (auto it = core_of_process.begin(); it != core_of_process.end();) {
		if (!alive.count(it->first)) {
			it = core_of_process.erase(it);  // its target was deleted
			continue;
		}
		if (it->first != self)
			used.insert(it->second);
		++it;
	}
	return used;
}

mp_error *open_core(lldb::SBDebugger &debugger, lldb::SBProcess &process,
		    const mp_target_options *options, mp_target **out)
{
	uint32_t self = process.GetUniqueID();
	auto known = core_of_process.find(self);
	if (known != core_of_process.end()) {
		mp_target *target = nullptr;
		mp_error *err = mp_target_open_core(known->second.c_str(), options, &target);
		if (!err && same_process(target, process)) {
			*out = target;
			return nullptr;
		}
		mp_error_free(err);
		mp_target_release(target);
		core_of_process.erase(known);  // replaced on disk: look again
	}

	core_searches++;
	std::vector<std::string> matches;
	for (const std::string &path : open_core_files()) {
		core_first_seen.emplace(path, core_searches);
		mp_target *target = nullptr;
		mp_error *err = mp_target_open_core(path.c_str(), options, &target);
		if (err) {
			mp_error_free(err);
			continue;
		}
		if (same_process(target, process) && same_memory(target, process))
			matches.push_back(path);
		mp_target_release(target);
	}
	if (matches.size() > 1) {
		std::set<std::string> used = cores_of_other_processes(debugger, self);
		std::vector<std::string> free;
		for (const std::string &path : matches)
			if (!used.count(path))
				free.push_back(path);
		if (!free.empty())
			matches = free;
		std::stable_sort(matches.begin(), matches.end(),
				 [](const std::string &a, const std::string &b) {
					 return core_first_seen[a] > core_first_seen[b];
				 });
	}
	if (matches.empty())
		return nullptr;  // not found: the caller reads through LLDB
	mp_error *err = mp_target_open_core(matches.front().c_str(), options, out);
	if (!err)
		core_of_process[self] = matches.front();
	return err;
}

// ------------------------------------------------------ memory callback

mp_error *read_memory(void *context, uint64_t address, void *buffer, size_t length)
{
	auto *session = static_cast<Session *>(context);
	lldb::SBError error;
	size_t got = session->process.ReadMemory(address, buffer, length, error);
	if (error.Fail() || got != length)
		return mp_error_new(MP_ERR_FAULT, "cannot read %zu bytes at %#llx: %s", length,
				    (unsigned long long)address,
				    error.Fail() && error.GetCString() ? error.GetCString()
								       : "short read");
	return nullptr;
}

// LLDB 14's SB API has no auxiliary vector: rebuild the entries module
// discovery needs from what LLDB knows, the executable's ELF header in
// memory (AT_PHDR, AT_PHNUM, AT_PHENT) and the vDSO's (AT_SYSINFO_EHDR).
mp_error *add_auxv(mp_target *mp, lldb::SBTarget &target, lldb::SBProcess &process)
{
	std::vector<mp_auxv_entry> entries;
	lldb::SBModule exe = target.GetNumModules() ? target.GetModuleAtIndex(0) : lldb::SBModule();
	uint64_t header = exe.IsValid()
		? exe.GetObjectFileHeaderAddress().GetLoadAddress(target)
		: LLDB_INVALID_ADDRESS;
	Elf64_Ehdr ehdr;
	lldb::SBError error;
	if (header != LLDB_INVALID_ADDRESS &&
	    process.ReadMemory(header, &ehdr, sizeof(ehdr), error) == sizeof(ehdr) &&
	    std::memcmp(ehdr.e_ident, ELFMAG, SELFMAG) == 0) {
		entries.push_back({AT_PHDR, header + ehdr.e_phoff});
		entries.push_back({AT_PHENT, ehdr.e_phentsize});
		entries.push_back({AT_PHNUM, ehdr.e_phnum});
	}
	for (uint32_t i = 0; i < target.GetNumModules(); i++) {
		lldb::SBModule module = target.GetModuleAtIndex(i);
		const char *name = module.GetFileSpec().GetFilename();
		if (name && std::strcmp(name, "[vdso]") == 0) {
			uint64_t vdso = module.GetObjectFileHeaderAddress().GetLoadAddress(target);
			if (vdso != LLDB_INVALID_ADDRESS)
				entries.push_back({AT_SYSINFO_EHDR, vdso});
		}
	}
	return entries.empty() ? nullptr : mp_target_set_auxv(mp, entries.data(), entries.size());
}

mp_error *add_regions(mp_target *target, lldb::SBProcess &process)
{
	lldb::SBMemoryRegionInfoList regions = process.GetMemoryRegions();
	size_t added = 0;
	for (uint32_t i = 0; i < regions.GetSize(); i++) {
		lldb::SBMemoryRegionInfo region;
		if (!regions.GetMemoryRegionAtIndex(i, region) || !region.IsMapped())
			continue;
		mp_mapping m = {};
		m.start = region.GetRegionBase();
		m.end = region.GetRegionEnd();
		if (m.end <= m.start)
			continue;
		m.perms = (region.IsReadable() ? MP_PERM_READ : 0) |
			  (region.IsWritable() ? MP_PERM_WRITE : 0) |
			  (region.IsExecutable() ? MP_PERM_EXEC : 0);
		m.path = region.GetName() ? region.GetName() : "";
		m.contents = region.IsReadable() ? MP_CONTENTS_FULL : MP_CONTENTS_NONE;
		mp_error *err = mp_target_add_mapping(target, &m);
		if (err)
			return err;
		added++;
	}
	if (!added)
		return mp_error_new(MP_ERR_NOT_FOUND,
				    "lldb reports no memory regions for this process");
	return nullptr;
}

// ------------------------------------------------------------- targets

bool on_host_platform(lldb::SBTarget &target)
{
	lldb::SBPlatform platform = target.GetPlatform();
	const char *name = platform.IsValid() ? platform.GetName() : nullptr;
	return name && std::strcmp(name, "host") == 0;
}

// What the kernel says of a process LLDB shows as stopped.  LLDB handles
// process events on a thread of its own: right after `process detach` or
// `process kill` in a command file, its state can still read "stopped".
// The engine reads a live process it is told is stopped without freezing
// it, so the claim is checked first: a process LLDB holds is traced and
// each of its threads is in a tracing stop.
enum class KernelView { stopped, running, detached, gone };

KernelView kernel_view(pid_t pid)
{
	char path[64];
	std::snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *status = std::fopen(path, "re");
	if (!status)
		return KernelView::gone;
	char line[256];
	bool zombie = false, traced = false;
	while (std::fgets(line, sizeof(line), status)) {
		if (std::strncmp(line, "State:", 6) == 0)
			zombie = std::strpbrk(line + 6, "ZX") != nullptr;
		else if (std::strncmp(line, "TracerPid:", 10) == 0)
			traced = std::strtol(line + 10, nullptr, 10) != 0;
	}
	std::fclose(status);
	if (zombie)
		return KernelView::gone;
	if (!traced)
		return KernelView::detached;
	std::snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *tasks = opendir(path);
	if (!tasks)
		return KernelView::gone;
	KernelView view = KernelView::stopped;
	while (struct dirent *entry = readdir(tasks)) {
		if (entry->d_name[0] == '.')
			continue;
		std::string stat_path = std::string(path) + "/" + entry->d_name + "/stat";
		FILE *stat = std::fopen(stat_path.c_str(), "re");
		if (!stat)
			continue;  // a thread that just exited
		char text[512];
		size_t n = std::fread(text, 1, sizeof(text) - 1, stat);
		std::fclose(stat);
		text[n] = '\0';
		// "tid (comm) S ...": comm may hold spaces and parentheses.
		const char *end = std::strrchr(text, ')');
		if (end && end[1] == ' ' && end[2] != 't')
			view = KernelView::running;
	}
	closedir(tasks);
	return view;
}

mp_error *check_stopped(pid_t pid)
{
	switch (kernel_view(pid)) {
	case KernelView::stopped:
		return nullptr;
	case KernelView::running:
		return mp_error_new(MP_ERR_USAGE, "the process is running: interrupt it first "
				    "(process interrupt)");
	case KernelView::detached:
		return mp_error_new(MP_ERR_NOT_FOUND, "no process: lldb detached from pid %d "
				    "(process attach --pid %d looks again)", (int)pid, (int)pid);
	case KernelView::gone:
		break;
	}
	return mp_error_new(MP_ERR_NOT_FOUND, "the process has exited: nothing to inspect");
}

mp_error *open_live(Session *session, const mp_target_options *options, mp_target **out)
{
	mp_target *target = nullptr;
	mp_error *err = mp_target_attach_pid((pid_t)session->process.GetProcessID(), options,
					     MP_PID_ALREADY_STOPPED, &target);
	if (!err)
		err = add_threads(target, session->process);
	if (!err)
		err = mp_target_finish(target);
	if (err) {
		mp_target_release(target);
		return err;
	}
	*out = target;
	return nullptr;
}

mp_error *open_through_lldb(Session *session, const mp_target_options *options,
			    mp_target **out)
{
	mp_target *target = nullptr;
	mp_error *err = mp_target_open_callback(read_memory, session, options, &target);
	if (!err)
		err = add_regions(target, session->process);
	if (!err) {
		lldb::SBTarget debugged = session->process.GetTarget();
		err = add_auxv(target, debugged, session->process);
	}
	if (!err)
		err = add_threads(target, session->process);
	if (!err)
		err = mp_target_finish(target);
	if (err) {
		mp_target_release(target);
		return err;
	}
	*out = target;
	return nullptr;
}

// ------------------------------------------------------ frame variables

constexpr uint32_t kMaxFrames = 64;
constexpr size_t kMaxFrameVariables = 10000;

bool is_record(lldb::SBType type)
{
	uint32_t kind = type.GetCanonicalType().GetTypeClass();
	return kind & (lldb::eTypeClassStruct | lldb::eTypeClassClass | lldb::eTypeClassUnion);
}

// Hands the target the pointers and references to records, and the records
// in memory, of the newest frames of every thread: typed roots that name
// heap blocks (leak groups).
mp_error *add_frame_variables(mp_target *target, lldb::SBProcess &process)
{
	size_t added = 0;
	for (uint32_t i = 0; i < process.GetNumThreads(); i++) {
		lldb::SBThread thread = process.GetThreadAtIndex(i);
		if (!thread.IsValid())
			continue;
		uint32_t frames = std::min(thread.GetNumFrames(), kMaxFrames);
		for (uint32_t f = 0; f < frames && added < kMaxFrameVariables; f++) {
			lldb::SBFrame frame = thread.GetFrameAtIndex(f);
			lldb::SBValueList values = frame.GetVariables(true, true, false, true);
			for (uint32_t v = 0; v < values.GetSize() && added < kMaxFrameVariables; v++) {
				lldb::SBValue value = values.GetValueAtIndex(v);
				lldb::SBType type = value.GetType().GetCanonicalType();
				mp_frame_variable variable = {};
				if (type.IsPointerType() || type.IsReferenceType()) {
					if (!is_record(type.GetPointeeType()))
						continue;
					lldb::SBError error;
					variable.value = type.IsReferenceType()
						? value.Dereference().GetLoadAddress()
						: value.GetValueAsUnsigned(error, 0);
					if (error.Fail() || variable.value == LLDB_INVALID_ADDRESS)
						continue;
				} else if (is_record(type)) {
					variable.address = value.GetLoadAddress();
					if (variable.address == LLDB_INVALID_ADDRESS)
						continue;
				} else {
					continue;
				}
				const char *name = value.GetName();
				const char *spelling = type.GetName();
				if (!name || !spelling)
					continue;
				variable.name = name;
				variable.type = spelling;
				variable.tid = (int64_t)thread.GetThreadID();
				variable.frame = f;
				if (mp_error *err = mp_target_add_frame_variable(target, &variable))
					return err;
				added++;
			}
		}
	}
	return nullptr;
}

mp_error *open_target_of(Session *session, const mp_target_options *options, mp_target **out);

mp_error *open_target(void *context, const mp_target_options *options, mp_target **out)
{
	auto *session = static_cast<Session *>(context);
	mp_error *err = open_target_of(session, options, out);
	if (err || !*out || !session->verb || std::strcmp(session->verb, "leaks") != 0)
		return err;
	err = add_frame_variables(*out, session->process);
	if (err) {
		mp_target_release(*out);
		*out = nullptr;
	}
	return err;
}

mp_error *open_target_of(Session *session, const mp_target_options *options, mp_target **out)
{
	lldb::SBTarget target = session->debugger.GetSelectedTarget();
	session->process = target.IsValid() ? target.GetProcess() : lldb::SBProcess();
	lldb::SBProcess &process = session->process;
	if (!process.IsValid())
		return mp_error_new(MP_ERR_NOT_FOUND,
				    "no process: launch or attach to the program, or load a core "
				    "(target create --core FILE); or give --core FILE / --pid PID");
	lldb::StateType state = process.GetState();
	if (state == lldb::eStateRunning || state == lldb::eStateStepping ||
	    state == lldb::eStateLaunching || state == lldb::eStateAttaching)
		return mp_error_new(MP_ERR_USAGE, "the process is running: interrupt it first "
				    "(process interrupt)");
	if (state == lldb::eStateDetached)
		return mp_error_new(MP_ERR_NOT_FOUND, "no process: lldb detached from pid %d "
				    "(process attach --pid %d looks again)",
				    (int)process.GetProcessID(), (int)process.GetProcessID());
	if (state == lldb::eStateExited || state == lldb::eStateUnloaded ||
	    state == lldb::eStateInvalid)
		return mp_error_new(MP_ERR_NOT_FOUND, "the process has exited: nothing to inspect");
	const char *plugin = process.GetPluginName();
	bool core = plugin && std::strcmp(plugin, "elf-core") == 0;
	bool host_process = !core && on_host_platform(target) &&
			    process.GetProcessID() != LLDB_INVALID_PROCESS_ID;
	if (host_process) {
		if (mp_error *err = check_stopped((pid_t)process.GetProcessID()))
			return err;
	}

	// Unless --exe says otherwise, the executable is the one LLDB loaded.
	mp_target_options opts = *options;
	char exe[PATH_MAX];
	lldb::SBFileSpec exe_spec = target.GetExecutable();
	if (!opts.exe_path && exe_spec.IsValid() && exe_spec.GetPath(exe, sizeof(exe)) > 0 &&
	    access(exe, R_OK) == 0)
		opts.exe_path = exe;

	// Diagnostics and tests: MEMPROF_LLDB_READ_THROUGH_LLDB=1 forces the path
	// remote targets take (memory, regions and registers from LLDB).
	const char *force = getenv("MEMPROF_LLDB_READ_THROUGH_LLDB");
	if (force && std::strcmp(force, "1") == 0)
		return open_through_lldb(session, &opts, out);

	if (core) {
		mp_error *err = open_core(session->debugger, process, &opts, out);
		if (err || *out)
			return err;
		return open_through_lldb(session, &opts, out);
	}
	if (host_process) {
		mp_error *err = open_live(session, &opts, out);
		if (!err)
			return nullptr;
		// /proc refused (another user, ptrace scope): read through LLDB.
		if (mp_error_code(err) != MP_ERR_PERMISSION && mp_error_code(err) != MP_ERR_FAULT)
			return err;
		mp_error_free(err);
	}
	return open_through_lldb(session, &opts, out);
}

// ------------------------------------------------------------ commands

// Each debugger's session hints (`memprof hint ...`), applied to every
// later command through mp_host.hints; kept as long as the plug-in.
std::map<lldb::user_id_t, mp_hints *> &session_hints()
{
	static std::map<lldb::user_id_t, mp_hints *> hints;
	return hints;
}

bool run_command(lldb::SBDebugger debugger, std::vector<const char *> argv,
		 lldb::SBCommandReturnObject &result)
{
	Session session{debugger, lldb::SBProcess(), argv.empty() ? nullptr : argv[0]};
	mp_host host = {};
	host.name = "lldb";
	host.interrupted = interrupted;
	host.context = &session;
	host.open_target = open_target;
	host.progress = progress;
	FILE *error_file = debugger.GetErrorFileHandle();
	host.progress_interactive = error_file && isatty(fileno(error_file));
	auto hints = session_hints().find(debugger.GetID());
	host.hints = hints == session_hints().end() ? nullptr : hints->second;

	MemoryStream out, err;
	if (!out.file() || !err.file()) {
		result.SetError("memprof: out of memory");
		return false;
	}
	std::vector<char *> args;
	for (const char *a : argv)
		args.push_back(const_cast<char *>(a));
	args.push_back(nullptr);
	int status = mp_command_run((int)argv.size(), args.data(), &host, out.file(), err.file());

	std::string output = out.text();
	if (!output.empty())
		result.Printf("%s", output.c_str());
	std::vector<std::string> lines;
	std::string messages = err.text();
	for (size_t at = 0; at < messages.size();) {
		size_t end = messages.find('\n', at);
		if (end == std::string::npos)
			end = messages.size();
		if (end > at)
			lines.push_back(messages.substr(at, end - at));
		at = end + 1;
	}
	if (status != MP_EXIT_OK) {
		for (size_t i = 0; i + 1 < lines.size(); i++)
			result.AppendWarning(lines[i].c_str());
		// A check that failed (status 3) may say nothing: say what GDB says.
		std::string status_line = "memprof: exit status " + std::to_string(status);
		result.SetError(lines.empty() ? status_line.c_str() : lines.back().c_str());
		result.SetStatus(lldb::eReturnStatusFailed);
		return false;
	}
	for (const std::string &line : lines)
		result.AppendWarning(line.c_str());
	result.SetStatus(output.empty() ? lldb::eReturnStatusSuccessFinishNoResult
					: lldb::eReturnStatusSuccessFinishResult);
	return true;
}

// ------------------------------------------------------- logical ROOT
// ROOT of `memprof logical` is any expression LLDB evaluates in the selected
// frame: LLDB evaluates it, its address and type name go to the engine as
// ADDRESS:TYPE.  A global chain the engine parses itself
// (`registry.items[3]`) and the engine's own forms (MODULE:VARIABLE,
// ADDRESS:TYPE) go unchanged, so LLDB and the CLI agree (as in GDB,
// gdb/memprof/_gdb.py).

const char *const kLogicalValued[] = {
	"--core", "--exe", "--sysroot", "--pid", "--format", "--output", "--debug-dir",
	"--metric", "--max-objects", "--max-depth", "--top", "--name", "--member",
};

bool is_valued(const std::string &word)
{
	for (const char *v : kLogicalValued)
		if (word == v)
			return true;
	return false;
}

bool has_single_colon(const std::string &text)
{
	for (size_t i = 0; i < text.size(); i++) {
		if (text[i] != ':')
			continue;
		if (i + 1 < text.size() && text[i + 1] == ':') {
			i++;
			continue;
		}
		return true;
	}
	return false;
}

// A local or argument of the selected frame hides a global of that name.
bool is_frame_variable(lldb::SBFrame &frame, const std::string &name)
{
	if (!frame.IsValid())
		return false;
	lldb::SBValueList values = frame.GetVariables(true, true, false, true);
	for (uint32_t i = 0; i < values.GetSize(); i++) {
		const char *n = values.GetValueAtIndex(i).GetName();
		if (n && name == n)
			return true;
	}
	return false;
}

// A variable path: the selected frame's (locals, arguments and what is
// in scope there), else one that starts at a global of any module (a core
// or a stopped process is often in a libc frame, where the program's
// globals are out of scope).
lldb::SBValue variable_path(lldb::SBDebugger &debugger, lldb::SBFrame &frame, const std::string &text)
{
	if (frame.IsValid()) {
		lldb::SBValue v = frame.GetValueForVariablePath(text.c_str());
		if (v.IsValid() && v.GetError().Success())
			return v;
	}
	static const std::regex head(R"(([A-Za-z_][\w:]*)(.*))");
	std::smatch m;
	if (!std::regex_match(text, m, head))
		return lldb::SBValue();
	lldb::SBValue global = debugger.GetSelectedTarget().FindFirstGlobalVariable(m.str(1).c_str());
	if (!global.IsValid() || m.str(2).empty())
		return global;
	return global.GetValueForExpressionPath(m.str(2).c_str());
}

// The value of a cast's operand: $register, a number, or a variable path.
bool operand_value(lldb::SBDebugger &debugger, lldb::SBFrame &frame, const std::string &text,
		   uint64_t *value)
{
	lldb::SBError error;
	if (text.size() > 1 && text[0] == '$') {
		if (!frame.IsValid())
			return false;
		lldb::SBValue reg = frame.FindRegister(text.c_str() + 1);
		*value = reg.GetValueAsUnsigned(error, 0);
		return reg.IsValid() && error.Success();
	}
	char *end = nullptr;
	errno = 0;
	unsigned long long number = std::strtoull(text.c_str(), &end, 0);
	if (!text.empty() && *end == '\0' && errno == 0) {
		*value = number;
		return true;
	}
	lldb::SBValue v = variable_path(debugger, frame, text);
	*value = v.GetValueAsUnsigned(error, 0);
	return v.IsValid() && v.GetError().Success() && error.Success();
}

// Variable paths (`a.b->c[3]`, `*this`, `&x`) and casts of a register, a number
// or a variable path to a struct pointer (`(struct job *)$rdi`), read
// without LLDB's expression evaluator: to run one, LLDB allocates memory in
// the process (a page it maps there), and memprof never writes to the
// process it inspects.  Anything else is not evaluated here.
// *in_memory: the value lives where its load address says.
lldb::SBValue evaluate(lldb::SBDebugger &debugger, lldb::SBFrame &frame, const std::string &text,
		       bool *in_memory)
{
	*in_memory = false;
	lldb::SBValue v = variable_path(debugger, frame, text);
	if (v.IsValid() && v.GetError().Success()) {
		*in_memory = true;
		return v;
	}
	// &PATH: the address of what the path names.
	if (text.size() > 1 && text[0] == '&') {
		v = variable_path(debugger, frame, text.substr(1));
		if (v.IsValid() && v.GetError().Success())
			return v.AddressOf();
	}
	static const std::regex cast(R"(\s*\(\s*(?:(?:struct|class|union)\s+)?([A-Za-z_][\w:<>, ]*?)\s*\*\s*\)\s*(\S+)\s*)");
	std::smatch m;
	uint64_t address;
	lldb::SBTarget target = debugger.GetSelectedTarget();
	if (!std::regex_match(text, m, cast) || !operand_value(debugger, frame, m.str(2), &address))
		return lldb::SBValue();
	lldb::SBType type = target.FindFirstType(m.str(1).c_str());
	if (!type.IsValid())
		return lldb::SBValue();
	*in_memory = true;
	return target.CreateValueFromAddress(text.c_str(), lldb::SBAddress(address, target), type);
}

// The struct value is or points to: its address and type name.
bool record_address(lldb::SBValue value, uint64_t *address, std::string *type)
{
	lldb::SBType t = value.GetType().GetCanonicalType();
	if (t.IsPointerType() && is_record(t.GetPointeeType())) {
		lldb::SBError error;
		*address = value.GetValueAsUnsigned(error, 0);
		const char *name = value.GetType().GetPointeeType().GetName();
		*type = name ? name : "";
		return error.Success();
	}
	if (t.IsReferenceType()) {
		value = value.Dereference();
		t = value.GetType().GetCanonicalType();
	}
	if (!is_record(t))
		return false;
	*address = value.GetLoadAddress();
	const char *name = value.GetType().GetName();
	*type = name ? name : "";
	return *address != LLDB_INVALID_ADDRESS;
}

std::string engine_root(uint64_t address, const std::string &type)
{
	char text[32];
	std::snprintf(text, sizeof(text), "%#llx:", (unsigned long long)address);
	return text + type;
}

// argv of `logical` with ROOT made an engine ROOT; false and *error when
// the expression has no address.
bool logical_argv(lldb::SBDebugger &debugger, std::vector<std::string> &argv, std::string *error)
{
	std::vector<std::string> options, words;
	for (size_t i = 1; i < argv.size(); i++) {
		const std::string &w = argv[i];
		if (w == "--") {
			words.insert(words.end(), argv.begin() + (long)i + 1, argv.end());
			break;
		}
		if (w.compare(0, 2, "--") == 0 || w == "-h") {
			options.push_back(w);
			if (is_valued(w) && i + 1 < argv.size())
				options.push_back(argv[++i]);
		} else {
			words.push_back(w);
		}
	}
	// Words of one expression typed without quotes: `(struct instance *) $rdi`.
	std::string root;
	for (const std::string &w : words)
		root += (root.empty() ? "" : " ") + w;
	bool other_target = false, named = false;
	for (const std::string &o : options) {
		std::string name = o.substr(0, o.find('='));
		other_target |= name == "--core" || name == "--pid";
		named |= name == "--name";
	}
	std::vector<std::string> out{argv[0]};
	auto finish = [&](const std::string &r, const std::vector<std::string> &extra) {
		out.push_back(r);
		out.insert(out.end(), extra.begin(), extra.end());
		out.insert(out.end(), options.begin(), options.end());
		argv = out;
		return true;
	};
	// Whatever LLDB does not evaluate goes to the engine exactly as typed,
	// so a malformed line gets the CLI's own answer.
	if (root.empty() || other_target || has_single_colon(root))
		return true;
	lldb::SBFrame frame = debugger.GetSelectedTarget().GetProcess().GetSelectedThread().GetSelectedFrame();
	static const std::regex chain(R"([A-Za-z_][\w:]*((\.|->)[A-Za-z_]\w*|\[(\d+|0[xX][0-9a-fA-F]+)\])*)");
	static const std::regex head(R"([A-Za-z_][\w:]*)");
	std::smatch m;
	if (std::regex_match(root, chain) && std::regex_search(root, m, head) &&
	    !is_frame_variable(frame, m.str(0)))
		return true;
	std::vector<std::string> extra;
	if (!named)
		extra = {"--name", root};
	// A pointer member keeps the length its struct gives it: the struct
	// goes over with --member (the engine's rule for chains).
	static const std::regex last(R"((.+?)(\.|->)([A-Za-z_]\w*))");
	uint64_t address;
	std::string type;
	if (std::regex_match(root, m, last)) {
		bool in_memory;
		lldb::SBValue parent = evaluate(debugger, frame, m.str(1), &in_memory);
		if (parent.IsValid() && parent.GetError().Success() &&
		    record_address(parent, &address, &type)) {
			lldb::SBValue record = parent.GetType().GetCanonicalType().IsPointerType()
						       ? parent.Dereference() : parent;
			lldb::SBValue field = record.GetChildMemberWithName(m.str(3).c_str());
			if (field.IsValid() && field.GetType().GetCanonicalType().IsPointerType()) {
				extra.insert(extra.begin(), {"--member", m.str(3)});
				return finish(engine_root(address, type), extra);
			}
		}
	}
	bool in_memory;
	lldb::SBValue value = evaluate(debugger, frame, root, &in_memory);
	if ((!value.IsValid() || value.GetError().Fail()) && root.find('$') != std::string::npos) {
		*error = "memprof: " + root + " has no address (a register or a computed "
			 "value): give a pointer, e.g. (struct instance *)$rdi";
		return false;
	}
	if (!value.IsValid() || value.GetError().Fail())
		return true;   // the engine looks it up and says what failed
	if (!record_address(value, &address, &type)) {
		address = in_memory ? value.GetLoadAddress() : LLDB_INVALID_ADDRESS;
		const char *name = value.GetType().GetName();
		type = name ? name : "";
		// A number or a name LLDB reads as a value: the engine's own
		// lookup answers it, as the CLI's does.
		if (address == LLDB_INVALID_ADDRESS && root.find('$') == std::string::npos)
			return true;
		if (address == LLDB_INVALID_ADDRESS) {
			*error = "memprof: " + root + " has no address (a register or a computed "
				 "value): give a pointer, e.g. (struct instance *)$rdi";
			return false;
		}
	}
	if (value.GetType().GetCanonicalType().IsPointerType() && address == 0) {
		*error = "memprof: " + root + " is NULL";
		return false;
	}
	return finish(engine_root(address, type), extra);
}

class VerbCommand : public lldb::SBCommandPluginInterface {
public:
	explicit VerbCommand(const char *verb) : verb_(verb) {}
	bool DoExecute(lldb::SBDebugger debugger, char **command,
		       lldb::SBCommandReturnObject &result) override
	{
		std::vector<std::string> words{verb_};
		for (char **arg = command; arg && *arg; arg++)
			words.push_back(*arg);
		if (verb_ == "logical") {
			std::string error;
			if (!logical_argv(debugger, words, &error)) {
				result.SetError(error.c_str());
				result.SetStatus(lldb::eReturnStatusFailed);
				return false;
			}
		}
		std::vector<const char *> argv;
		for (const std::string &w : words)
			argv.push_back(w.c_str());
		return run_command(debugger, argv, result);
	}

private:
	std::string verb_;
};

// `memprof hint [TYPE] MEMBER HINT...`: one line of the hints file format
// (docs/logical.md, Hints) kept for the session; `--clear` forgets them.
class HintCommand : public lldb::SBCommandPluginInterface {
public:
	bool DoExecute(lldb::SBDebugger debugger, char **command,
		       lldb::SBCommandReturnObject &result) override
	{
		std::string text;
		for (char **arg = command; arg && *arg; arg++)
			text += (text.empty() ? "" : " ") + std::string(*arg);
		mp_hints *&hints = session_hints()[debugger.GetID()];
		if (text == "--clear") {
			mp_hints_free(hints);
			hints = nullptr;
			result.SetStatus(lldb::eReturnStatusSuccessFinishNoResult);
			return true;
		}
		mp_error *err = text.empty() ? mp_error_new(MP_ERR_USAGE, "hint: expected [TYPE] "
							     "MEMBER HINT... (help memprof hint)")
					     : nullptr;
		if (!err && !hints)
			err = mp_hints_new(&hints);
		if (!err)
			err = mp_hints_add_text(hints, text.c_str(), "lldb");
		if (err) {
			result.SetError((std::string("memprof: ") + mp_error_message(err)).c_str());
			result.SetStatus(lldb::eReturnStatusFailed);
			mp_error_free(err);
			return false;
		}
		result.Printf("memprof: %zu member(s) hinted\n", mp_hints_count(hints));
		result.SetStatus(lldb::eReturnStatusSuccessFinishResult);
		return true;
	}
};

// `memprof version`: what `memprof --version` prints.
class VersionCommand : public lldb::SBCommandPluginInterface {
public:
	bool DoExecute(lldb::SBDebugger debugger, char **,
		       lldb::SBCommandReturnObject &result) override
	{
		return run_command(debugger, {"--version"}, result);
	}
};

std::string verb_help(const char *verb)
{
	MemoryStream out, err;
	const char *argv[] = {"help", verb, nullptr};
	mp_command_run(2, const_cast<char **>(argv), nullptr, out.file(), err.file());
	return out.text();
}

}  // namespace

namespace lldb {
__attribute__((visibility("default"))) bool PluginInitialize(SBDebugger debugger);
}

bool lldb::PluginInitialize(lldb::SBDebugger debugger)
{
	lldb::SBCommandInterpreter interpreter = debugger.GetCommandInterpreter();
	lldb::SBCommand memprof = interpreter.AddMultiwordCommand(
		"memprof",
		"Inspect the memory of the program being debugged with memprof: "
		"memprof VERB [options] [args]. LLDB supplies the target (live process "
		"or core); --core FILE or --pid PID inspect another one. Options and "
		"output are those of the memprof command line.");
	if (!memprof.IsValid())
		return false;
	for (size_t i = 0; i < mp_command_verb_count(); i++) {
		const char *verb = mp_command_verb_name(i);
		std::string help = mp_command_verb_summary(i);
		std::string syntax = verb_help(verb);
		// LLDB keeps the strings; the command objects live as long as the
		// debugger (plug-ins are never unloaded).
		memprof.AddCommand(verb, new VerbCommand(verb), help.c_str(), syntax.c_str());
	}
	memprof.AddCommand("hint", new HintCommand(),
			   "Add hints for what DWARF cannot say, kept for the session "
			   "(docs/logical.md, Hints).",
			   "memprof hint [TYPE] MEMBER HINT...  |  memprof hint --clear");
	bool version_is_a_verb = false;
	for (size_t i = 0; i < mp_command_verb_count(); i++)
		version_is_a_verb |= std::strcmp(mp_command_verb_name(i), "version") == 0;
	if (!version_is_a_verb)
		memprof.AddCommand("version", new VersionCommand(), "Print memprof's version.",
				   "memprof version");
	return true;
}
