/* lcbctl: the administrator's command line for lcb (migrations, keys and
 * certificates, institutions, catalogue, learners and cards, ledger
 * verification). This file holds only main, the command table and help;
 * each command lives in a tools/lcbctl_*.c file of its own concern. */
#include "tools/lcbctl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif
#ifndef LCB_SQL_DIR
#define LCB_SQL_DIR "/usr/local/share/lcb/sql"
#endif

#define DB_HELP                                                                                    \
    "  --db CONNINFO         database (default: env LCB_DB, else libpq's PG* variables)\n"

#define HTTPS_HELP                                                                                 \
    "HTTPS (conversions and reversals are signed by lcbd, so they go through it):\n"              \
    "  --url https://HOST:PORT  lcbd (default: env LCB_URL)\n"                                    \
    "  --cert FILE --key FILE   an administrator's certificate (env LCB_ADMIN_CERT,\n"           \
    "                           LCB_ADMIN_KEY)\n"                                                 \
    "  --ca FILE                the bank's CA certificate (env LCB_CA)\n"

static const struct lcbctl_command commands[] = {
    {"migrate", NULL, lcbctl_migrate, "bring the database schema up to date",
     "usage: lcbctl migrate [--sql-dir DIR] [--db CONNINFO]\n"
     "Applies every DIR/NNN_name.sql not yet recorded in schema_migrations, in\n"
     "number order, each in its own transaction, then prints the schema version.\n"
     "Refuses to apply anything when an applied file has changed since.\n"
     "  --sql-dir DIR         migrations (default: env LCB_SQL_DIR, else " LCB_SQL_DIR
     ")\n" DB_HELP},
    {"keygen", NULL, lcbctl_keys_keygen, "create the bank's Ed25519 signing key",
     "usage: lcbctl keygen --out FILE [--public-out FILE] [--register [--db CONNINFO]]\n"
     "Writes a new Ed25519 private key (PEM, mode 0600; never overwrites) and\n"
     "prints its key id.\n"
     "  --out FILE            private key file to create\n"
     "  --public-out FILE     also write the public key (PEM), for verify --public-key\n"
     "  --register            also record the public key in table signing_keys\n" DB_HELP},
    {"secret", "init", lcbctl_keys_secret_init, "create the bank secret for identity documents",
     "usage: lcbctl secret init --out FILE\n"
     "Writes 32 random bytes as 64 hex digits (mode 0600; never overwrites): the\n"
     "key of the HMAC-SHA-256 under which identity document numbers are stored.\n"
     "  --out FILE            secret file to create\n"},
    {"ca", "init", lcbctl_pki_ca_init, "create the certificate authority",
     "usage: lcbctl ca init --dir DIR [--name NAME]\n"
     "Creates DIR/ca.key (EC P-256, mode 0600) and DIR/ca.crt (self-signed, ten\n"
     "years, CA:TRUE, keyCertSign and cRLSign). Never overwrites.\n"
     "  --dir DIR             directory (created when missing)\n"
     "  --name NAME           subject common name (default \"lcb credit bank CA\")\n"},
    {"cert", "server", lcbctl_pki_cert_server, "issue the TLS server certificate",
     "usage: lcbctl cert server --ca-dir DIR --out PREFIX [--host NAME]... [--days N]\n"
     "Creates PREFIX.key (EC P-256, mode 0600) and PREFIX.crt signed by the CA, for\n"
     "serverAuth, with subject alternative names DNS:localhost, IP:127.0.0.1 and\n"
     "each --host (an IP address or a DNS name). Never overwrites.\n"
     "  --ca-dir DIR          directory of ca.key and ca.crt\n"
     "  --out PREFIX          output path prefix\n"
     "  --host NAME           extra name or address, repeatable\n"
     "  --days N              validity in days (default 825)\n"},
    {"cert", "issue", lcbctl_pki_cert_issue, "issue a client certificate and record it",
     "usage: lcbctl cert issue --ca-dir DIR --role ROLE --institution CODE --name NAME\n"
     "                         --out PREFIX [--days N] [--db CONNINFO]\n"
     "Creates PREFIX.key and PREFIX.crt (clientAuth; subject CN=NAME, O=CODE,\n"
     "OU=ROLE), records it in table credentials and prints its SHA-256 fingerprint.\n"
     "  --role ROLE           administrator, institution, terminal or auditor\n"
     "  --institution CODE    the institution the holder acts for\n"
     "  --name NAME           holder's name (common name)\n"
     "  --ca-dir DIR          directory of ca.key and ca.crt\n"
     "  --out PREFIX          output path prefix\n"
     "  --days N              validity in days (default 825)\n" DB_HELP},
    {"cert", "revoke", lcbctl_pki_cert_revoke, "revoke a client certificate",
     "usage: lcbctl cert revoke (--cert FILE | --fingerprint HEX) [--db CONNINFO]\n"
     "Marks the credential revoked; lcbd refuses it from then on.\n"
     "  --cert FILE           the certificate (PEM)\n"
     "  --fingerprint HEX     or its SHA-256 fingerprint, as cert issue printed it\n" DB_HELP},
    {"institution", "add", lcbctl_admin_institution_add, "register an institution",
     "usage: lcbctl institution add --code CODE --name NAME --kind KIND [--parent CODE]\n"
     "                              [--region DIVISION] [--db CONNINFO]\n"
     "Registers an institution and its account; prints its id.\n"
     "  --code CODE           1-32 of A-Z a-z 0-9 _ . -\n"
     "  --kind KIND           district_centre, branch_centre, learning_point,\n"
     "                        vocational_school, training_provider or online_platform\n"
     "  --parent CODE         parent institution (every kind but district_centre)\n"
     "  --region DIVISION     6-digit GB/T 2260 division code, e.g. 330206\n" DB_HELP},
    {"course", "add", lcbctl_admin_course_add, "add a course to the catalogue",
     "usage: lcbctl course add --code CODE --owner CODE --title TITLE --unit UNIT\n"
     "                         --credits N --hours-minutes M --level L [--db CONNINFO]\n"
     "Adds a course owned by institution --owner; prints its id.\n"
     "  --unit UNIT           credit unit: community, vocational, academic, ...\n"
     "  --credits N           credit value as an integer in the unit's smallest step:\n"
     "                        hundredths for credit units, so 150 means 1.50 credits\n"
     "  --hours-minutes M     learning time required, in minutes\n"
     "  --level L             qualifications framework level, 1 to 10\n" DB_HELP},
    {"certificate", "add", lcbctl_admin_certificate_add, "add a certificate to the catalogue",
     "usage: lcbctl certificate add --code CODE --owner CODE --title TITLE --unit UNIT\n"
     "                              --credits N --hours-minutes M --level L [--db CONNINFO]\n"
     "As course add, for a (vocational skill) certificate.\n" DB_HELP},
    {"session", "add", lcbctl_sessions_add, "add a session of a course, for terminals",
     "usage: lcbctl session add --code CODE --course COURSE --title TITLE\n"
     "                          [--starts TIME] [--ends TIME] [--db CONNINFO]\n"
     "Adds a session of a course; card terminals of the course's owner tap for it\n"
     "by CODE. Prints its id.\n"
     "  --code CODE           1-32 of A-Z a-z 0-9 _ . -\n"
     "  --course COURSE       a course of the catalogue (not a certificate)\n"
     "  --starts TIME         ISO 8601, e.g. 2026-03-01T09:00+08:00 (informative)\n"
     "  --ends TIME           ISO 8601, after --starts (informative)\n" DB_HELP},
    {"session", "list", lcbctl_sessions_list, "list course sessions",
     "usage: lcbctl session list [--institution CODE] [--db CONNINFO]\n"
     "Prints one tab-separated line per session: code, course, owner, starts and\n"
     "ends (UTC, \"-\" when not given), title.\n"
     "  --institution CODE    only the sessions of this institution's courses\n" DB_HELP},
    {"learner", "add", lcbctl_admin_learner_add, "register a learner",
     "usage: lcbctl learner add --id-document DOC --name NAME --institution CODE\n"
     "                          --secret-file FILE [--db CONNINFO]\n"
     "Registers a learner and the learner's account; prints the learner id. Only\n"
     "HMAC-SHA-256(secret, DOC) is stored, never DOC itself.\n"
     "  --id-document DOC     identity document number (ASCII letters are upper-cased\n"
     "                        before hashing, as lcbd does)\n"
     "  --institution CODE    home institution\n"
     "  --secret-file FILE    bank secret from secret init (not readable by others)\n" DB_HELP},
    {"card", "issue", lcbctl_card_issue, "issue a learning card",
     "usage: lcbctl card issue --learner ID --region DIVISION [--db CONNINFO]\n"
     "Issues a card to a learner without an active card; prints its number.\n" DB_HELP},
    {"card", "lost", lcbctl_card_lost, "report a card lost",
     "usage: lcbctl card lost NUMBER [--db CONNINFO]\n"
     "Marks an active card lost: every terminal refuses it from then on.\n" DB_HELP},
    {"card", "cancel", lcbctl_card_cancel, "cancel a card",
     "usage: lcbctl card cancel NUMBER [--db CONNINFO]\n" DB_HELP},
    {"card", "replace", lcbctl_card_replace, "replace a card (same account)",
     "usage: lcbctl card replace NUMBER [--region DIVISION] [--db CONNINFO]\n"
     "Marks an active or lost card replaced and issues a new one on the same\n"
     "account (region: the old card's unless given); prints the new number.\n" DB_HELP},
    {"balance", NULL, lcbctl_card_balance, "show a card holder's balances",
     "usage: lcbctl balance CARD [--db CONNINFO]\n"
     "Prints one line per unit: the unit and the learner's balance in it,\n"
     "e.g. \"community  1.50\" (minutes are whole minutes).\n" DB_HELP},
    {"verify", NULL, lcbctl_verify, "verify the whole ledger",
     "usage: lcbctl verify [--public-key PEM_FILE]... [--db CONNINFO]\n"
     "Recomputes every transaction's hash, checks each account's chain, every\n"
     "signature, double entry, each account's chain head and every balance.\n"
     "Exits 0 after \"verified N transactions ...\", or 1 after the first\n"
     "\"verify: FAILED ...\" line.\n"
     "  --public-key PEM_FILE trust only these keys, not table signing_keys;\n"
     "                        repeatable\n" DB_HELP},
    {"unit", "add", lcbctl_rules_unit_add, "define a unit of credit",
     "usage: lcbctl unit add --code UNIT --name NAME --scale N [--valid-months M] [--db CONNINFO]\n"
     "Adds a unit (amounts are kept in 1/N of it). With --valid-months, a deposit\n"
     "stops counting toward conversions M months after its completed_on.\n" DB_HELP},
    {"unit", "validity", lcbctl_rules_unit_validity, "set how long a unit's credits count",
     "usage: lcbctl unit validity UNIT (--months M | --forever) [--db CONNINFO]\n" DB_HELP},
    {"recognition", "add", lcbctl_rules_recognition_add, "add a certificate recognition rule",
     "usage: lcbctl recognition add --certificate CODE --result LEVEL --credits N\n"
     "                              [--valid-from YYYY-MM-DD] [--db CONNINFO]\n"
     "Adds the next version of the rule: an outcome of the certificate with result\n"
     "LEVEL (e.g. intermediate) deposits N (smallest steps of the certificate's\n"
     "unit) instead of its catalogue value, from --valid-from (default today).\n" DB_HELP},
    {"rule", "add", lcbctl_rules_rule_add, "add a version of a conversion rule",
     "usage: lcbctl rule add --code CODE --source UNIT... --target UNIT\n"
     "                       --programme-institution CODE --programme CODE --ratio N/D\n"
     "                       [--step S] [--min-level L] [--cap N] [--validity-months M]\n"
     "                       [--valid-from YYYY-MM-DD] [--db CONNINFO]\n"
     "Adds the next version of rule CODE and prints its version: target =\n"
     "floor(source * N / D) rounded down to whole steps S (100: whole credits), from\n"
     "sources of level >= L completed within M months, at most N target per learner\n"
     "and programme. Older versions' conversions stay as they were.\n" DB_HELP},
    {"rule", "list", lcbctl_rules_rule_list, "list conversion rules and their versions",
     "usage: lcbctl rule list [--code CODE] [--db CONNINFO]\n" DB_HELP},
    {"convert", "preview", lcbctl_rules_convert_preview, "show what a conversion would do",
     "usage: lcbctl convert preview --learner ID --rule CODE [--programme CODE] [HTTPS]\n"
     "Asks lcbd what converting would consume and grant, or why it cannot.\n" HTTPS_HELP},
    {"convert", "execute", lcbctl_rules_convert_execute, "convert a learner's credits",
     "usage: lcbctl convert execute --learner ID --rule CODE [--programme CODE]\n"
     "                              [--idempotency-key KEY] [HTTPS]\n"
     "Has lcbd post one signed conversion; prints \"posted TX hash H\".\n" HTTPS_HELP},
    {"reverse", NULL, lcbctl_rules_reverse, "reverse a deposit or a conversion",
     "usage: lcbctl reverse TRANSACTION --reason TEXT [--idempotency-key KEY] [HTTPS]\n"
     "Has lcbd post a signed compensating transaction naming TRANSACTION.\n" HTTPS_HELP},
    {"transcript", NULL, lcbctl_rules_transcript, "print a learner's transcript",
     "usage: lcbctl transcript LEARNER [--db CONNINFO]\n"
     "Per unit: balance, available and expired, then every deposit, conversion\n"
     "and reversal with its transaction id and hash.\n" DB_HELP},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

int lcbctl_fail(const struct lcb_error *err)
{
    fprintf(stderr, "lcbctl: %s: %s\n", err->code[0] ? err->code : "error", err->message);
    return LCBCTL_EXIT_FAIL;
}

static void print_command_name(FILE *out, const struct lcbctl_command *command)
{
    fprintf(out, "%s%s%s", command->name, command->sub ? " " : "",
            command->sub ? command->sub : "");
}

int lcbctl_usage_error(const struct lcbctl_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    fputs("lcbctl: usage: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'lcbctl ", stderr);
    if (ctx != NULL && ctx->command != NULL) {
        print_command_name(stderr, ctx->command);
        fputc(' ', stderr);
    }
    fputs("--help'.\n", stderr);
    return LCBCTL_EXIT_USAGE;
}

void lcbctl_print_usage(const struct lcbctl_command *command)
{
    fputs(command->usage, stdout);
}

static void print_help(void)
{
    fputs("usage: lcbctl [--db CONNINFO] COMMAND [ARGS]\n"
          "The administration tool of lcb, the lifelong-learning credit bank.\n\n"
          "Commands:\n",
          stdout);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        char name[40];
        snprintf(name, sizeof name, "%s%s%s", commands[i].name, commands[i].sub ? " " : "",
                 commands[i].sub ? commands[i].sub : "");
        printf("  %-18s %s\n", name, commands[i].summary);
    }
    fputs("\nThe database is --db CONNINFO (before or after the command), else env\n"
          "LCB_DB, else libpq's PG* variables. Errors are printed as\n"
          "\"lcbctl: CODE: MESSAGE\"; the exit status is 0 on success, 2 when the\n"
          "command line is wrong, 1 on any other failure.\n"
          "Run 'lcbctl COMMAND --help' for a command's options; see lcbctl(1).\n",
          stdout);
}

static bool is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

/* `lcbctl card --help`: every subcommand's usage; a bare `lcbctl card`
 * is a usage error that names the subcommands. */
static int print_group(const char *name, bool asked)
{
    if (!asked)
        fprintf(stderr, "lcbctl: usage: '%s' needs one of:", name);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(commands[i].name, name) != 0)
            continue;
        if (asked) {
            lcbctl_print_usage(&commands[i]);
            putchar('\n');
        } else {
            fprintf(stderr, " %s", commands[i].sub);
        }
    }
    if (asked)
        return LCBCTL_EXIT_OK;
    fprintf(stderr, "\nTry 'lcbctl %s --help'.\n", name);
    return LCBCTL_EXIT_USAGE;
}

static int dispatch(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    const char *name = argv[0];
    bool has_subcommands = false;

    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(commands[i].name, name) != 0)
            continue;
        if (commands[i].sub == NULL) {
            ctx->command = &commands[i];
            return commands[i].run(ctx, argc, argv);
        }
        has_subcommands = true;
        if (argc >= 2 && strcmp(commands[i].sub, argv[1]) == 0) {
            ctx->command = &commands[i];
            return commands[i].run(ctx, argc - 1, argv + 1);
        }
    }
    if (!has_subcommands)
        return lcbctl_usage_error(NULL, "unknown command '%s'", name);
    if (argc < 2 || is_help(argv[1]))
        return print_group(name, argc >= 2);
    return lcbctl_usage_error(NULL, "unknown command '%s %s'", name, argv[1]);
}

int main(int argc, char **argv)
{
    struct lcbctl_ctx ctx = {NULL, NULL};
    int i = 1;

    /* Global options come before the command word. */
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (is_help(argv[i])) {
            print_help();
            return LCBCTL_EXIT_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            puts("lcbctl " PACKAGE_VERSION);
            return LCBCTL_EXIT_OK;
        } else if (strncmp(argv[i], "--db=", 5) == 0) {
            ctx.conninfo = argv[i] + 5;
        } else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
            ctx.conninfo = argv[++i];
        } else {
            return lcbctl_usage_error(NULL, "unknown or incomplete option '%s'", argv[i]);
        }
    }
    if (i >= argc)
        return lcbctl_usage_error(NULL, "a command is required");
    return dispatch(&ctx, argc - i, argv + i);
}
