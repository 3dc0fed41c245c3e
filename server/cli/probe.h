/* The `probe` subcommand of nrfprov-mock: a health check for containers and scripts
 * (see probe.c). Linked into the program only, not into the server core. */
#ifndef NRFPROV_PROBE_H
#define NRFPROV_PROBE_H

/* Run `nrfprov-mock probe ...` (argv[1] is "probe"); the process exit status. */
int probe_main(int argc, char **argv);

#endif
