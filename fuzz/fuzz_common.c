#include "fuzz_common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef MEMPROF_FUZZ_DATA_DEFAULT
#define MEMPROF_FUZZ_DATA_DEFAULT "fuzz-data"
#endif

static char scratch[4096];
static volatile uint64_t sink;

static void remove_scratch(void)
{
	/* Only the files the harness wrote live there: one level, no recursion. */
	DIR *dir = opendir(scratch);
	if (dir) {
		struct dirent *entry;
		while ((entry = readdir(dir)) != NULL) {
			if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
				continue;
			char path[sizeof(scratch) + 256];
			snprintf(path, sizeof(path), "%s/%s", scratch, entry->d_name);
			unlink(path);
		}
		closedir(dir);
	}
	rmdir(scratch);
}

const char *fuzz_scratch_dir(void)
{
	if (scratch[0])
		return scratch;
	const char *tmp = getenv("TMPDIR");
	snprintf(scratch, sizeof(scratch), "%s/memprof-fuzz-XXXXXX",
		 tmp && tmp[0] ? tmp : "/tmp");
	if (!mkdtemp(scratch)) {
		fprintf(stderr, "fuzz: cannot create a scratch folder %s: %s\n",
			scratch, strerror(errno));
		abort();
	}
	atexit(remove_scratch);
	return scratch;
}

const char *fuzz_write_file(const char *name, const void *data, size_t size)
{
	static char path[sizeof(scratch) + 256];
	snprintf(path, sizeof(path), "%s/%s", fuzz_scratch_dir(), name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "fuzz: cannot write %s: %s\n", path, strerror(errno));
		abort();
	}
	const uint8_t *bytes = data;
	while (size) {
		ssize_t n = write(fd, bytes, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "fuzz: cannot write %s: %s\n", path, strerror(errno));
			abort();
		}
		bytes += n;
		size -= (size_t)n;
	}
	close(fd);
	return path;
}

const char *fuzz_data_dir(void)
{
	const char *dir = getenv("MEMPROF_FUZZ_DATA");
	return dir && dir[0] ? dir : MEMPROF_FUZZ_DATA_DEFAULT;
}

void fuzz_use_bytes(const void *data, size_t size)
{
	const uint8_t *bytes = data;
	uint64_t h = sink;
	for (size_t i = 0; i < size; i++)
		h = h * 31 + bytes[i];
	sink = h;
}

void fuzz_use_string(const char *s)
{
	if (s)
		fuzz_use_bytes(s, strlen(s));
}

void fuzz_use_details(const mp_heap *h)
{
	for (size_t i = 0; i < mp_heap_detail_count(h); i++) {
		mp_heap_detail d = mp_heap_detail_at(h, i);
		fuzz_use_string(d.group);
		fuzz_use_string(d.name);
		fuzz_use_bytes(&d.value, sizeof(d.value));
		fuzz_use_bytes(&d.arena, sizeof(d.arena));
	}
}

bool fuzz_verbose(void)
{
	static int verbose = -1;
	if (verbose < 0) {
		const char *v = getenv("MEMPROF_FUZZ_VERBOSE");
		verbose = v && v[0] && strcmp(v, "0") != 0;
	}
	return verbose;
}

void fuzz_drop_error(mp_error *err)
{
	if (!err)
		return;
	fuzz_use_string(mp_error_message(err));
	if (fuzz_verbose())
		fprintf(stderr, "fuzz: error: %s\n", mp_error_message(err));
	mp_error_free(err);
}

FILE *fuzz_null_stream(void)
{
	static FILE *null_stream;
	if (!null_stream) {
		null_stream = fopen("/dev/null", "w");
		if (!null_stream) {
			perror("fuzz: /dev/null");
			abort();
		}
	}
	return null_stream;
}
