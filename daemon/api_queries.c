/* The read-only HTTPS routes: a card's balance, a learner, a learner's chain
 * of transactions, an institution's totals. Each answers in one round trip,
 * with the subtree check inside the same statement, and must never show
 * anything of a learner or institution outside the caller's subtree.
 * Nothing here writes to the database. */
#include "daemon/api.h"
#include "daemon/validate.h"

#include "daemon/log.h"
#include "daemon/query.h"
#include "lib/card.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRANSACTIONS_LIMIT_DEFAULT 50
#define TRANSACTIONS_LIMIT_MAX 500

/* clang-format off */
/* SQL reads best laid out by hand. */

/* A learner account's balances as a JSON object {unit: amount}; the
 * amounts are integers in each unit's smallest step. */
#define SQL_BALANCES_OF(learner)                                                              \
    "(SELECT coalesce(json_object_agg(b.unit, b.amount ORDER BY b.unit), '{}') "             \
    " FROM balances b JOIN accounts a ON a.id = b.account_id WHERE a.learner_id = " learner ")"

/* Rows: number, status, learner id, inside subtree, balances and their
 * availability (sql/004_rules.sql; NULL outside). */
static const char card_balance_sql[] =
    "SELECT c.number, c.status, l.id, s.inside, "
    "       CASE WHEN s.inside THEN " SQL_BALANCES_OF("l.id") " END, "
    "       CASE WHEN s.inside THEN lcb_availability(l.id) END "
    "FROM cards c JOIN learners l ON l.id = c.learner_id "
    "CROSS JOIN LATERAL (SELECT lcb_in_subtree($2::bigint, l.institution_id) AS inside) s "
    "WHERE c.number = $1";

/* Rows: id, name, home institution code, inside subtree, cards, balances,
 * availability. */
static const char learner_sql[] =
    "SELECT l.id, l.name, i.code, s.inside, "
    "       CASE WHEN s.inside THEN "
    "         (SELECT coalesce(json_agg(json_build_object('number', c.number, 'status', c.status, "
    "                                   'replaced_by', c.replaced_by) "
    "                                   ORDER BY c.issued_at, c.number), '[]') "
    "          FROM cards c WHERE c.learner_id = l.id) END, "
    "       CASE WHEN s.inside THEN " SQL_BALANCES_OF("l.id") " END, "
    "       CASE WHEN s.inside THEN lcb_availability(l.id) END "
    "FROM learners l JOIN institutions i ON i.id = l.institution_id "
    "CROSS JOIN LATERAL (SELECT lcb_in_subtree($2::bigint, l.institution_id) AS inside) s "
    "WHERE l.id = $1::bigint";

/* One transaction as the API shows it: everything a verifier needs to
 * rebuild the canonical record (protocol/RECORD.md) and check hash and
 * signature with only the bank's public keys. */
#define SQL_TRANSACTION_JSON                                                                    \
    "json_build_object('transaction_id', t.id, 'kind', t.kind, 'seq', t.chain_seq, "           \
    "  'account', t.chain_account_id, "                                                        \
    "  'created_at', to_char(t.created_at AT TIME ZONE 'UTC', "                                \
    "                        'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "                           \
    "  'institution', i.code, 'institution_id', t.institution_id, "                           \
    "  'item_code', t.item_code, 'result', t.result, 'completed_on', t.completed_on, "         \
    "  'idempotency_key', t.idempotency_key, "                                                 \
    "  'evidence_sha256', encode(t.evidence_sha256, 'hex'), 'reverses', t.reverses, "          \
    "  'reason', t.reason, "                                                                   \
    "  'entries', (SELECT json_agg(json_build_object('account', e.account_id, 'unit', e.unit, " \
    "                                                'amount', e.amount) ORDER BY e.position) " \
    "              FROM entries e WHERE e.transaction_id = t.id), "                            \
    "  'prev_hash', encode(t.prev_hash, 'hex'), 'hash', encode(t.hash, 'hex'), "               \
    "  'signature', encode(t.signature, 'hex'), 'key_id', t.key_id)"

/* Rows: learner id, inside subtree, the page (newest first; NULL outside).
 * $3 is before_seq or NULL, $4 the page size. */
static const char learner_transactions_sql[] =
    "SELECT l.id, s.inside, "
    "       CASE WHEN s.inside THEN "
    "         (SELECT coalesce(json_agg(p.doc ORDER BY p.seq DESC), '[]') FROM "
    "            (SELECT t.chain_seq AS seq, " SQL_TRANSACTION_JSON " AS doc "
    "             FROM transactions t JOIN institutions i ON i.id = t.institution_id "
    "             WHERE t.chain_account_id = a.id "
    "               AND ($3::bigint IS NULL OR t.chain_seq < $3::bigint) "
    "             ORDER BY t.chain_seq DESC LIMIT $4::integer) p) END "
    "FROM learners l JOIN accounts a ON a.learner_id = l.id "
    "CROSS JOIN LATERAL (SELECT lcb_in_subtree($2::bigint, l.institution_id) AS inside) s "
    "WHERE l.id = $1::bigint";

/* Rows: inside subtree, issued {unit: total} and transaction count (NULL
 * outside). Issued is what the institution credited to learner accounts,
 * net of its reversals; conversions are not issuing. */
static const char institution_totals_sql[] =
    "SELECT s.inside, "
    "       CASE WHEN s.inside THEN "
    "         (SELECT coalesce(json_object_agg(x.unit, x.total ORDER BY x.unit), '{}') FROM "
    "            (SELECT e.unit, sum(e.amount) AS total "
    "             FROM transactions t JOIN entries e ON e.transaction_id = t.id "
    "                  JOIN accounts a ON a.id = e.account_id "
    "             WHERE t.institution_id = i.id AND a.learner_id IS NOT NULL "
    "               AND t.kind IN ('deposit', 'reversal') "
    "             GROUP BY e.unit) x) END, "
    "       CASE WHEN s.inside THEN "
    "         (SELECT count(*) FROM transactions t WHERE t.institution_id = i.id) END "
    "FROM institutions i "
    "CROSS JOIN LATERAL (SELECT lcb_in_subtree($2::bigint, i.id) AS inside) s "
    "WHERE i.code = $1";
/* clang-format on */

static void caller_institution(const struct request *req, char out[24])
{
    snprintf(out, 24, "%lld", (long long)req->who.institution_id);
}

/* Parses a JSON document PostgreSQL built; NULL (logged) when it cannot. */
static json_t *json_from_column(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    json_error_t jerr;
    json_t *doc = json_loads(PQgetvalue(res, row, col), JSON_DECODE_ANY, &jerr);
    if (doc == NULL)
        log_error("api: the database returned JSON that does not parse: %s", jerr.text);
    return doc;
}

static void reply_internal(struct request *req, const char *what)
{
    log_error("api: unexpected result for %s", what);
    request_reply_error(req, 500, "internal_error", "the request could not be completed");
}

static void reply_outside(struct request *req, const char *what)
{
    request_reply_error(req, 403, "outside_subtree", "%s is outside your institution's subtree",
                        what);
}

static bool is_true(const PGresult *res, int row, int col)
{
    return strcmp(PQgetvalue(res, row, col), "t") == 0;
}

/* ---- GET /v1/cards/{card}/balance ---------------------------------------- */

static void on_card_balance(struct request *req, const PGresult *res)
{
    if (PQntuples(res) == 0) {
        request_reply_error(req, 404, "card_not_found", "no card %s", req->path_args[0]);
        return;
    }
    if (!is_true(res, 0, 3)) {
        reply_outside(req, "the card holder");
        return;
    }
    json_t *balances = json_from_column(res, 0, 4);
    json_t *availability = json_from_column(res, 0, 5);
    bool shaped = json_is_object(balances) && json_is_object(availability);
    json_t *doc = json_pack("{s:s,s:s,s:I,s:o*,s:o*}", "card", PQgetvalue(res, 0, 0),
                            "card_status", PQgetvalue(res, 0, 1), "learner",
                            (json_int_t)strtoll(PQgetvalue(res, 0, 2), NULL, 10), "balances",
                            balances, "availability", availability);
    if (doc == NULL || !shaped) {
        json_decref(doc);
        reply_internal(req, "card balance");
        return;
    }
    request_reply_json(req, 200, doc);
}

void api_get_card_balance(struct request *req)
{
    struct lcb_error err;
    const char *card = req->path_args[0];
    if (card == NULL || card_number_check(card, &err) != 0) {
        request_reply_error(req, 400, "invalid_card", "%s",
                            card ? err.message : "no card number given");
        return;
    }
    char caller[24];
    caller_institution(req, caller);
    const char *params[] = {card, caller};
    query_run(req, card_balance_sql, 2, params, on_card_balance);
}

/* ---- GET /v1/learners/{id} ----------------------------------------------- */

static void on_learner(struct request *req, const PGresult *res)
{
    if (PQntuples(res) == 0) {
        request_reply_error(req, 404, "learner_not_found", "no learner %s", req->path_args[0]);
        return;
    }
    if (!is_true(res, 0, 3)) {
        reply_outside(req, "the learner");
        return;
    }
    json_t *cards = json_from_column(res, 0, 4);
    json_t *balances = json_from_column(res, 0, 5);
    json_t *availability = json_from_column(res, 0, 6);
    bool shaped = json_is_array(cards) && json_is_object(balances) && json_is_object(availability);
    json_t *doc = json_pack("{s:I,s:s,s:s,s:o*,s:o*,s:o*}", "learner",
                            (json_int_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10), "name",
                            PQgetvalue(res, 0, 1), "institution", PQgetvalue(res, 0, 2), "cards",
                            cards, "balances", balances, "availability", availability);
    if (doc == NULL || !shaped) {
        json_decref(doc);
        reply_internal(req, "learner");
        return;
    }
    request_reply_json(req, 200, doc);
}

void api_get_learner(struct request *req)
{
    long long learner;
    if (!validate_positive_id(req->path_args[0], &learner)) {
        request_reply_error(req, 400, "invalid_parameter",
                            "the learner id must be a positive integer");
        return;
    }
    char caller[24];
    caller_institution(req, caller);
    const char *params[] = {req->path_args[0], caller};
    query_run(req, learner_sql, 2, params, on_learner);
}

/* ---- GET /v1/learners/{id}/transactions ---------------------------------- */

/* Seqs of an account's chain run 1, 2, ... without gaps, so a full page
 * whose oldest transaction is past seq 1 has older ones behind it. */
static json_t *next_before_seq(const json_t *page, long long limit)
{
    size_t n = json_array_size(page);
    if (n == 0 || (long long)n < limit)
        return json_null();
    json_int_t oldest = json_integer_value(json_object_get(json_array_get(page, n - 1), "seq"));
    return oldest > 1 ? json_integer(oldest) : json_null();
}

static void on_learner_transactions(struct request *req, const PGresult *res)
{
    if (PQntuples(res) == 0) {
        request_reply_error(req, 404, "learner_not_found", "no learner %s", req->path_args[0]);
        return;
    }
    if (!is_true(res, 0, 1)) {
        reply_outside(req, "the learner");
        return;
    }
    json_t *page = json_from_column(res, 0, 2);
    if (!json_is_array(page)) {
        json_decref(page);
        reply_internal(req, "learner transactions");
        return;
    }
    const char *limit_text = request_query_param(req, "limit");
    long long limit = limit_text ? strtoll(limit_text, NULL, 10) : TRANSACTIONS_LIMIT_DEFAULT;
    json_t *doc =
        json_pack("{s:I,s:o,s:o}", "learner", (json_int_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10),
                  "transactions", page, "next_before_seq", next_before_seq(page, limit));
    if (doc == NULL) {
        reply_internal(req, "learner transactions");
        return;
    }
    request_reply_json(req, 200, doc);
}

void api_get_learner_transactions(struct request *req)
{
    long long learner, limit = TRANSACTIONS_LIMIT_DEFAULT, before_seq = 0;
    if (!validate_positive_id(req->path_args[0], &learner)) {
        request_reply_error(req, 400, "invalid_parameter",
                            "the learner id must be a positive integer");
        return;
    }
    const char *limit_text = request_query_param(req, "limit");
    if (limit_text != NULL &&
        (!validate_positive_id(limit_text, &limit) || limit > TRANSACTIONS_LIMIT_MAX)) {
        request_reply_error(req, 400, "invalid_parameter", "limit must be an integer from 1 to %d",
                            TRANSACTIONS_LIMIT_MAX);
        return;
    }
    const char *before_text = request_query_param(req, "before_seq");
    if (before_text != NULL && !validate_positive_id(before_text, &before_seq)) {
        request_reply_error(req, 400, "invalid_parameter", "before_seq must be a positive integer");
        return;
    }
    char caller[24], limit_param[24];
    caller_institution(req, caller);
    snprintf(limit_param, sizeof limit_param, "%lld", limit);
    const char *params[] = {req->path_args[0], caller, before_text, limit_param};
    query_run(req, learner_transactions_sql, 4, params, on_learner_transactions);
}

/* ---- GET /v1/institutions/{code}/totals ---------------------------------- */

static void on_institution_totals(struct request *req, const PGresult *res)
{
    if (PQntuples(res) == 0) {
        request_reply_error(req, 404, "institution_not_found", "no institution with code %s",
                            req->path_args[0]);
        return;
    }
    if (!is_true(res, 0, 0)) {
        reply_outside(req, "the institution");
        return;
    }
    json_t *issued = json_from_column(res, 0, 1);
    json_t *doc = json_pack("{s:s,s:o*,s:I}", "institution", req->path_args[0], "issued", issued,
                            "transactions", (json_int_t)strtoll(PQgetvalue(res, 0, 2), NULL, 10));
    if (doc == NULL || !json_is_object(issued)) {
        json_decref(doc);
        reply_internal(req, "institution totals");
        return;
    }
    request_reply_json(req, 200, doc);
}

void api_get_institution_totals(struct request *req)
{
    const char *code = req->path_args[0];
    if (!validate_code(code)) {
        request_reply_error(req, 400, "invalid_parameter",
                            "an institution code is 1-32 letters, digits, '_', '.' or '-'");
        return;
    }
    /* An institution sees its own totals only, not those of any institution
     * that happens to sit below it in the tree. */
    if (req->who.role == ROLE_INSTITUTION && strcmp(code, req->who.institution_code) != 0) {
        reply_outside(req, "another institution");
        return;
    }
    char caller[24];
    caller_institution(req, caller);
    const char *params[] = {code, caller};
    query_run(req, institution_totals_sql, 2, params, on_institution_totals);
}
