/* lcbctl's command-line parsing: long options, positional arguments and
 * whole-number values, with the same usage errors for every command. It only
 * points into argv; it never copies, allocates or interprets option values. */
#include "tools/lcbctl.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const struct lcbctl_opt *find_opt(const struct lcbctl_opt *opts, size_t n_opts,
                                         const char *name, size_t name_len)
{
    for (size_t i = 0; i < n_opts; i++) {
        if (strlen(opts[i].name) == name_len && strncmp(opts[i].name, name, name_len) == 0)
            return &opts[i];
    }
    return NULL;
}

static bool store_value(struct lcbctl_ctx *ctx, const struct lcbctl_opt *opt, const char *value,
                        int *exit_status)
{
    if (opt->type == LCBCTL_OPT_STRING) {
        const char **dest = opt->dest;
        if (*dest != NULL) {
            *exit_status = lcbctl_usage_error(ctx, "--%s given twice", opt->name);
            return false;
        }
        *dest = value;
        return true;
    }
    struct lcbctl_list *list = opt->dest;
    if (list->n == LCBCTL_LIST_MAX) {
        *exit_status =
            lcbctl_usage_error(ctx, "--%s given more than %d times", opt->name, LCBCTL_LIST_MAX);
        return false;
    }
    list->items[list->n++] = value;
    return true;
}

/* One "--name[=value]" at argv[*i]; advances *i past a separate value. */
static bool parse_option(struct lcbctl_ctx *ctx, int argc, char **argv, int *i,
                         const struct lcbctl_opt *opts, size_t n_opts, int *exit_status)
{
    const char *name = argv[*i] + 2;
    const char *eq = strchr(name, '=');
    size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
    static const struct lcbctl_opt db_opt = {"db", LCBCTL_OPT_STRING, NULL, false};
    const struct lcbctl_opt *opt = find_opt(opts, n_opts, name, name_len);

    if (opt == NULL && name_len == 2 && strncmp(name, "db", 2) == 0)
        opt = &db_opt;
    if (opt == NULL) {
        *exit_status = lcbctl_usage_error(ctx, "unknown option '%s'", argv[*i]);
        return false;
    }
    if (opt->type == LCBCTL_OPT_FLAG) {
        if (eq != NULL) {
            *exit_status = lcbctl_usage_error(ctx, "--%s takes no value", opt->name);
            return false;
        }
        *(bool *)opt->dest = true;
        return true;
    }
    const char *value = eq ? eq + 1 : NULL;
    if (value == NULL) {
        if (*i + 1 >= argc) {
            *exit_status = lcbctl_usage_error(ctx, "--%s needs a value", opt->name);
            return false;
        }
        value = argv[++*i];
    }
    if (opt == &db_opt) {
        ctx->conninfo = value; /* after the command, it overrides one given before */
        return true;
    }
    return store_value(ctx, opt, value, exit_status);
}

static bool check_complete(struct lcbctl_ctx *ctx, const struct lcbctl_opt *opts, size_t n_opts,
                           size_t n_seen, size_t n_positional, int *exit_status)
{
    if (n_seen != n_positional) {
        *exit_status = lcbctl_usage_error(ctx, "expected %zu argument%s, got %zu", n_positional,
                                          n_positional == 1 ? "" : "s", n_seen);
        return false;
    }
    for (size_t i = 0; i < n_opts; i++) {
        if (!opts[i].required)
            continue;
        bool given = opts[i].type == LCBCTL_OPT_STRING ? *(const char **)opts[i].dest != NULL
                     : opts[i].type == LCBCTL_OPT_LIST ? ((struct lcbctl_list *)opts[i].dest)->n > 0
                                                       : *(bool *)opts[i].dest;
        if (!given) {
            *exit_status = lcbctl_usage_error(ctx, "--%s is required", opts[i].name);
            return false;
        }
    }
    return true;
}

bool lcbctl_args_parse(struct lcbctl_ctx *ctx, int argc, char **argv, const struct lcbctl_opt *opts,
                       size_t n_opts, const char **positional, size_t n_positional,
                       int *exit_status)
{
    size_t n_seen = 0;
    bool only_positional = false;

    /* --help wins wherever it stands, even after an incomplete command line. */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            lcbctl_print_usage(ctx->command);
            *exit_status = LCBCTL_EXIT_OK;
            return false;
        }
    }
    for (int i = 1; i < argc; i++) {
        if (!only_positional && strcmp(argv[i], "--") == 0) {
            only_positional = true;
        } else if (!only_positional && strncmp(argv[i], "--", 2) == 0) {
            if (!parse_option(ctx, argc, argv, &i, opts, n_opts, exit_status))
                return false;
        } else if (!only_positional && argv[i][0] == '-' && argv[i][1] != '\0') {
            *exit_status = lcbctl_usage_error(ctx, "unknown option '%s'", argv[i]);
            return false;
        } else {
            if (n_seen < n_positional)
                positional[n_seen] = argv[i];
            n_seen++;
        }
    }
    return check_complete(ctx, opts, n_opts, n_seen, n_positional, exit_status);
}

int lcbctl_args_int64(const char *what, const char *text, int64_t min, int64_t max, int64_t *out,
                      struct lcb_error *err)
{
    char *end = NULL;
    long long value;

    /* strtoll alone would accept leading blanks and a '+' */
    if (!isdigit((unsigned char)text[0]) && !(text[0] == '-' && isdigit((unsigned char)text[1])))
        goto fail;
    errno = 0;
    value = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || value < min || value > max)
        goto fail;
    *out = value;
    return 0;
fail:
    return lcb_error_set(err, "invalid_argument",
                         "%s must be a whole number from %lld to %lld, not '%s'", what,
                         (long long)min, (long long)max, text);
}

int lcbctl_args_code(const char *what, const char *code, struct lcb_error *err)
{
    size_t len = strlen(code);
    bool ok = len >= 1 && len <= 32;
    for (size_t i = 0; ok && i < len; i++)
        ok = isalnum((unsigned char)code[i]) || strchr("_.-", code[i]) != NULL;
    if (!ok)
        return lcb_error_set(err, "invalid_code", "%s '%s' is not 1-32 of A-Z a-z 0-9 _ . -",
                             what, code);
    return 0;
}
