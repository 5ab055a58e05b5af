/* The memprof command: a thin door onto the command engine. */
#include <stdio.h>

#include "memprof/memprof.h"

int main(int argc, char **argv)
{
	mp_host host = {.name = "cli"};
	int status = mp_command_run(argc - 1, argv + 1, &host, stdout, stderr);
	if (fflush(stdout) != 0 && status == MP_EXIT_OK)
		status = MP_EXIT_ERROR;
	return status;
}
