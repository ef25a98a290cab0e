/* lcbctl migrate: brings a database forward through sql/NNN_name.sql, each
 * file in its own transaction together with its schema_migrations row. It
 * never applies anything once an applied file is seen to have changed, and
 * never edits or re-runs an applied migration. */
#include "lib/crypto.h"
#include "tools/lcbctl.h"
#include "tools/lcbctl_db.h"
#include "tools/lcbctl_file.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef LCB_SQL_DIR
#define LCB_SQL_DIR "/usr/local/share/lcb/sql"
#endif

#define MIGRATION_MAX_BYTES (16u * 1024 * 1024)
#define MIGRATION_NAME_MAX 128
/* pg_advisory_lock key, so two concurrent `lcbctl migrate` runs serialise */
#define MIGRATION_LOCK "7103330"

struct migration {
    int version;
    char file[MIGRATION_NAME_MAX];
    char sha256_hex[2 * CRYPTO_HASH_LEN + 1];
    char *sql;
    bool applied;
};

struct migration_set {
    struct migration *items;
    size_t n;
};

/* "NNN_name.sql": digits, '_', a name of [A-Za-z0-9_-], ".sql". */
static int migration_version(const char *file)
{
    size_t len = strlen(file);
    size_t digits = 0;
    long version = 0;

    while (digits < 9 && isdigit((unsigned char)file[digits]))
        version = version * 10 + (file[digits++] - '0');
    if (digits == 0 || file[digits] != '_' || len < digits + 6 || len >= MIGRATION_NAME_MAX ||
        strcmp(file + len - 4, ".sql") != 0 || version == 0)
        return -1;
    for (size_t i = digits + 1; i < len - 4; i++) {
        if (!isalnum((unsigned char)file[i]) && file[i] != '_' && file[i] != '-')
            return -1;
    }
    return (int)version;
}

static int by_version(const void *a, const void *b)
{
    const struct migration *ma = a, *mb = b;
    return (ma->version > mb->version) - (ma->version < mb->version);
}

static void migration_set_free(struct migration_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        free(set->items[i].sql);
    free(set->items);
    set->items = NULL;
    set->n = 0;
}

static int add_file(struct migration_set *set, const char *dir, const char *file, int version,
                    struct lcb_error *err)
{
    char path[4096];
    struct migration *grown = realloc(set->items, (set->n + 1) * sizeof *grown);
    uint8_t digest[CRYPTO_HASH_LEN];
    size_t len = 0;

    if (grown == NULL)
        return lcb_error_set(err, "out_of_memory", "listing %s", dir);
    set->items = grown;
    struct migration *m = &set->items[set->n];
    memset(m, 0, sizeof *m);
    m->version = version;
    snprintf(m->file, sizeof m->file, "%s", file);
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
        return lcb_error_set(err, "file_error", "%s/%s: path too long", dir, file);
    m->sql = lcbctl_file_read(path, MIGRATION_MAX_BYTES, &len, err);
    if (m->sql == NULL)
        return -1;
    set->n++;
    crypto_sha256(m->sql, len, digest);
    crypto_hex_encode(digest, sizeof digest, m->sha256_hex);
    return 0;
}

/* The migrations of dir, sorted by version, each read and hashed. */
static int load_migrations(const char *dir, struct migration_set *set, struct lcb_error *err)
{
    DIR *d = opendir(dir);
    struct dirent *ent;

    if (d == NULL)
        return lcb_error_set(err, "file_error", "%s: %s", dir, strerror(errno));
    while ((ent = readdir(d)) != NULL) {
        int version = migration_version(ent->d_name);
        if (version > 0 && add_file(set, dir, ent->d_name, version, err) != 0)
            goto fail;
    }
    closedir(d);
    d = NULL;
    if (set->n == 0) {
        lcb_error_set(err, "migration_missing", "no NNN_name.sql files in %s", dir);
        goto fail;
    }
    qsort(set->items, set->n, sizeof set->items[0], by_version);
    for (size_t i = 1; i < set->n; i++) {
        if (set->items[i].version == set->items[i - 1].version) {
            lcb_error_set(err, "migration_conflict", "%s and %s have the same number",
                          set->items[i - 1].file, set->items[i].file);
            goto fail;
        }
    }
    return 0;
fail:
    if (d != NULL)
        closedir(d);
    migration_set_free(set);
    return -1;
}

static struct migration *find_version(struct migration_set *set, int version)
{
    for (size_t i = 0; i < set->n; i++) {
        if (set->items[i].version == version)
            return &set->items[i];
    }
    return NULL;
}

/* Marks what the database has applied; refuses a changed or missing file and
 * a new file numbered below an applied one (it would run out of order). */
static int check_applied(PGconn *conn, struct migration_set *set, struct lcb_error *err)
{
    PGresult *res = lcbctl_db_exec(
        conn, "SELECT version, name, sha256 FROM schema_migrations ORDER BY version", 0, NULL, err);
    int highest = 0;

    if (res == NULL)
        return -1;
    for (int row = 0; row < PQntuples(res); row++) {
        int version = atoi(PQgetvalue(res, row, 0));
        struct migration *m = find_version(set, version);
        if (m == NULL) {
            lcb_error_set(err, "migration_missing",
                          "version %d (%s) is applied but has no file here; is this an older "
                          "lcb?",
                          version, PQgetvalue(res, row, 1));
            goto fail;
        }
        if (strcmp(m->sha256_hex, PQgetvalue(res, row, 2)) != 0) {
            lcb_error_set(err, "migration_changed",
                          "%s changed after it was applied (sha256 %.16s... applied, %.16s... "
                          "now); migrations are never edited",
                          m->file, PQgetvalue(res, row, 2), m->sha256_hex);
            goto fail;
        }
        m->applied = true;
        highest = version > highest ? version : highest;
    }
    for (size_t i = 0; i < set->n; i++) {
        if (!set->items[i].applied && set->items[i].version < highest) {
            lcb_error_set(err, "migration_out_of_order", "%s is new but version %d is applied",
                          set->items[i].file, highest);
            goto fail;
        }
    }
    PQclear(res);
    return 0;
fail:
    PQclear(res);
    return -1;
}

/* One file and its schema_migrations row, in one transaction. The file's
 * statements go through PQexec, as they would through psql: it is trusted
 * code shipped with lcb, not input. */
static int apply_one(PGconn *conn, const struct migration *m, struct lcb_error *err)
{
    char version[16];
    const char *params[3] = {version, m->file, m->sha256_hex};
    PGresult *res = NULL;

    snprintf(version, sizeof version, "%d", m->version);
    if (lcbctl_db_command(conn, "BEGIN", 0, NULL, err) != 0)
        return -1;
    res = PQexec(conn, m->sql);
    if (res == NULL ||
        (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)) {
        lcbctl_db_error(res, conn, err);
        goto fail;
    }
    if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
        lcb_error_set(err, "migration_failed",
                      "%s ends its own transaction (it must not BEGIN or COMMIT); what it "
                      "committed is not recorded: repair by hand",
                      m->file);
        goto fail;
    }
    if (lcbctl_db_command(conn,
                          "INSERT INTO schema_migrations (version, name, sha256, applied_at) "
                          "VALUES ($1, $2, $3, now())",
                          3, params, err) != 0 ||
        lcbctl_db_command(conn, "COMMIT", 0, NULL, err) != 0)
        goto fail;
    PQclear(res);
    printf("applied %s\n", m->file);
    return 0;
fail:
    PQclear(res);
    if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
        struct lcb_error ignored;
        lcbctl_db_command(conn, "ROLLBACK", 0, NULL, &ignored);
    }
    if (strcmp(err->code, "migration_failed") != 0) {
        char cause[sizeof err->message];
        snprintf(cause, sizeof cause, "%s", err->message);
        lcb_error_set(err, "migration_failed", "%s: %s", m->file, cause);
    }
    return -1;
}

static int print_version(PGconn *conn, struct lcb_error *err)
{
    PGresult *res = lcbctl_db_exec(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations",
                                   0, NULL, err);
    if (res == NULL)
        return -1;
    printf("schema version %s\n", PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

static int migrate(PGconn *conn, struct migration_set *set, struct lcb_error *err)
{
    if (lcbctl_db_command(conn, "SELECT pg_advisory_lock(" MIGRATION_LOCK ")", 0, NULL, err) != 0 ||
        lcbctl_db_command(conn,
                          "CREATE TABLE IF NOT EXISTS schema_migrations ("
                          " version integer PRIMARY KEY, name text NOT NULL,"
                          " sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                          0, NULL, err) != 0 ||
        check_applied(conn, set, err) != 0)
        return -1;
    for (size_t i = 0; i < set->n; i++) {
        if (!set->items[i].applied && apply_one(conn, &set->items[i], err) != 0)
            return -1;
    }
    return print_version(conn, err);
}

int lcbctl_migrate(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    const char *dir = NULL;
    const struct lcbctl_opt opts[] = {{"sql-dir", LCBCTL_OPT_STRING, &dir, false}};
    struct migration_set set = {NULL, 0};
    struct lcb_error err;
    PGconn *conn = NULL;
    int status;

    if (!lcbctl_args_parse(ctx, argc, argv, opts, 1, NULL, 0, &status))
        return status;
    if (dir == NULL)
        dir = getenv("LCB_SQL_DIR");
    if (dir == NULL)
        dir = LCB_SQL_DIR;
    if (load_migrations(dir, &set, &err) != 0)
        return lcbctl_fail(&err);
    conn = lcbctl_db_connect(ctx, &err);
    if (conn == NULL || migrate(conn, &set, &err) != 0)
        goto fail;
    PQfinish(conn);
    migration_set_free(&set);
    return LCBCTL_EXIT_OK;
fail:
    PQfinish(conn);
    migration_set_free(&set);
    return lcbctl_fail(&err);
}
