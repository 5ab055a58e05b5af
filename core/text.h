/* What counts as text in the target's bytes, the same in every host:
 * the CLI runs in the C locale, GDB and LLDB in the user's, where isprint
 * may say yes to bytes above 0x7f (Latin-1).  Answers must not depend on
 * which front door asked, so these tests are ASCII's, by value. */
#ifndef MEMPROF_CORE_TEXT_H
#define MEMPROF_CORE_TEXT_H

#include <stdbool.h>
#include <stdint.h>

/* A printable ASCII character, space included. */
static inline bool mp_text_printable(uint8_t c)
{
	return c >= 0x20 && c < 0x7f;
}

/* Printable or white space (tab, newline, vertical tab, form feed,
 * carriage return): a byte of a C string's text. */
static inline bool mp_text_byte(uint8_t c)
{
	return mp_text_printable(c) || (c >= '\t' && c <= '\r');
}

#endif
