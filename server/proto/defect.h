/* The one way proto/ and pki/ report a defect: a sentence in the caller's why buffer
 * and -1. Not an error table (that is errors.h, for the service and transports). */
#ifndef NRFPROV_PROTO_DEFECT_H
#define NRFPROV_PROTO_DEFECT_H

#include <stddef.h>

/* Write the printf-style sentence into why (when why and whysz are set); return -1. */
int defect(char *why, size_t whysz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
