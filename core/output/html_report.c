/* The HTML report page: the template compiled in from report.html, with
 * the data in place of its placeholder. */
#include "html_report.h"

#include <errno.h>
#include <string.h>

#include "error.h"

extern const char mp_report_template[];

static const char PLACEHOLDER[] = "/*@DATA@*/";

mp_error *mp_html_report_write(const char *path, const char *data)
{
	const char *at = strstr(mp_report_template, PLACEHOLDER);
	if (!at)
		return mp_error_new(MP_ERR_FORMAT, "the report template has no data placeholder");
	FILE *f = fopen(path, "w");
	if (!f)
		return mp_error_errno(errno, "cannot write %s", path);
	fwrite(mp_report_template, 1, (size_t)(at - mp_report_template), f);
	/* The data sits in a <script> element, which ends at the first "</":
	 * every '<' becomes \u003c.  In JSON a '<' can only be inside a string,
	 * where that escape means the same character. */
	for (const char *p = data; *p; p++) {
		if (*p == '<')
			fputs("\\u003c", f);
		else
			fputc(*p, f);
	}
	fputs(at + strlen(PLACEHOLDER), f);
	if (fclose(f) != 0)
		return mp_error_errno(errno, "cannot write %s", path);
	return NULL;
}
