#include "array.h"

#include <stdint.h>
#include <stdlib.h>

bool mp_array_reserve(void **items, size_t *capacity, size_t needed,
		      size_t size)
{
	if (needed <= *capacity)
		return true;
	size_t grown = *capacity ? *capacity : 8;
	while (grown < needed) {
		if (grown > SIZE_MAX / 2)
			return false;
		grown *= 2;
	}
	if (grown > SIZE_MAX / size)
		return false;
	void *resized = realloc(*items, grown * size);
	if (!resized)
		return false;
	*items = resized;
	*capacity = grown;
	return true;
}
