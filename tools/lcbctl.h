/* Internal interface of lcbctl: the command table entry, the option parser
 * every command shares, error reporting and the entry point of each command.
 * lcbctl is a blocking administration tool; nothing here is linked into lcbd
 * and nothing here may build SQL text out of command-line input. */
#ifndef LCBCTL_H
#define LCBCTL_H

#include "lib/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit statuses: 2 when the command line cannot be understood, 1 for every
 * other failure (including a ledger that fails verification). */
enum { LCBCTL_EXIT_OK = 0, LCBCTL_EXIT_FAIL = 1, LCBCTL_EXIT_USAGE = 2 };

struct lcbctl_ctx;
typedef int lcbctl_run_fn(struct lcbctl_ctx *ctx, int argc, char **argv);

struct lcbctl_command {
    const char *name;    /* "cert" */
    const char *sub;     /* "issue", or NULL for a command without subcommands */
    lcbctl_run_fn *run;  /* gets argv[0] = the last command word; returns an exit status */
    const char *summary; /* one line of `lcbctl --help` */
    const char *usage;   /* the text of `lcbctl COMMAND --help` */
};

struct lcbctl_ctx {
    const struct lcbctl_command *command;
    /* --db given before or after the command; NULL: env LCB_DB, else libpq's PG* */
    const char *conninfo;
};

/* A repeatable option (--host, --public-key); borrowed pointers into argv. */
#define LCBCTL_LIST_MAX 32
struct lcbctl_list {
    const char *items[LCBCTL_LIST_MAX];
    size_t n;
};

enum lcbctl_opt_type { LCBCTL_OPT_STRING, LCBCTL_OPT_FLAG, LCBCTL_OPT_LIST };

struct lcbctl_opt {
    const char *name; /* long name without the leading "--" */
    enum lcbctl_opt_type type;
    void *dest; /* const char **, bool * or struct lcbctl_list * by type */
    bool required;
};

/* Parses argv[1..] against opts ("--name VALUE" or "--name=VALUE") and
 * exactly n_positional positional arguments. Every command also takes --db
 * and --help. Returns true when the command should run; otherwise it has
 * printed help (*exit_status 0) or a usage error (*exit_status 2). */
bool lcbctl_args_parse(struct lcbctl_ctx *ctx, int argc, char **argv, const struct lcbctl_opt *opts,
                       size_t n_opts, const char **positional, size_t n_positional,
                       int *exit_status);

/* Parses a whole decimal integer within [min, max]; -1 with err
 * "invalid_argument" naming `what` otherwise. */
int lcbctl_args_int64(const char *what, const char *text, int64_t min, int64_t max, int64_t *out,
                      struct lcb_error *err);

/* A code as the schema wants it (institutions, catalogue items, sessions,
 * terminal names): 1-32 of A-Z a-z 0-9 _ . -; -1 with err "invalid_code"
 * naming `what` otherwise. */
int lcbctl_args_code(const char *what, const char *code, struct lcb_error *err);

/* Prints "lcbctl: CODE: MESSAGE" on stderr; returns LCBCTL_EXIT_FAIL. */
int lcbctl_fail(const struct lcb_error *err);
/* Prints a usage error for the running command; returns LCBCTL_EXIT_USAGE. */
int lcbctl_usage_error(const struct lcbctl_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void lcbctl_print_usage(const struct lcbctl_command *command);

/* The commands, by the file that holds them. */
lcbctl_run_fn lcbctl_migrate;
lcbctl_run_fn lcbctl_keys_keygen;
lcbctl_run_fn lcbctl_keys_secret_init;
lcbctl_run_fn lcbctl_pki_ca_init;
lcbctl_run_fn lcbctl_pki_cert_server;
lcbctl_run_fn lcbctl_pki_cert_issue;
lcbctl_run_fn lcbctl_pki_cert_revoke;
lcbctl_run_fn lcbctl_admin_institution_add;
lcbctl_run_fn lcbctl_admin_course_add;
lcbctl_run_fn lcbctl_admin_certificate_add;
lcbctl_run_fn lcbctl_admin_learner_add;
lcbctl_run_fn lcbctl_card_issue;
lcbctl_run_fn lcbctl_card_lost;
lcbctl_run_fn lcbctl_card_cancel;
lcbctl_run_fn lcbctl_card_replace;
lcbctl_run_fn lcbctl_card_balance;
lcbctl_run_fn lcbctl_verify;
lcbctl_run_fn lcbctl_sessions_add;
lcbctl_run_fn lcbctl_sessions_list;
lcbctl_run_fn lcbctl_rules_unit_add;
lcbctl_run_fn lcbctl_rules_unit_validity;
lcbctl_run_fn lcbctl_rules_recognition_add;
lcbctl_run_fn lcbctl_rules_rule_add;
lcbctl_run_fn lcbctl_rules_rule_list;
lcbctl_run_fn lcbctl_rules_convert_preview;
lcbctl_run_fn lcbctl_rules_convert_execute;
lcbctl_run_fn lcbctl_rules_reverse;
lcbctl_run_fn lcbctl_rules_transcript;

#endif
