/* The pure half of the HTTPS API's handlers: turns a request body and the
 * route's path argument into a validated request (an order for the ledger or
 * the parameters of an administrative statement), or into the refusal code
 * and message docs/api.md documents. No I/O, no database, no event loop:
 * tests/fuzz/fuzz_json.c links these files without the rest of lcbd.
 * Every function fills err and returns -1 on a refusal, 0 otherwise. */
#ifndef LCBD_API_PARSE_H
#define LCBD_API_PARSE_H

#include "daemon/conversion.h"
#include "daemon/deposit.h"
#include "daemon/reversal.h"
#include "lib/crypto.h"
#include "lib/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define API_OUTCOMES_MAX 1000
#define API_PARAMS_MAX 9

/* A POST body: empty means {}; otherwise one JSON object without duplicate
 * keys. On 0, *body is a new reference the caller releases; on -1 it is NULL
 * and err is invalid_json or invalid_request. */
int api_parse_body(const char *bytes, size_t len, json_t **body, struct lcb_error *err);

/* ---- api_parse.c: the ledger's routes ------------------------------------ */

/* The envelope of POST /v1/outcomes, {"outcomes": [1..1000 items]}; *list is
 * borrowed from body. */
int api_parse_outcomes(const json_t *body, json_t **list, struct lcb_error *err);

/* One item of an outcomes batch, for the poster institution_id. `now` is the
 * clock completed_on must not be in the future of. */
int api_parse_outcome(const json_t *item, int64_t institution_id, time_t now,
                      struct deposit_outcome *out, struct lcb_error *err);

/* {learner, rule, programme?} of a conversion preview, plus idempotency_key
 * when with_key (POST /v1/conversions). */
int api_parse_conversion(const json_t *body, int64_t institution_id, bool with_key,
                         struct conversion_order *order, struct lcb_error *err);

/* {idempotency_key, transaction_id, reason} of POST /v1/reversals; the
 * transaction id comes out in lower case. */
int api_parse_reversal(const json_t *body, int64_t institution_id, struct reversal_order *order,
                       struct lcb_error *err);

/* ---- api_parse_admin.c: the administrative routes ------------------------ */

/* The text parameters of one administrative statement of api_admin.c, $1
 * (the caller's institution id) first; a NULL value is SQL NULL. Values
 * point into the body, the path argument or this struct's own buffers, so
 * they live as long as those do, and the struct must not be copied. */
struct api_params {
    int n;
    const char *values[API_PARAMS_MAX];
    char caller[24];
    char numbers[3][24];
    char id_hash[2 * CRYPTO_HASH_LEN + 1];
};

enum api_card_change { API_CARD_LOST, API_CARD_CANCEL, API_CARD_REPLACE };

/* POST /v1/institutions: $2 code, $3 name, $4 kind, $5 parent, $6 region. */
int api_parse_institution(const json_t *body, int64_t caller, struct api_params *params,
                          struct lcb_error *err);

/* POST /v1/catalogue: $2 code, $3 kind, $4 owner, $5 title, $6 unit,
 * $7 credit_value, $8 required_minutes, $9 level. */
int api_parse_catalogue_item(const json_t *body, int64_t caller, struct api_params *params,
                             struct lcb_error *err);

/* POST /v1/learners: $2 the identity document's keyed hash (hex) under
 * id_secret, $3 name, $4 institution, $5 region. The document itself is in
 * no parameter and no message. internal_error when hashing failed. */
int api_parse_learner(const json_t *body, int64_t caller, const uint8_t *id_secret,
                      size_t id_secret_len, struct api_params *params, struct lcb_error *err);

/* POST /v1/learners/{learner}/cards: $2 learner id, $3 region. */
int api_parse_learner_card(const char *learner, const json_t *body, int64_t caller,
                           struct api_params *params, struct lcb_error *err);

/* POST /v1/cards/{card}/lost, /cancel, /replace: $2 card, and for replace
 * $3 region. */
int api_parse_card_change(enum api_card_change change, const char *card, const json_t *body,
                          int64_t caller, struct api_params *params, struct lcb_error *err);

#endif
