/* The self-contained HTML report (`memprof report --html`): one page with
 * its scripts, styles and data inline, rendered in the browser from the
 * verbs' own JSON documents. */
#ifndef MEMPROF_CORE_OUTPUT_HTML_REPORT_H
#define MEMPROF_CORE_OUTPUT_HTML_REPORT_H

#include <stdio.h>

#include "memprof/memprof.h"

/* Writes the page to path with data, a JSON object text whose members the
 * page knows (docs/report.md): heap, leaks, recommend, patterns, logical,
 * diff, target, version, generated. */
mp_error *mp_html_report_write(const char *path, const char *data);

#endif
