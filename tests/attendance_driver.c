/* Test-only driver of daemon/attendance.c: runs attendance_apply or
 * attendance_gaps on a real event loop, pool, ledger and signer, as lcbd
 * would for a terminal, and prints the answers, so tests/itest_attendance.c
 * exercises the C path before (and besides) the LCBP listener. Never part
 * of lcbd; never used outside the integration tests.
 *
 *   attendance_driver apply WINDOW_S FILE    (lines: INSTITUTION_ID
 *       TERMINAL SEQUENCE CARD SESSION in|out TIME_MS; one batch)
 *   attendance_driver gaps INSTITUTION_ID TERMINAL MAX
 * Database: env LCB_TEST_APP_DB; signing key: env LCB_TEST_SIGNING_KEY.
 * Prints one line per tap: "applied|duplicate ATTENDED REQUIRED CREDITS UNIT"
 * or "refused CODE"; for gaps "FIRST LAST" lines then "more 0|1". */
#include "daemon/app.h"
#include "daemon/attendance.h"
#include "daemon/config.h"
#include "daemon/db.h"
#include "daemon/ledger.h"
#include "daemon/log.h"
#include "daemon/signer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DRIVER_MAX_TAPS 500

static int exit_status = 1;

static void on_answers(const struct attendance_answer *answers, size_t n, void *arg)
{
    struct app *app = arg;
    for (size_t i = 0; i < n; i++) {
        const struct attendance_answer *a = &answers[i];
        if (a->status == ATTENDANCE_REFUSED)
            printf("refused %s\n", a->error.code);
        else
            printf("%s %" PRIu32 " %" PRIu32 " %" PRId64 " %s\n",
                   a->status == ATTENDANCE_APPLIED ? "applied" : "duplicate", a->attended_minutes,
                   a->required_minutes, a->credits, a->credit_unit[0] ? a->credit_unit : "-");
    }
    exit_status = 0;
    event_base_loopexit(app->base, NULL);
}

static void on_gaps(int status, const struct attendance_gap *gaps, size_t n, bool more, void *arg)
{
    struct app *app = arg;
    for (size_t i = 0; i < n; i++)
        printf("%" PRIu64 " %" PRIu64 "\n", gaps[i].first, gaps[i].last);
    printf("more %d\n", more ? 1 : 0);
    exit_status = status == 0 ? 0 : 1;
    event_base_loopexit(app->base, NULL);
}

static size_t read_taps(FILE *in, struct attendance_tap *taps)
{
    char line[512], direction[8];
    size_t n = 0;
    while (n < DRIVER_MAX_TAPS && fgets(line, sizeof line, in) != NULL) {
        struct attendance_tap *t = &taps[n];
        memset(t, 0, sizeof *t);
        if (sscanf(line, "%" SCNd64 " %32s %" SCNu64 " %19s %32s %7s %" SCNd64, &t->institution_id,
                   t->terminal, &t->sequence, t->card, t->session, direction,
                   &t->terminal_time_ms) != 7)
            continue;
        t->direction = strcmp(direction, "in") == 0 ? ATTENDANCE_IN : ATTENDANCE_OUT;
        n++;
    }
    return n;
}

static int start(struct app *app, int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "apply") == 0) {
        static struct attendance_tap taps[DRIVER_MAX_TAPS];
        FILE *in = fopen(argv[3], "r");
        if (in == NULL)
            return -1;
        size_t n = read_taps(in, taps);
        fclose(in);
        attendance_apply(app, taps, n, (uint32_t)strtoul(argv[2], NULL, 10), on_answers, app);
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "gaps") == 0) {
        attendance_gaps(app, strtoll(argv[2], NULL, 10), argv[3], strtoul(argv[4], NULL, 10),
                        on_gaps, app);
        return 0;
    }
    fprintf(stderr, "usage: attendance_driver apply WINDOW_S FILE | gaps INSTITUTION TERMINAL MAX\n");
    return -1;
}

int main(int argc, char **argv)
{
    struct lcbd_config cfg;
    struct app app;
    struct lcb_error err;
    const char *conninfo = getenv("LCB_TEST_APP_DB"), *key = getenv("LCB_TEST_SIGNING_KEY");

    memset(&app, 0, sizeof app);
    config_defaults(&cfg);
    app.cfg = &cfg;
    if (conninfo == NULL || key == NULL || log_open("stderr", LOG_LEVEL_WARNING) != 0)
        return 2;
    app.signer = signer_load(key, &err);
    app.base = event_base_new();
    if (app.signer == NULL || app.base == NULL)
        goto out;
    app.db = db_pool_new(app.base, conninfo, 2, 10);
    app.ledger = app.db != NULL ? ledger_new(&app) : NULL;
    if (app.ledger == NULL || start(&app, argc, argv) != 0)
        goto out;
    event_base_dispatch(app.base);
out:
    ledger_free(app.ledger);
    if (app.db != NULL)
        db_pool_free(app.db);
    if (app.base != NULL)
        event_base_free(app.base);
    signer_free(app.signer);
    log_close();
    return exit_status;
}
