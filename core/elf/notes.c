#include "notes.h"

#include <elf.h>
#include <string.h>

void mp_note_iter_init(mp_note_iter *it, const void *data, size_t size,
		       uint64_t align)
{
	it->data = data;
	it->size = size;
	it->pos = 0;
	/* Producers write 4-byte aligned notes except in 8-aligned segments
	 * (.note.gnu.property); anything else is treated as 4. */
	it->align = align == 8 ? 8 : 4;
	it->malformed = false;
}

static size_t align_up(size_t value, size_t align)
{
	return (value + align - 1) & ~(align - 1);
}

bool mp_note_next(mp_note_iter *it, mp_note *note)
{
	if (it->pos >= it->size || it->size - it->pos < sizeof(Elf64_Nhdr))
		return false;
	Elf64_Nhdr header;
	memcpy(&header, it->data + it->pos, sizeof(header));
	size_t name_at = it->pos + sizeof(header);
	size_t name_span = align_up(header.n_namesz, it->align);
	if (name_span < header.n_namesz || name_span > it->size - name_at) {
		it->malformed = true;
		return false;
	}
	size_t desc_at = name_at + name_span;
	size_t desc_span = align_up(header.n_descsz, it->align);
	if (desc_span < header.n_descsz || desc_span > it->size - desc_at) {
		/* The last note may lack its trailing padding. */
		if (header.n_descsz > it->size - desc_at) {
			it->malformed = true;
			return false;
		}
		desc_span = it->size - desc_at;
	}
	note->name = (const char *)it->data + name_at;
	note->name_size = header.n_namesz;
	note->type = header.n_type;
	note->desc = it->data + desc_at;
	note->desc_size = header.n_descsz;
	it->pos = desc_at + desc_span;
	return true;
}

bool mp_note_is(const mp_note *note, const char *name, uint32_t type)
{
	size_t length = strlen(name);
	if (note->type != type || note->name_size < length)
		return false;
	if (memcmp(note->name, name, length) != 0)
		return false;
	return note->name_size == length ||
	       (note->name_size == length + 1 && note->name[length] == '\0');
}

bool mp_notes_find_build_id(const void *data, size_t size, uint64_t align,
			    const uint8_t **id, size_t *id_size)
{
	mp_note_iter it;
	mp_note note;
	mp_note_iter_init(&it, data, size, align);
	while (mp_note_next(&it, &note)) {
		if (mp_note_is(&note, "GNU", NT_GNU_BUILD_ID) &&
		    note.desc_size > 0) {
			*id = note.desc;
			*id_size = note.desc_size;
			return true;
		}
	}
	return false;
}

void mp_hex_encode(const uint8_t *bytes, size_t size, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < size; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * size] = '\0';
}
