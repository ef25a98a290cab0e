/* lcbctl ca init / cert server / cert issue / cert revoke: the bank's own
 * small CA for TLS and client certificates. A client certificate is valid
 * for lcbd only once recorded in table credentials; a key file is never
 * overwritten and never outlives a failed issue. */
#include "lib/crypto.h"
#include "tools/lcbctl.h"
#include "tools/lcbctl_db.h"
#include "tools/lcbctl_file.h"
#include "tools/lcbctl_x509.h"

#include <errno.h>
#include <openssl/objects.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CA_DAYS 3652 /* ten years, leap days included */
#define DEFAULT_DAYS "825"

static const char *const roles[] = {"administrator", "institution", "terminal", "auditor"};

static int make_dir(const char *dir, struct lcb_error *err)
{
    struct stat st;
    if (mkdir(dir, 0755) == 0)
        return 0;
    if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    return lcb_error_set(err, "file_error", "%s: %s", dir,
                         errno == EEXIST ? "not a directory" : strerror(errno));
}

int lcbctl_pki_ca_init(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    const char *dir = NULL, *name = NULL;
    const struct lcbctl_opt opts[] = {{"dir", LCBCTL_OPT_STRING, &dir, true},
                                      {"name", LCBCTL_OPT_STRING, &name, false}};
    char key_path[LCBCTL_PATH_MAX], crt_path[LCBCTL_PATH_MAX];
    struct lcb_error err;
    EVP_PKEY *key = NULL;
    X509 *crt = NULL;
    int status;

    if (!lcbctl_args_parse(ctx, argc, argv, opts, 2, NULL, 0, &status))
        return status;
    struct lcbctl_x509_spec spec = {
        name ? name : "lcb credit bank CA", NULL, NULL, CA_DAYS, true, NID_undef, NULL, 0};
    if (lcbctl_x509_path(key_path, dir, "/ca.key", &err) != 0 ||
        lcbctl_x509_path(crt_path, dir, "/ca.crt", &err) != 0 ||
        lcbctl_file_absent(key_path, &err) != 0 || lcbctl_file_absent(crt_path, &err) != 0 ||
        make_dir(dir, &err) != 0)
        goto fail;
    key = lcbctl_x509_new_key(&err);
    if (key == NULL)
        goto fail;
    crt = lcbctl_x509_make(&spec, key, NULL, NULL, &err);
    if (crt == NULL || lcbctl_x509_write_pair(key_path, key, crt_path, crt, &err) != 0)
        goto fail;
    printf("%s\n", crt_path);
    X509_free(crt);
    EVP_PKEY_free(key);
    return LCBCTL_EXIT_OK;
fail:
    X509_free(crt);
    EVP_PKEY_free(key);
    return lcbctl_fail(&err);
}

/* Signs a new key's certificate with the CA of ca_dir and writes both files. */
static int issue_pair(const char *ca_dir, const struct lcbctl_x509_spec *spec, const char *prefix,
                      X509 **crt_out, struct lcb_error *err)
{
    char key_path[LCBCTL_PATH_MAX], crt_path[LCBCTL_PATH_MAX];
    X509 *ca_crt = NULL, *crt = NULL;
    EVP_PKEY *ca_key = NULL, *key = NULL;
    int rc = -1;

    if (lcbctl_x509_path(key_path, prefix, ".key", err) != 0 ||
        lcbctl_x509_path(crt_path, prefix, ".crt", err) != 0 ||
        lcbctl_file_absent(key_path, err) != 0 || lcbctl_file_absent(crt_path, err) != 0 ||
        lcbctl_x509_load_ca(ca_dir, &ca_crt, &ca_key, err) != 0)
        goto out;
    key = lcbctl_x509_new_key(err);
    if (key == NULL)
        goto out;
    crt = lcbctl_x509_make(spec, key, ca_crt, ca_key, err);
    if (crt == NULL || lcbctl_x509_write_pair(key_path, key, crt_path, crt, err) != 0)
        goto out;
    *crt_out = crt;
    crt = NULL;
    rc = 0;
out:
    X509_free(crt);
    EVP_PKEY_free(key);
    X509_free(ca_crt);
    EVP_PKEY_free(ca_key);
    return rc;
}

static void remove_pair(const char *prefix)
{
    struct lcb_error ignored;
    char path[LCBCTL_PATH_MAX];
    if (lcbctl_x509_path(path, prefix, ".key", &ignored) == 0)
        unlink(path);
    if (lcbctl_x509_path(path, prefix, ".crt", &ignored) == 0)
        unlink(path);
}

int lcbctl_pki_cert_server(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    const char *ca_dir = NULL, *out = NULL, *days_text = NULL;
    struct lcbctl_list hosts = {{NULL}, 0};
    const struct lcbctl_opt opts[] = {{"ca-dir", LCBCTL_OPT_STRING, &ca_dir, true},
                                      {"out", LCBCTL_OPT_STRING, &out, true},
                                      {"host", LCBCTL_OPT_LIST, &hosts, false},
                                      {"days", LCBCTL_OPT_STRING, &days_text, false}};
    const char *names[LCBCTL_LIST_MAX + 2] = {"localhost", "127.0.0.1"};
    struct lcb_error err;
    X509 *crt = NULL;
    int64_t days;
    int status;

    if (!lcbctl_args_parse(ctx, argc, argv, opts, 4, NULL, 0, &status))
        return status;
    if (lcbctl_args_int64("--days", days_text ? days_text : DEFAULT_DAYS, 1, 3650, &days, &err) !=
        0)
        return lcbctl_fail(&err);
    for (size_t i = 0; i < hosts.n; i++)
        names[2 + i] = hosts.items[i];
    struct lcbctl_x509_spec spec = {hosts.n > 0 ? hosts.items[0] : "localhost",
                                    NULL,
                                    NULL,
                                    (int)days,
                                    false,
                                    NID_server_auth,
                                    names,
                                    2 + hosts.n};
    if (issue_pair(ca_dir, &spec, out, &crt, &err) != 0)
        return lcbctl_fail(&err);
    printf("%s.crt\n", out);
    X509_free(crt);
    return LCBCTL_EXIT_OK;
}

static int find_institution(PGconn *conn, const char *code, char id[24], struct lcb_error *err)
{
    const char *params[1] = {code};
    PGresult *res =
        lcbctl_db_exec(conn, "SELECT id FROM institutions WHERE code = $1", 1, params, err);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return lcb_error_set(err, "institution_not_found", "no institution with code %s", code);
    }
    snprintf(id, 24, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

/* Inserts the credential row of crt for institution_id (inside the caller's
 * transaction); fills the printed fingerprint. The row's subject is the
 * certificate's name (CN): a terminal's id on the wire and in its taps. */
static int record_credential(PGconn *conn, X509 *crt, const char *name, const char *role,
                             const char *institution_id,
                             char fingerprint_hex[2 * LCBCTL_FINGERPRINT_LEN + 1],
                             struct lcb_error *err)
{
    uint8_t fingerprint[LCBCTL_FINGERPRINT_LEN];
    char fingerprint_param[2 * LCBCTL_FINGERPRINT_LEN + 3] = "\\x";
    char not_after[32];

    if (lcbctl_x509_fingerprint(crt, fingerprint, err) != 0 ||
        lcbctl_x509_not_after(crt, not_after, err) != 0)
        return -1;
    crypto_hex_encode(fingerprint, sizeof fingerprint, fingerprint_hex);
    strcat(fingerprint_param, fingerprint_hex);
    const char *params[5] = {fingerprint_param, name, role, institution_id, not_after};
    return lcbctl_db_command(conn,
                             "INSERT INTO credentials (fingerprint, subject, role, institution_id, "
                             "not_after) VALUES ($1, $2, $3, $4, $5)",
                             5, params, err);
}

static bool role_valid(const char *role)
{
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        if (strcmp(role, roles[i]) == 0)
            return true;
    }
    return false;
}

/* The files are written inside the transaction that records them, so a
 * failure on either side leaves neither an unrecorded key nor a row
 * without its certificate. */
static int issue_client(PGconn *conn, const char *ca_dir, const struct lcbctl_x509_spec *spec,
                        const char *prefix, char fingerprint_hex[2 * LCBCTL_FINGERPRINT_LEN + 1],
                        struct lcb_error *err)
{
    char institution_id[24];
    bool files_written = false;
    X509 *crt = NULL;

    if (find_institution(conn, spec->organization, institution_id, err) != 0 ||
        lcbctl_db_command(conn, "BEGIN", 0, NULL, err) != 0)
        return -1;
    if (issue_pair(ca_dir, spec, prefix, &crt, err) != 0)
        goto fail;
    files_written = true;
    if (record_credential(conn, crt, spec->common_name, spec->organizational_unit, institution_id,
                          fingerprint_hex, err) != 0 ||
        lcbctl_db_command(conn, "COMMIT", 0, NULL, err) != 0)
        goto fail;
    X509_free(crt);
    return 0;
fail:
    if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
        struct lcb_error ignored;
        lcbctl_db_command(conn, "ROLLBACK", 0, NULL, &ignored);
    }
    if (files_written)
        remove_pair(prefix);
    X509_free(crt);
    return -1;
}

int lcbctl_pki_cert_issue(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    const char *ca_dir = NULL, *role = NULL, *institution = NULL, *name = NULL, *out = NULL,
               *days_text = NULL;
    const struct lcbctl_opt opts[] = {{"ca-dir", LCBCTL_OPT_STRING, &ca_dir, true},
                                      {"role", LCBCTL_OPT_STRING, &role, true},
                                      {"institution", LCBCTL_OPT_STRING, &institution, true},
                                      {"name", LCBCTL_OPT_STRING, &name, true},
                                      {"out", LCBCTL_OPT_STRING, &out, true},
                                      {"days", LCBCTL_OPT_STRING, &days_text, false}};
    char fingerprint_hex[2 * LCBCTL_FINGERPRINT_LEN + 1];
    struct lcb_error err;
    PGconn *conn = NULL;
    int64_t days;
    int status;

    if (!lcbctl_args_parse(ctx, argc, argv, opts, 6, NULL, 0, &status))
        return status;
    if (!role_valid(role)) {
        lcb_error_set(&err, "invalid_role",
                      "'%s' is not a role (administrator, institution, terminal, auditor)", role);
        return lcbctl_fail(&err);
    }
    /* A terminal's name is its id on the wire (LCBP HELLO_OK) and in every tap. */
    if (strcmp(role, "terminal") == 0 && lcbctl_args_code("a terminal's --name", name, &err) != 0)
        return lcbctl_fail(&err);
    if (lcbctl_args_int64("--days", days_text ? days_text : DEFAULT_DAYS, 1, 3650, &days, &err) !=
        0)
        return lcbctl_fail(&err);
    struct lcbctl_x509_spec spec = {name,  institution,     role, (int)days,
                                    false, NID_client_auth, NULL, 0};
    conn = lcbctl_db_connect(ctx, &err);
    if (conn == NULL || issue_client(conn, ca_dir, &spec, out, fingerprint_hex, &err) != 0) {
        PQfinish(conn);
        return lcbctl_fail(&err);
    }
    PQfinish(conn);
    printf("%s\n", fingerprint_hex);
    return LCBCTL_EXIT_OK;
}

/* Fingerprint of --cert FILE or --fingerprint HEX as a bytea parameter. */
static int revoke_target(const char *cert_path, const char *hex,
                         char param[2 * LCBCTL_FINGERPRINT_LEN + 3], struct lcb_error *err)
{
    uint8_t fingerprint[LCBCTL_FINGERPRINT_LEN];

    if ((cert_path == NULL) == (hex == NULL))
        return lcb_error_set(err, "invalid_argument",
                             "give exactly one of --cert and --fingerprint");
    if (cert_path != NULL) {
        X509 *crt = lcbctl_x509_load_cert(cert_path, err);
        int rc = crt ? lcbctl_x509_fingerprint(crt, fingerprint, err) : -1;
        X509_free(crt);
        if (rc != 0)
            return -1;
    } else if (strlen(hex) != 2 * LCBCTL_FINGERPRINT_LEN ||
               crypto_hex_decode(hex, fingerprint, sizeof fingerprint) != 0) {
        return lcb_error_set(err, "invalid_argument", "a fingerprint is 64 hex digits");
    }
    strcpy(param, "\\x");
    crypto_hex_encode(fingerprint, sizeof fingerprint, param + 2);
    return 0;
}

int lcbctl_pki_cert_revoke(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    const char *cert_path = NULL, *hex = NULL;
    const struct lcbctl_opt opts[] = {{"cert", LCBCTL_OPT_STRING, &cert_path, false},
                                      {"fingerprint", LCBCTL_OPT_STRING, &hex, false}};
    char param[2 * LCBCTL_FINGERPRINT_LEN + 3];
    const char *params[1] = {param};
    struct lcb_error err;
    PGconn *conn = NULL;
    PGresult *res = NULL;
    int status;

    if (!lcbctl_args_parse(ctx, argc, argv, opts, 2, NULL, 0, &status))
        return status;
    if (revoke_target(cert_path, hex, param, &err) != 0)
        return lcbctl_fail(&err);
    conn = lcbctl_db_connect(ctx, &err);
    if (conn == NULL)
        goto fail;
    /* one statement, so revoking twice reports the first revocation */
    res = lcbctl_db_exec(conn,
                         "WITH r AS (UPDATE credentials SET revoked_at = now() WHERE fingerprint = "
                         "$1 AND revoked_at IS NULL RETURNING subject) "
                         "SELECT (SELECT subject FROM r), "
                         "(SELECT revoked_at::text FROM credentials WHERE fingerprint = $1)",
                         1, params, &err);
    if (res == NULL)
        goto fail;
    if (PQgetisnull(res, 0, 0)) {
        if (PQgetisnull(res, 0, 1))
            lcb_error_set(&err, "credential_not_found", "no credential with fingerprint %s",
                          param + 2);
        else
            lcb_error_set(&err, "already_revoked", "the credential was revoked at %s",
                          PQgetvalue(res, 0, 1));
        goto fail;
    }
    printf("revoked %s\n", PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(conn);
    return LCBCTL_EXIT_OK;
fail:
    PQclear(res);
    PQfinish(conn);
    return lcbctl_fail(&err);
}
