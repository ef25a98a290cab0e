/* lcbctl institution add / course add / certificate add / learner add: the
 * registers behind the ledger, through the lcb_add_* functions of sql/ so
 * lcbctl and lcbd apply the same rules. An identity document number is
 * hashed here and never sent to the database or printed. */
#include "lib/card.h"
#include "lib/crypto.h"
#include "tools/lcbctl.h"
#include "tools/lcbctl_db.h"
#include "tools/lcbctl_keys.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#define ID_DOCUMENT_MAX 64 /* bytes, as lcbd accepts them */

static const char *const institution_kinds[] = {"district_centre",   "branch_centre",
                                                "learning_point",    "vocational_school",
                                                "training_provider", "online_platform"};

static bool institution_kind_valid(const char *kind)
{
    for (size_t i = 0; i < sizeof institution_kinds / sizeof institution_kinds[0]; i++) {
        if (strcmp(kind, institution_kinds[i]) == 0)
            return true;
    }
    return false;
}

int lcbctl_admin_institution_add(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    const char *code = NULL, *name = NULL, *kind = NULL, *parent = NULL, *region = NULL;
    const struct lcbctl_opt opts[] = {{"code", LCBCTL_OPT_STRING, &code, true},
                                      {"name", LCBCTL_OPT_STRING, &name, true},
                                      {"kind", LCBCTL_OPT_STRING, &kind, true},
                                      {"parent", LCBCTL_OPT_STRING, &parent, false},
                                      {"region", LCBCTL_OPT_STRING, &region, false}};
    struct lcb_error err;
    int status;

    if (!lcbctl_args_parse(ctx, argc, argv, opts, 5, NULL, 0, &status))
        return status;
    if (lcbctl_args_code("--code", code, &err) != 0)
        return lcbctl_fail(&err);
    if (!institution_kind_valid(kind)) {
        lcb_error_set(&err, "invalid_kind",
                      "'%s' is not an institution kind (district_centre, branch_centre, "
                      "learning_point, vocational_school, training_provider, online_platform)",
                      kind);
        return lcbctl_fail(&err);
    }
    if (region != NULL && !card_region_code_valid(region)) {
        lcb_error_set(&err, "invalid_region", "'%s' is not a 6-digit GB/T 2260 division code",
                      region);
        return lcbctl_fail(&err);
    }
    const char *params[5] = {code, name, kind, parent, region};
    return lcbctl_db_run(ctx, "SELECT lcb_add_institution($1, $2, $3, $4, $5)", 5, params);
}

/* course add and certificate add differ only in the catalogue kind. */
static int catalogue_add(struct lcbctl_ctx *ctx, int argc, char **argv, const char *kind)
{
    const char *code = NULL, *owner = NULL, *title = NULL, *unit = NULL, *credits = NULL,
               *minutes = NULL, *level = NULL;
    const struct lcbctl_opt opts[] = {{"code", LCBCTL_OPT_STRING, &code, true},
                                      {"owner", LCBCTL_OPT_STRING, &owner, true},
                                      {"title", LCBCTL_OPT_STRING, &title, true},
                                      {"unit", LCBCTL_OPT_STRING, &unit, true},
                                      {"credits", LCBCTL_OPT_STRING, &credits, true},
                                      {"hours-minutes", LCBCTL_OPT_STRING, &minutes, true},
                                      {"level", LCBCTL_OPT_STRING, &level, true}};
    struct lcb_error err;
    int64_t credit_value, required_minutes, level_value;
    int status;

    if (!lcbctl_args_parse(ctx, argc, argv, opts, 7, NULL, 0, &status))
        return status;
    /* the ranges of the catalogue table's CHECK constraints */
    if (lcbctl_args_code("--code", code, &err) != 0 ||
        lcbctl_args_int64("--credits", credits, 1, 100000, &credit_value, &err) != 0 ||
        lcbctl_args_int64("--hours-minutes", minutes, 0, 600000, &required_minutes, &err) != 0 ||
        lcbctl_args_int64("--level", level, 1, 10, &level_value, &err) != 0)
        return lcbctl_fail(&err);
    const char *params[8] = {code, kind, owner, title, unit, credits, minutes, level};
    return lcbctl_db_run(ctx,
                         "SELECT lcb_add_catalogue_item($1, $2, $3, $4, $5, $6::bigint, "
                         "$7::integer, $8::smallint)",
                         8, params);
}

int lcbctl_admin_course_add(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    return catalogue_add(ctx, argc, argv, "course");
}

int lcbctl_admin_certificate_add(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    return catalogue_add(ctx, argc, argv, "certificate");
}

/* The keyed hash under which lcbd also finds the learner: ASCII letters are
 * upper-cased first (a check character typed 'x' or 'X' is one person), the
 * key is the decoded secret. */
static int id_document_hash(const char *secret_file, const char *document,
                            char param[2 * CRYPTO_HASH_LEN + 3], struct lcb_error *err)
{
    uint8_t secret[LCBCTL_SECRET_MAX_LEN], digest[CRYPTO_HASH_LEN];
    char normal[ID_DOCUMENT_MAX + 1];
    size_t secret_len = 0, len = strlen(document);
    int rc;

    if (len == 0 || len > ID_DOCUMENT_MAX)
        return lcb_error_set(err, "invalid_argument", "--id-document must be 1 to %d bytes",
                             ID_DOCUMENT_MAX);
    if (lcbctl_keys_load_secret(secret_file, secret, &secret_len, err) != 0)
        return -1;
    for (size_t i = 0; i < len; i++)
        normal[i] = (char)toupper((unsigned char)document[i]);
    rc = crypto_hmac_sha256(secret, secret_len, normal, len, digest);
    OPENSSL_cleanse(secret, sizeof secret);
    OPENSSL_cleanse(normal, sizeof normal);
    if (rc != 0)
        return lcb_error_set(err, "crypto_error", "HMAC-SHA-256 of the identity document failed");
    strcpy(param, "\\x");
    crypto_hex_encode(digest, sizeof digest, param + 2);
    return 0;
}

int lcbctl_admin_learner_add(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    const char *document = NULL, *name = NULL, *institution = NULL, *secret_file = NULL;
    const struct lcbctl_opt opts[] = {{"id-document", LCBCTL_OPT_STRING, &document, true},
                                      {"name", LCBCTL_OPT_STRING, &name, true},
                                      {"institution", LCBCTL_OPT_STRING, &institution, true},
                                      {"secret-file", LCBCTL_OPT_STRING, &secret_file, true}};
    char id_hash_param[2 * CRYPTO_HASH_LEN + 3];
    struct lcb_error err;
    int status;

    if (!lcbctl_args_parse(ctx, argc, argv, opts, 4, NULL, 0, &status))
        return status;
    if (id_document_hash(secret_file, document, id_hash_param, &err) != 0)
        return lcbctl_fail(&err);
    const char *params[3] = {id_hash_param, name, institution};
    return lcbctl_db_run(ctx, "SELECT lcb_add_learner($1::bytea, $2, $3)", 3, params);
}
