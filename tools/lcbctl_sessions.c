/* lcbctl session add / session list: the course sessions card terminals tap
 * for (sql/005_attendance.sql). Adding goes through lcb_add_session() so
 * lcbctl and lcbd apply the same rules; nothing here builds SQL text from
 * the command line. */
#include "tools/lcbctl.h"
#include "tools/lcbctl_db.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

int lcbctl_sessions_add(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    const char *code = NULL, *course = NULL, *title = NULL, *starts = NULL, *ends = NULL;
    const struct lcbctl_opt opts[] = {{"code", LCBCTL_OPT_STRING, &code, true},
                                      {"course", LCBCTL_OPT_STRING, &course, true},
                                      {"title", LCBCTL_OPT_STRING, &title, true},
                                      {"starts", LCBCTL_OPT_STRING, &starts, false},
                                      {"ends", LCBCTL_OPT_STRING, &ends, false}};
    struct lcb_error err;
    int status;

    if (!lcbctl_args_parse(ctx, argc, argv, opts, 5, NULL, 0, &status))
        return status;
    if (lcbctl_args_code("--code", code, &err) != 0 ||
        lcbctl_args_code("--course", course, &err) != 0)
        return lcbctl_fail(&err);
    if (strlen(title) < 1 || strlen(title) > 200) {
        lcb_error_set(&err, "invalid_argument", "--title must be 1 to 200 characters");
        return lcbctl_fail(&err);
    }
    const char *params[5] = {code, course, title, starts, ends};
    return lcbctl_db_run(ctx,
                         "SELECT lcb_add_session($1, $2, $3, $4::timestamptz, $5::timestamptz)", 5,
                         params);
}

/* One line per session, tab-separated: code, course, owner, starts, ends
 * (ISO 8601 in UTC, "-" when open), title. */
int lcbctl_sessions_list(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    const char *institution = NULL;
    const struct lcbctl_opt opts[] = {{"institution", LCBCTL_OPT_STRING, &institution, false}};
    struct lcb_error err;
    PGconn *conn = NULL;
    PGresult *res = NULL;
    int status;

    if (!lcbctl_args_parse(ctx, argc, argv, opts, 1, NULL, 0, &status))
        return status;
    if (institution != NULL && lcbctl_args_code("--institution", institution, &err) != 0)
        return lcbctl_fail(&err);
    if ((conn = lcbctl_db_connect(ctx, &err)) == NULL)
        return lcbctl_fail(&err);
    const char *params[1] = {institution};
    res = lcbctl_db_exec(
        conn,
        "SELECT s.code, c.code, i.code,"
        " coalesce(to_char(s.starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '-'),"
        " coalesce(to_char(s.ends_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '-'),"
        " s.title FROM course_sessions s JOIN catalogue c ON c.id = s.catalogue_id"
        " JOIN institutions i ON i.id = s.institution_id"
        " WHERE $1::text IS NULL OR i.code = $1 ORDER BY s.code",
        1, params, &err);
    if (res == NULL)
        goto fail;
    for (int row = 0; row < PQntuples(res); row++)
        printf("%s\t%s\t%s\t%s\t%s\t%s\n", PQgetvalue(res, row, 0), PQgetvalue(res, row, 1),
               PQgetvalue(res, row, 2), PQgetvalue(res, row, 3), PQgetvalue(res, row, 4),
               PQgetvalue(res, row, 5));
    PQclear(res);
    PQfinish(conn);
    return LCBCTL_EXIT_OK;
fail:
    PQfinish(conn);
    return lcbctl_fail(&err);
}
