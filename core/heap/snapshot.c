/* Heap snapshot files: what `memprof snapshot save` writes and `diff`
 * reads.  Little-endian x86-64 only, like the targets memprof reads.
 *
 *   magic "MPSNAP\0\0", u32 format version, u32 flags (1 partial, 2 peak),
 *   i64 timestamp, u64 chunk, arena and problem counts, mallinfo (10 u64),
 *   u64 max_mmapped_mem, u64 max_n_mmaps, strings (u32 length + bytes):
 *   backend, located_by, target description; arenas (6 u64 + u64 flags +
 *   u64 heaps); problems (u64 address + 2 strings); region arenas (u64
 *   count, then u64 start + i64 arena each); chunks (u64 address, u64
 *   size << 4 | state; versions 1 and 2: size | state, sizes being glibc's
 *   multiples of 16); since version 2, sections (u32 count, then u32 tag +
 *   u64 size + bytes each: what analyses saved beside the heap, opaque
 *   here, and this file's own: allocator, layout, detail); u32 CRC-32 of
 *   everything before it.
 *
 * Version 1 and 2 files are still read (glibc heaps all); a newer version
 * is refused with a message that names it.
 *
 * Loading checks the magic, the version, every length against the file
 * size and the CRC, so a truncated or damaged snapshot is an error naming
 * the file, never a crash or a silently wrong table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byte_reader.h"
#include "elf/elf_file.h"
#include "error.h"
#include "heap_internal.h"

static const char MAGIC[8] = "MPSNAP\0";
enum { FORMAT_VERSION = 3, FLAG_PARTIAL = 1, FLAG_PEAK = 2 };

typedef struct writer {
	FILE *f;
	uint32_t crc;
	bool failed;
} writer;

static void put(writer *w, const void *data, size_t size)
{
	if (w->failed)
		return;
	if (fwrite(data, 1, size, w->f) != size)
		w->failed = true;
	w->crc = mp_crc32(w->crc, data, size);
}

static void put_u32(writer *w, uint32_t v) { put(w, &v, 4); }
static void put_u64(writer *w, uint64_t v) { put(w, &v, 8); }

static void put_string(writer *w, const char *s)
{
	size_t length = s ? strlen(s) : 0;
	put_u32(w, (uint32_t)length);
	put(w, s ? s : "", length);
}

mp_error *mp_heap_save(const mp_heap *h, const char *path)
{
	return heap_save_with(h, path, NULL, 0);
}

mp_error *heap_save_with(const mp_heap *h, const char *path, const heap_section *sections,
			 size_t n_sections)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return mp_error_errno(errno, "cannot write snapshot %s", path);
	writer w = {f, 0, false};
	put(&w, MAGIC, sizeof(MAGIC));
	put_u32(&w, FORMAT_VERSION);
	put_u32(&w, (h->partial ? FLAG_PARTIAL : 0) | (h->have_peak ? FLAG_PEAK : 0));
	put_u64(&w, (uint64_t)h->timestamp);
	put_u64(&w, h->n_chunks);
	put_u64(&w, h->n_arenas);
	put_u64(&w, h->n_problems);
	put(&w, &h->mallinfo, sizeof(h->mallinfo));
	put_u64(&w, h->max_mmapped_mem);
	put_u64(&w, h->max_n_mmaps);
	put_string(&w, h->backend);
	put_string(&w, h->located_by);
	put_string(&w, h->target_description);
	for (size_t i = 0; i < h->n_arenas; i++) {
		const heap_arena *a = &h->arenas[i];
		uint64_t fields[8] = {a->address, a->system_mem, a->max_system_mem,
				      a->top_address, a->top_size, 0, a->is_main,
				      a->n_heaps};
		put(&w, fields, sizeof(fields));
	}
	for (size_t i = 0; i < h->n_problems; i++) {
		put_u64(&w, h->problems[i].address);
		put_string(&w, h->problems[i].where);
		put_string(&w, h->problems[i].message);
	}
	put_u64(&w, h->n_regions);
	for (size_t i = 0; i < h->n_regions; i++) {
		put_u64(&w, h->regions[i].start);
		put_u64(&w, (uint64_t)(int64_t)h->regions[i].arena);
	}
	put(&w, h->chunks, h->n_chunks * sizeof(*h->chunks));
	put_u32(&w, (uint32_t)n_sections + 3);
	for (size_t i = 0; i < n_sections; i++) {
		put_u32(&w, sections[i].tag);
		put_u64(&w, sections[i].size);
		put(&w, sections[i].data, sections[i].size);
	}
	const char *module = h->allocator_module ? h->allocator_module : "";
	size_t version_size = strlen(h->allocator_version) + 1, module_size = strlen(module) + 1;
	put_u32(&w, HEAP_SECTION_ALLOCATOR);
	put_u64(&w, 4 + version_size + module_size);
	put_u32(&w, (uint32_t)h->allocator_kind);
	put(&w, h->allocator_version, version_size);
	put(&w, module, module_size);
	put_u32(&w, HEAP_SECTION_LAYOUT);
	put_u64(&w, 12);
	put_u32(&w, h->header_bytes);
	put_u32(&w, h->next_overlap);
	put_u32(&w, h->granule_shift);
	uint64_t detail_size = 4;
	for (size_t i = 0; i < h->n_details; i++)
		detail_size += 8 + strlen(h->details[i].group) + 1 + strlen(h->details[i].name) + 1;
	put_u32(&w, HEAP_SECTION_DETAIL);
	put_u64(&w, detail_size);
	put_u32(&w, (uint32_t)h->n_details);
	for (size_t i = 0; i < h->n_details; i++) {
		put_u64(&w, h->details[i].value);
		put(&w, h->details[i].group, strlen(h->details[i].group) + 1);
		put(&w, h->details[i].name, strlen(h->details[i].name) + 1);
	}
	uint32_t crc = w.crc;
	put_u32(&w, crc);
	if (fclose(f) != 0 || w.failed)
		return mp_error_errno(errno ? errno : EIO, "cannot write snapshot %s", path);
	return NULL;
}

/* The file's bytes, and its path for messages. */
typedef struct reader {
	mp_byte_reader bytes;
	const char *path;
} reader;

static bool take(reader *r, void *out, size_t size)
{
	return mp_take(&r->bytes, out, size);
}

static bool take_string(reader *r, char **out)
{
	*out = mp_take_string(&r->bytes);
	return *out != NULL;
}

static mp_error *corrupt(const char *path, const char *what)
{
	return mp_error_new(MP_ERR_FORMAT, "snapshot %s is damaged or truncated: %s", path, what);
}

/* The heap's located_by is one of the backends' own constant strings;
 * a file's copy is mapped back to it, anything else says "snapshot". */
static const char *known_located_by(const char *text)
{
	static const char *const known[] = {
		"libc debug symbols", "structural search", "allocator symbols",
		"jemalloc symbols", "jemalloc debug symbols",
		"jemalloc arena table (structural search)",
		"segment headers in anonymous memory",
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(text, known[i]) == 0)
			return known[i];
	return "snapshot";
}

static int arena_of_region(const uint64_t *pairs, uint64_t count, uint64_t start)
{
	for (uint64_t i = 0; i < count; i++)
		if (pairs[2 * i] == start)
			return (int)(int64_t)pairs[2 * i + 1];
	return -1;
}

/* Regions are the maximal runs of adjacent chunks; their arenas come from
 * the saved (start, arena) table. */
static mp_error *rebuild_regions(mp_heap *h, const uint64_t *pairs, uint64_t n_pairs)
{
	size_t total = h->n_chunks;
	h->n_chunks = 0;
	uint64_t previous_end = 0;
	for (size_t i = 0; i < total; i++) {
		const heap_chunk *c = &h->chunks[i];
		if (i > 0 && c->address < previous_end)
			return mp_error_new(MP_ERR_FORMAT, "chunk %#llx overlaps the one before it",
					    (unsigned long long)c->address);
		if (i == 0 || c->address != previous_end) {
			mp_error *err = i ? heap_end_region(h, previous_end) : NULL;
			if (!err)
				err = heap_begin_region(h, c->address,
							arena_of_region(pairs, n_pairs, c->address));
			if (err)
				return err;
		}
		h->n_chunks = i + 1;
		previous_end = c->address + heap_chunk_size(c);
	}
	return total ? heap_end_region(h, previous_end) : NULL;
}

void heap_sections_free(heap_section *sections, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(sections[i].data);
	free(sections);
}

/* Sections after the chunk table (version 2): each copied out, so the
 * file's buffer can go. */
static mp_error *take_sections(reader *r, heap_section **out, size_t *n_out)
{
	uint32_t n;
	if (!take(r, &n, 4) || n > (r->bytes.size - r->bytes.pos) / 12)
		return corrupt(r->path, "section table");
	heap_section *sections = calloc(n ? n : 1, sizeof(*sections));
	if (!sections)
		return mp_error_nomem();
	for (uint32_t i = 0; i < n; i++) {
		uint64_t size;
		if (!take(r, &sections[i].tag, 4) || !take(r, &size, 8) || size > r->bytes.size - r->bytes.pos) {
			heap_sections_free(sections, i);
			return corrupt(r->path, "section");
		}
		sections[i].size = (size_t)size;
		sections[i].data = malloc(size ? size : 1);
		if (!sections[i].data) {
			heap_sections_free(sections, i);
			return mp_error_nomem();
		}
		take(r, sections[i].data, size);
	}
	if (r->bytes.pos != r->bytes.size) {
		heap_sections_free(sections, n);
		return corrupt(r->path, "bytes after the last section");
	}
	*out = sections;
	*n_out = n;
	return NULL;
}

/* Drops section i from the caller's list. */
static void drop_section(heap_section *sections, size_t *n, size_t i)
{
	free(sections[i].data);
	memmove(&sections[i], &sections[i + 1], (*n - i - 1) * sizeof(*sections));
	(*n)--;
}

/* Applies the allocator section (snapshots before it have none: the
 * backend string says glibc) and drops it from the caller's list.  A
 * section that does not parse is ignored, as an unknown one would be. */
static mp_error *take_allocator(mp_heap *h, heap_section *sections, size_t *n)
{
	for (size_t i = 0; i < *n; i++) {
		heap_section *s = &sections[i];
		if (s->tag != HEAP_SECTION_ALLOCATOR)
			continue;
		uint32_t kind = 0;
		const char *version = NULL, *version_end = NULL, *module = NULL;
		size_t rest = 0, module_room = 0;
		if (s->size > 4) {
			memcpy(&kind, s->data, 4);
			version = (const char *)s->data + 4;
			rest = s->size - 4;
			version_end = memchr(version, '\0', rest);
		}
		if (version_end) {
			module = version_end + 1;
			module_room = rest - (size_t)(module - version);
		}
		if (module_room && memchr(module, '\0', module_room) &&
		    kind <= MP_ALLOCATOR_UNKNOWN &&
		    (size_t)(version_end - version) < sizeof(h->allocator_version)) {
			h->allocator_kind = (enum mp_allocator_kind)kind;
			memcpy(h->allocator_version, version, (size_t)(version_end - version) + 1);
			free(h->allocator_module);
			h->allocator_module = strdup(module);
			if (!h->allocator_module)
				return mp_error_nomem();
		}
		drop_section(sections, n, i);
		i--;
	}
	return NULL;
}

/* Applies the layout section (before the regions are rebuilt: their start
 * bitmaps are per granule).  Without one the heap is glibc's. */
static mp_error *take_layout(const char *path, mp_heap *h, heap_section *sections, size_t *n)
{
	for (size_t i = 0; i < *n; i++) {
		if (sections[i].tag != HEAP_SECTION_LAYOUT)
			continue;
		uint32_t fields[3];
		if (sections[i].size != sizeof(fields))
			return corrupt(path, "layout section");
		memcpy(fields, sections[i].data, sizeof(fields));
		if (fields[0] > 64 || fields[1] > fields[0] || fields[2] < 3 || fields[2] > 12)
			return corrupt(path, "layout section");
		h->header_bytes = fields[0];
		h->next_overlap = fields[1];
		h->granule_shift = fields[2];
		drop_section(sections, n, i);
		return NULL;
	}
	return NULL;
}

/* Applies the detail section: rows of group and name strings. */
static mp_error *take_detail(const char *path, mp_heap *h, heap_section *sections, size_t *n)
{
	for (size_t i = 0; i < *n; i++) {
		if (sections[i].tag != HEAP_SECTION_DETAIL)
			continue;
		mp_byte_reader b = {sections[i].data, sections[i].size, 0};
		uint32_t rows;
		if (!mp_take(&b, &rows, 4) || rows > b.size / 10)
			return corrupt(path, "detail section");
		for (uint32_t k = 0; k < rows; k++) {
			uint64_t value;
			if (!mp_take(&b, &value, 8))
				return corrupt(path, "detail section");
			const char *group = (const char *)b.data + b.pos;
			const char *group_end = memchr(group, '\0', b.size - b.pos);
			if (!group_end)
				return corrupt(path, "detail section");
			const char *name = group_end + 1;
			size_t left = b.size - (size_t)(name - (const char *)b.data);
			const char *name_end = left ? memchr(name, '\0', left) : NULL;
			if (!name_end)
				return corrupt(path, "detail section");
			mp_error *err = heap_add_detail(h, group, name, value);
			if (err)
				return err;
			b.pos = (size_t)(name_end + 1 - (const char *)b.data);
		}
		drop_section(sections, n, i);
		return NULL;
	}
	return NULL;
}

mp_error *mp_heap_load(const char *path, mp_heap **out)
{
	return heap_load_with(path, out, NULL, NULL);
}

mp_error *heap_load_with(const char *path, mp_heap **out, heap_section **sections,
			 size_t *n_sections)
{
	*out = NULL;
	heap_section *loaded = NULL;
	size_t n_loaded = 0;
	if (sections) {
		*sections = NULL;
		*n_sections = 0;
	}
	FILE *f = fopen(path, "rb");
	if (!f)
		return mp_error_errno(errno, "cannot open snapshot %s", path);
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *data = size > 0 ? malloc((size_t)size) : NULL;
	if (size <= 0 || !data || fread(data, 1, (size_t)size, f) != (size_t)size) {
		fclose(f);
		free(data);
		return size <= 0 ? corrupt(path, "empty file")
				 : mp_error_errno(errno ? errno : EIO, "cannot read snapshot %s", path);
	}
	fclose(f);
	reader r = {{data, (size_t)size, 0}, path};
	mp_error *err = NULL;
	uint64_t *region_arenas = NULL;
	mp_heap *h = heap_new();
	char magic[8];
	uint32_t version, flags, crc;
	uint64_t n_chunks, n_arenas, n_problems;
	if (!h) {
		err = mp_error_nomem();
		goto done;
	}
	if (!take(&r, magic, 8) || memcmp(magic, MAGIC, 8) != 0) {
		err = mp_error_new(MP_ERR_FORMAT, "%s is not a memprof snapshot", path);
		goto done;
	}
	if (r.bytes.size < 12 || (memcpy(&crc, data + r.bytes.size - 4, 4),
			    mp_crc32(0, data, r.bytes.size - 4) != crc)) {
		err = corrupt(path, "checksum mismatch");
		goto done;
	}
	r.bytes.size -= 4;
	if (!take(&r, &version, 4) || !take(&r, &flags, 4)) {
		err = corrupt(path, "header");
		goto done;
	}
	if (version < 1 || version > FORMAT_VERSION) {
		err = mp_error_new(MP_ERR_UNSUPPORTED,
				   "snapshot %s has format version %u; this memprof reads versions 1 to %d",
				   path, version, FORMAT_VERSION);
		goto done;
	}
	char *located_by = NULL;
	if (!take(&r, &h->timestamp, 8) || !take(&r, &n_chunks, 8) ||
	    !take(&r, &n_arenas, 8) || !take(&r, &n_problems, 8) ||
	    !take(&r, &h->mallinfo, sizeof(h->mallinfo)) ||
	    !take(&r, &h->max_mmapped_mem, 8) || !take(&r, &h->max_n_mmaps, 8) ||
	    !take_string(&r, &h->backend) || !take_string(&r, &located_by) ||
	    !take_string(&r, &h->target_description)) {
		free(located_by);
		err = corrupt(path, "header");
		goto done;
	}
	h->located_by = known_located_by(located_by);
	free(located_by);
	h->partial = flags & FLAG_PARTIAL;
	h->have_peak = flags & FLAG_PEAK;
	if (n_arenas > (r.bytes.size - r.bytes.pos) / 64 || n_chunks > (r.bytes.size - r.bytes.pos) / 16) {
		err = corrupt(path, "counts larger than the file");
		goto done;
	}
	for (uint64_t i = 0; i < n_arenas && !err; i++) {
		uint64_t fields[8];
		if (!take(&r, fields, sizeof(fields))) {
			err = corrupt(path, "arenas");
			break;
		}
		heap_arena a = {fields[0], fields[6] != 0, fields[1], fields[2],
				   fields[3], fields[4], (size_t)fields[7]};
		err = heap_add_arena(h, &a);
	}
	for (uint64_t i = 0; i < n_problems && !err; i++) {
		uint64_t address;
		char *where = NULL, *message = NULL;
		if (!take(&r, &address, 8) || !take_string(&r, &where) ||
		    !take_string(&r, &message)) {
			free(where);
			err = corrupt(path, "problems");
			break;
		}
		heap_problem(h, address, where, "%s", message);
		free(where);
		free(message);
	}
	if (err)
		goto done;
	h->partial = flags & FLAG_PARTIAL;
	uint64_t n_region_arenas;
	if (!take(&r, &n_region_arenas, 8) || n_region_arenas > (r.bytes.size - r.bytes.pos) / 16) {
		err = corrupt(path, "region table");
		goto done;
	}
	region_arenas = malloc(n_region_arenas ? n_region_arenas * 16 : 1);
	if (!region_arenas) {
		err = mp_error_nomem();
		goto done;
	}
	take(&r, region_arenas, n_region_arenas * 16);
	if (version == 1 ? n_chunks * 16 != r.bytes.size - r.bytes.pos : n_chunks * 16 > r.bytes.size - r.bytes.pos) {
		err = corrupt(path, "chunk table size");
		goto done;
	}
	h->chunks = malloc(n_chunks ? n_chunks * sizeof(*h->chunks) : 1);
	if (!h->chunks) {
		err = mp_error_nomem();
		goto done;
	}
	h->chunks_capacity = n_chunks;
	take(&r, h->chunks, n_chunks * sizeof(*h->chunks));
	h->n_chunks = n_chunks;
	if (version < 3)
		for (size_t i = 0; i < h->n_chunks; i++) {
			uint64_t old = h->chunks[i].size_state;
			h->chunks[i].size_state = (old & ~(uint64_t)HEAP_STATE_MASK) << HEAP_STATE_BITS |
						  (old & HEAP_STATE_MASK);
		}
	if (version >= 2) {
		err = take_sections(&r, &loaded, &n_loaded);
		if (!err)
			err = take_layout(path, h, loaded, &n_loaded);
		if (!err)
			err = take_detail(path, h, loaded, &n_loaded);
		if (err)
			goto done;
	}
	err = rebuild_regions(h, region_arenas, n_region_arenas);
	if (err)
		err = mp_error_prefix(err, "snapshot %s", path);
	if (!err)
		err = take_allocator(h, loaded, &n_loaded);
	if (!err)
		err = heap_describe(h);
done:
	free(region_arenas);
	free(data);
	if (err) {
		heap_sections_free(loaded, n_loaded);
		mp_heap_free(h);
		return err;
	}
	if (sections) {
		*sections = loaded;
		*n_sections = n_loaded;
	} else {
		heap_sections_free(loaded, n_loaded);
	}
	*out = h;
	return NULL;
}
