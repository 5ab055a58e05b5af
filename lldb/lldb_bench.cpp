// lldb-bench PLUGIN EXE CORE N COMMAND: loads the memprof plug-in and a core
// into an LLDB debugger through the SB API, runs COMMAND once to warm up,
// then N times, and prints the mean and standard deviation of one run in
// seconds.  What bench/debugger_bench.py uses to time the LLDB path without
// LLDB's start-up.
#include <lldb/API/LLDB.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

static double now()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		std::fprintf(stderr, "usage: lldb-bench PLUGIN EXE CORE N COMMAND\n");
		return 2;
	}
	int n = std::atoi(argv[4]);
	lldb::SBDebugger::Initialize();
	lldb::SBDebugger debugger = lldb::SBDebugger::Create(false);
	debugger.SetAsync(false);
	lldb::SBCommandInterpreter interpreter = debugger.GetCommandInterpreter();
	lldb::SBCommandReturnObject result;
	std::string load = std::string("plugin load ") + argv[1];
	interpreter.HandleCommand(load.c_str(), result);
	if (!result.Succeeded()) {
		std::fprintf(stderr, "lldb-bench: %s", result.GetError());
		return 1;
	}
	lldb::SBError error;
	lldb::SBTarget target = debugger.CreateTarget(argv[2], nullptr, nullptr, false, error);
	lldb::SBProcess process = target.IsValid() ? target.LoadCore(argv[3], error)
						   : lldb::SBProcess();
	if (!process.IsValid()) {
		std::fprintf(stderr, "lldb-bench: cannot load %s with %s\n", argv[3], argv[2]);
		return 1;
	}
	result.Clear();
	interpreter.HandleCommand(argv[5], result);
	if (!result.Succeeded()) {
		std::fprintf(stderr, "lldb-bench: %s", result.GetError());
		return 1;
	}
	std::vector<double> times;
	for (int i = 0; i < n; i++) {
		result.Clear();
		double start = now();
		interpreter.HandleCommand(argv[5], result);
		times.push_back(now() - start);
	}
	double mean = 0, var = 0;
	for (double t : times)
		mean += t / n;
	for (double t : times)
		var += (t - mean) * (t - mean) / (n > 1 ? n - 1 : 1);
	std::printf("%.9f %.9f\n", mean, std::sqrt(var));
	lldb::SBDebugger::Destroy(debugger);
	lldb::SBDebugger::Terminate();
	return 0;
}
