/* lcbctl card issue / lost / cancel / replace and lcbctl balance: a learner's
 * cards and what the learner's account holds. Card state changes go through
 * the lcb_* functions of sql/; balances are shown in the unit's scale from
 * integers, never through floating point. */
#include "lib/card.h"
#include "tools/lcbctl.h"
#include "tools/lcbctl_db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEARNER_ID_MAX INT64_MAX

int lcbctl_card_issue(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    const char *learner = NULL, *region = NULL;
    const struct lcbctl_opt opts[] = {{"learner", LCBCTL_OPT_STRING, &learner, true},
                                      {"region", LCBCTL_OPT_STRING, &region, true}};
    struct lcb_error err;
    int64_t learner_id;
    int status;

    if (!lcbctl_args_parse(ctx, argc, argv, opts, 2, NULL, 0, &status))
        return status;
    if (lcbctl_args_int64("--learner", learner, 1, LEARNER_ID_MAX, &learner_id, &err) != 0)
        return lcbctl_fail(&err);
    if (!card_region_code_valid(region)) {
        lcb_error_set(&err, "invalid_region", "'%s' is not a 6-digit GB/T 2260 division code",
                      region);
        return lcbctl_fail(&err);
    }
    const char *params[2] = {learner, region};
    return lcbctl_db_run(ctx, "SELECT lcb_issue_card($1::bigint, $2)", 2, params);
}

/* card lost and card cancel: one card number, one state change. */
static int change_state(struct lcbctl_ctx *ctx, int argc, char **argv, const char *sql,
                        const char *state)
{
    const char *number = NULL;
    struct lcb_error err;
    int status;

    if (!lcbctl_args_parse(ctx, argc, argv, NULL, 0, &number, 1, &status))
        return status;
    if (card_number_check(number, &err) != 0)
        return lcbctl_fail(&err);
    const char *params[1] = {number};
    status = lcbctl_db_run(ctx, sql, 1, params);
    if (status == LCBCTL_EXIT_OK)
        printf("card %s is %s\n", number, state);
    return status;
}

int lcbctl_card_lost(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    return change_state(ctx, argc, argv, "SELECT lcb_report_card_lost($1)", "lost");
}

int lcbctl_card_cancel(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    return change_state(ctx, argc, argv, "SELECT lcb_cancel_card($1)", "cancelled");
}

int lcbctl_card_replace(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    const char *number = NULL, *region = NULL;
    const struct lcbctl_opt opts[] = {{"region", LCBCTL_OPT_STRING, &region, false}};
    struct lcb_error err;
    int status;

    if (!lcbctl_args_parse(ctx, argc, argv, opts, 1, &number, 1, &status))
        return status;
    if (card_number_check(number, &err) != 0)
        return lcbctl_fail(&err);
    if (region != NULL && !card_region_code_valid(region)) {
        lcb_error_set(&err, "invalid_region", "'%s' is not a 6-digit GB/T 2260 division code",
                      region);
        return lcbctl_fail(&err);
    }
    const char *params[2] = {number, region};
    return lcbctl_db_run(ctx, "SELECT lcb_replace_card($1, $2)", 2, params);
}

/* amount in 1/scale steps as a decimal: 150 at scale 100 is "1.50". */
static void format_amount(int64_t amount, int64_t scale, char *out, size_t cap)
{
    uint64_t magnitude = amount < 0 ? (uint64_t)0 - (uint64_t)amount : (uint64_t)amount;
    int decimals = scale >= 1000 ? 3 : scale >= 100 ? 2 : scale >= 10 ? 1 : 0;

    if (decimals == 0)
        snprintf(out, cap, "%s%" PRIu64, amount < 0 ? "-" : "", magnitude);
    else
        snprintf(out, cap, "%s%" PRIu64 ".%0*" PRIu64, amount < 0 ? "-" : "",
                 magnitude / (uint64_t)scale, decimals, magnitude % (uint64_t)scale);
}

static int print_balances(PGconn *conn, const char *number, struct lcb_error *err)
{
    const char *params[1] = {number};
    PGresult *res =
        lcbctl_db_exec(conn,
                       "SELECT c.status, u.code, u.scale, coalesce(b.amount, 0) FROM cards c"
                       " JOIN accounts a ON a.learner_id = c.learner_id CROSS JOIN units u"
                       " LEFT JOIN balances b ON b.account_id = a.id AND b.unit = u.code"
                       " WHERE c.number = $1 ORDER BY u.code",
                       1, params, err);

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return lcb_error_set(err, "card_not_found", "no card %s", number);
    }
    if (strcmp(PQgetvalue(res, 0, 0), "active") != 0)
        fprintf(stderr, "lcbctl: note: card %s is %s; these are its learner's balances\n", number,
                PQgetvalue(res, 0, 0));
    for (int row = 0; row < PQntuples(res); row++) {
        char amount[48];
        format_amount(strtoll(PQgetvalue(res, row, 3), NULL, 10),
                      strtoll(PQgetvalue(res, row, 2), NULL, 10), amount, sizeof amount);
        printf("%s  %s\n", PQgetvalue(res, row, 1), amount);
    }
    PQclear(res);
    return 0;
}

int lcbctl_card_balance(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    const char *number = NULL;
    struct lcb_error err;
    PGconn *conn;
    int status;

    if (!lcbctl_args_parse(ctx, argc, argv, NULL, 0, &number, 1, &status))
        return status;
    if (card_number_check(number, &err) != 0)
        return lcbctl_fail(&err);
    conn = lcbctl_db_connect(ctx, &err);
    if (conn == NULL)
        return lcbctl_fail(&err);
    status = print_balances(conn, number, &err) == 0 ? LCBCTL_EXIT_OK : lcbctl_fail(&err);
    PQfinish(conn);
    return status;
}
