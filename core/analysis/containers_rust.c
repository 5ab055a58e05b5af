/* Rust standard library containers for the logical walk (filled in below). */
#include "logical_internal.h"

bool lg_rust_container(lg_walker *w, uint32_t frame, const mp_type *type,
		      uint64_t addr)
{
	(void)w; (void)frame; (void)type; (void)addr;
	return false;
}

bool lg_rust_step(lg_walker *w, lg_work *item)
{
	(void)w; (void)item;
	return false;
}
