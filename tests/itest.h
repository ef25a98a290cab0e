/* The integration-test harness: the real PostgreSQL cluster that
 * tests/integration.sh started, lcbctl and lcbd run as child processes, SQL
 * as the superuser, and a blocking HTTPS client. Test code only: blocking is
 * fine here. Helpers that cannot go on abort the running test (ck_abort_msg);
 * those that return a status leave the judgement to the test. */
#ifndef LCB_ITEST_H
#define LCB_ITEST_H

#include <jansson.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define ITEST_PATH_MAX 512
#define ITEST_CODE_MAX 33 /* institution and catalogue codes: 1-32 characters */
#define ITEST_CARD_MAX 20 /* 19 digits */

/* What tests/integration.sh exported; read by itest_setup_once(). */
struct itest_env {
    char dir[ITEST_PATH_MAX];           /* LCB_TEST_DIR: scratch space of this run */
    char superuser_db[1024];            /* LCB_TEST_SUPERUSER_DB: conninfo as postgres */
    char app_db[1024];                  /* LCB_TEST_APP_DB: conninfo as lcbd (lcb_app) */
    char pg_cluster[ITEST_PATH_MAX];    /* LCB_TEST_PG_CLUSTER: for tests/pg-cluster */
    char lcbd[ITEST_PATH_MAX];          /* LCB_LCBD: the built daemon (may not exist) */
    char lcbctl[ITEST_PATH_MAX];        /* LCB_LCBCTL: the built tool */
    char srcdir[ITEST_PATH_MAX];        /* LCB_SRCDIR: top of the source tree */
    char ca_dir[ITEST_PATH_MAX];        /* LCB_TEST_CA_DIR: ca.crt and ca.key */
    char ca_cert[ITEST_PATH_MAX];       /* ca_dir/ca.crt */
    char server_prefix[ITEST_PATH_MAX]; /* LCB_TEST_SERVER_PREFIX: .crt/.key of lcbd */
    char signing_key[ITEST_PATH_MAX];   /* LCB_TEST_SIGNING_KEY: Ed25519 PEM */
    char id_secret[ITEST_PATH_MAX];     /* LCB_TEST_ID_SECRET: the bank secret */
    bool valgrind;                      /* LCB_TEST_VALGRIND=1: run lcbd under valgrind */
};

/* Reads the environment once (later calls do nothing); exits 99 with a
 * message when a variable is missing. Also sets LCB_DB to the superuser
 * conninfo for lcbctl, and ignores SIGPIPE. Call it from main(). */
void itest_setup_once(void);
const struct itest_env *itest_env(void);

/* ---- child processes ---------------------------------------------------- */

/* Runs argv[0] (a path; no shell, no PATH search unless it has no '/') with
 * argv, stdin from /dev/null. *out (when out is non-NULL) gets stdout and
 * stderr together, NUL-terminated, malloc'd: the caller frees it. Returns the
 * exit status, 128 + signal number when killed, or -1 when it cannot run. */
int itest_run(char **out, char *const argv[]);

/* itest_run of lcbctl with the given arguments, NULL-terminated:
 *   itest_lcbctl(&out, "balance", card, (char *)NULL); */
int itest_lcbctl(char **out, ...) __attribute__((sentinel));

/* As itest_lcbctl, but aborts the test unless lcbctl exits 0. Returns its
 * output with surrounding white space trimmed (malloc'd; caller frees). */
char *itest_lcbctl_ok(const char *first, ...) __attribute__((sentinel));

/* A code no other call in this run returns, "<prefix>-<pid>-<counter>"
 * (prefix cut to 8; about 16 characters, so a short suffix still fits the
 * 32 of a code): a per-test namespace for codes, names and documents. */
void itest_unique(char out[ITEST_CODE_MAX], const char *prefix);

/* ---- demo data ---------------------------------------------------------- */

#define ITEST_DISTRICT_CARDS 3

/* A small district made through lcbctl, with codes unique to one call:
 *
 *   district (district_centre, region 330206)
 *   +- branch (branch_centre)          +- school (vocational_school)
 *      +- point (learning_point)       +- other_school (vocational_school)
 *
 * Cert fields are path prefixes (PREFIX.crt, PREFIX.key), as itest_https
 * takes them. */
struct itest_district {
    char prefix[ITEST_CODE_MAX]; /* the unique prefix of every code below */
    char district[ITEST_CODE_MAX];
    char branch[ITEST_CODE_MAX];
    char point[ITEST_CODE_MAX];
    char school[ITEST_CODE_MAX];
    char other_school[ITEST_CODE_MAX];
    char school_course[ITEST_CODE_MAX]; /* course of school: vocational, 200 = 2.00, 120 min, level
                                           3 */
    char school_certificate[ITEST_CODE_MAX]; /* certificate of school: vocational, 500, level 4 */
    char other_course[ITEST_CODE_MAX];       /* course of other_school: vocational, 300 */
    char branch_course[ITEST_CODE_MAX];      /* course of branch: community, 100, 90 min, level 1 */
    long long learner_ids[ITEST_DISTRICT_CARDS];      /* learners registered at branch */
    char cards[ITEST_DISTRICT_CARDS][ITEST_CARD_MAX]; /* their active cards, region 330206 */
    char admin_cert[ITEST_PATH_MAX];                  /* administrator of district */
    char branch_admin_cert[ITEST_PATH_MAX];           /* administrator of branch */
    char school_cert[ITEST_PATH_MAX];                 /* institution role, school */
    char other_school_cert[ITEST_PATH_MAX];           /* institution role, other_school */
    char auditor_cert[ITEST_PATH_MAX];                /* auditor of district */
};

/* Builds the district; aborts the test when any lcbctl call fails. prefix
 * (letters and digits, up to 8) makes the codes readable in logs. */
void itest_district_make(struct itest_district *d, const char *prefix);

/* A new course of d's school (vocational, 200 = 2.00 credits, level 3) whose
 * code is written to code: a course's credits count once per learner, so
 * tests that post again and again need new courses. */
void itest_fresh_course(const struct itest_district *d, char code[ITEST_CODE_MAX]);

/* ---- lcbd --------------------------------------------------------------- */

struct itest_lcbd {
    pid_t pid; /* 0 when not running */
    int port;
    char config_path[ITEST_PATH_MAX];
    char log_path[ITEST_PATH_MAX]; /* lcbd's stderr (and valgrind's report) */
};

/* Whether the lcbd binary has been built. */
bool itest_lcbd_available(void);

/* Writes a config in LCB_TEST_DIR (free port; TLS, keys and database from
 * the environment; log_level debug) plus extra_config_lines (may be NULL;
 * "key = value\n" lines replace the defaults of the same keys), starts lcbd,
 * under valgrind when LCB_TEST_VALGRIND=1, and waits until /healthz answers
 * at all (20 s, 120 s under valgrind). Returns 0, or -1 after printing the
 * log when lcbd exits or does not answer (it is then killed). */
int itest_lcbd_start(struct itest_lcbd *d, const char *extra_config_lines);

/* SIGTERM, then waits (30 s, 120 s under valgrind; then SIGKILL). Returns
 * the exit status (0 after a graceful shutdown, 99 for valgrind errors),
 * 128 + signal when killed by one, -1 when it was not running. Works too
 * from a forked test on an lcbd that the suite's unchecked fixture started
 * (the status is then read from /proc while lcbd is a zombie). */
int itest_lcbd_stop(struct itest_lcbd *d);

/* Prints the end of lcbd's log to stderr (for failing tests). */
void itest_lcbd_dump_log(const struct itest_lcbd *d);

/* The whole of a file, such as lcbd's log (malloc'd, NUL-terminated; the
 * caller frees it); aborts the test when it cannot be read. */
char *itest_read_file(const char *path);

/* ---- HTTPS -------------------------------------------------------------- */

/* One blocking HTTP/1.1 request over TLS 1.3 to lcbd at 127.0.0.1:port,
 * verifying the server against the test CA and, when cert_prefix is
 * non-NULL, presenting PREFIX.crt/PREFIX.key. Sends Connection: close and
 * Content-Type: application/json with a body. Returns 0 with *http_status
 * and the body (malloc'd, NUL-terminated, caller frees; *body_len may be
 * NULL), or -1 after printing why (connect, TLS or a malformed response). */
int itest_https_raw(const struct itest_lcbd *d, const char *method, const char *path,
                    const char *body, const char *cert_prefix, int *http_status, char **body_out,
                    size_t *body_len);

/* The same, parsing the body as JSON: *json_out (when json_out is non-NULL)
 * is the document (json_decref it) or NULL when the body is not JSON. */
int itest_https(const struct itest_lcbd *d, const char *method, const char *path, const char *body,
                const char *cert_prefix, int *http_status, json_t **json_out);

/* Whether lcbd at d->port answers GET /healthz with any HTTP status (200 or
 * 503); prints nothing, for polling while it starts or recovers. */
bool itest_https_probe(const struct itest_lcbd *d);

/* ---- PostgreSQL --------------------------------------------------------- */

/* Runs sql (one or more statements separated by semicolons; the result is
 * the last one's) as the superuser on a fresh connection. Aborts the test
 * unless it succeeds; the caller PQclear()s the result. */
PGresult *itest_sql(const char *sql);

/* The first column of the first row of itest_sql(sql), as a long; aborts
 * when there is no row or the value is NULL. */
long itest_sql_long(const char *sql);

/* Runs sql with text parameters (NULL-terminated list of n) on a fresh
 * connection to conninfo (NULL: the superuser's). Never aborts on an SQL
 * error: returns the result whatever its status (a failed connection gives
 * a PGRES_FATAL_ERROR result). Check PQresultStatus and
 * PQresultErrorField(res, PG_DIAG_SQLSTATE); the caller PQclear()s it. */
PGresult *itest_sql_params(const char *conninfo, const char *sql, int n_params,
                           const char *const *params);

/* A connection to conninfo (NULL: the superuser's), for tests that need a
 * transaction across statements; aborts the test when it cannot connect.
 * The caller PQfinish()es it. */
PGconn *itest_pg_connect(const char *conninfo);

/* Runs sql with text parameters on conn; aborts the test unless it
 * succeeds (the result is discarded). */
void itest_exec_ok(PGconn *conn, const char *sql, int n_params, const char *const *params);

/* Restarts the cluster through tests/pg-cluster; immediate: a crash
 * (pg_ctl stop -m immediate), so that recovery replays the WAL. Aborts the
 * test on failure. Open connections are broken afterwards. */
void itest_pg_restart(bool immediate);

#endif
