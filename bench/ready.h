/* The ready file of the baseline servers, written the way nrfprov-mock writes its own.
 *
 * For: bench_bare_mhd and bench_bare_coap announcing the port they bound. Not for the
 * mock itself, which has its own writer in server/.
 */
#ifndef NRFPROV_BENCH_READY_H
#define NRFPROV_BENCH_READY_H

/* Write json to path atomically (temporary file, then rename). 0 or -1 with errno set. */
int ready_write(const char *path, const char *json);

#endif
