/* options.c on its own: defaults, NRFPROV_* variables, the command line winning over
 * them, each type's checks with a message naming the option, pairs that go together,
 * --help, and the JSON view that masks secrets. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

static char why[256];

/* Parse argv (NULL-terminated, without the program name). */
static int parse(options *o, const char *const *args) {
  char *argv[32] = {"nrfprov-mock"};
  int argc = 1;
  while (args[argc - 1]) {
    argv[argc] = (char *)(uintptr_t)args[argc - 1]; /* options_parse does not write argv */
    argc++;
  }
  why[0] = 0;
  return options_parse(o, argc, argv, why, sizeof why);
}

static void clean_env(void) {
  unsetenv("NRFPROV_HTTP_PORT");
  unsetenv("NRFPROV_LOG_LEVEL");
  unsetenv("NRFPROV_IN_MEMORY");
}
TestSuite(options, .init = clean_env, .fini = clean_env, .timeout = 30);

Test(options, defaults) {
  options o;
  const char *args[] = {NULL};
  cr_assert_eq(parse(&o, args), 0, "%s", why);
  cr_assert_str_eq(o.bind, "127.0.0.1");
  cr_assert_eq(o.http_port, 8080);
  cr_assert_eq(o.coaps_port, 5684);
  cr_assert_not(o.in_memory);
  cr_assert_str_eq(o.log_level, "info");
  cr_assert_eq(o.journal_size, 1000);
  options_free(&o);
}

Test(options, the_command_line_wins_over_the_environment) {
  setenv("NRFPROV_HTTP_PORT", "9000", 1);
  setenv("NRFPROV_LOG_LEVEL", "debug", 1);
  options o;
  const char *args[] = {"--http-port", "0", NULL};
  cr_assert_eq(parse(&o, args), 0, "%s", why);
  cr_assert_eq(o.http_port, 0);
  cr_assert_str_eq(o.log_level, "debug", "the environment still counts");
  options_free(&o);
}

Test(options, both_spellings_and_bare_booleans) {
  options o;
  const char *args[] = {"--https-port=-1", "--in-memory", "--log-format", "json", NULL};
  cr_assert_eq(parse(&o, args), 0, "%s", why);
  cr_assert_eq(o.https_port, -1);
  cr_assert(o.in_memory);
  cr_assert_str_eq(o.log_format, "json");
  options_free(&o);
  const char *off[] = {"--in-memory=false", NULL};
  cr_assert_eq(parse(&o, off), 0, "%s", why);
  cr_assert_not(o.in_memory);
  options_free(&o);
}

/* Each bad value is refused with a message naming the option and the defect. */
Test(options, bad_values_name_the_option) {
  static const struct {
    const char *args[4];
    const char *names;
  } bad[] = {
    {{"--http-port", "70000", NULL}, "--http-port"},
    {{"--http-port", "80x", NULL}, "not an integer"},
    {{"--log-level", "loud", NULL}, "debug|info|warn|error"},
    {{"--in-memory=maybe", NULL}, "not a boolean"},
    {{"--no-such-option", NULL}, "unknown option '--no-such-option'"},
    {{"--bind", NULL}, "needs a value"},
    {{"stray", NULL}, "unexpected argument 'stray'"},
    {{"--ca-cert", "ca.pem", NULL}, "--ca-cert and --ca-key go together"},
    {{"--threads", "0", NULL}, "--threads"},
    {{"--journal-size", "1000001", NULL}, "--journal-size"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    options o;
    cr_assert_eq(parse(&o, bad[i].args), -1, "%s accepted", bad[i].args[0]);
    cr_assert(strstr(why, bad[i].names), "'%s' does not name %s", why, bad[i].names);
    options_free(&o);
  }
}

Test(options, an_environment_value_is_checked_too) {
  setenv("NRFPROV_HTTP_PORT", "-2", 1);
  options o;
  const char *args[] = {NULL};
  cr_assert_eq(parse(&o, args), -1);
  cr_assert(strstr(why, "NRFPROV_HTTP_PORT"), "%s", why);
  options_free(&o);
}

Test(options, the_json_view_masks_secrets) {
  options o;
  const char *args[] = {"--ca-cert", "ca.pem", "--ca-key", "secret.key", NULL};
  cr_assert_eq(parse(&o, args), 0, "%s", why);
  json_t *j = options_to_json(&o);
  cr_assert_str_eq(json_string_value(json_object_get(j, "ca-cert")), "ca.pem");
  cr_assert_str_eq(json_string_value(json_object_get(j, "ca-key")), "***");
  cr_assert_eq(json_integer_value(json_object_get(j, "http-port")), 8080);
  cr_assert(json_is_null(json_object_get(j, "ready-file")));
  json_decref(j);
  options_free(&o);
}

Test(options, help_prints_every_option_and_its_variable) {
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  options_print_help(out);
  fclose(out);
  cr_assert(strstr(text, "--http-port") && strstr(text, "NRFPROV_HTTP_PORT"), "%s", text);
  cr_assert(strstr(text, "--ready-file") && strstr(text, "NRFPROV_READY_FILE"));
  free(text);
}
