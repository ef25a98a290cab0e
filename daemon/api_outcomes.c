/* POST /v1/outcomes: an institution's batch of certified outcomes. Checks
 * each item's shape here, hands the well-formed ones to the ledger, and
 * answers every item in request order. Never acknowledges an item the
 * ledger has not committed. */
#include "daemon/api.h"
#include "daemon/validate.h"

#include "daemon/deposit.h"
#include "daemon/ledger.h"
#include "lib/card.h"
#include "lib/crypto.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OUTCOMES_MAX 1000

struct outcomes_job {
    struct request *req;
    size_t n;
    struct ledger_result *results; /* every item's answer, in request order */
    size_t *ledger_index;          /* request position of each item sent to the ledger */
};

/* A real calendar date, not after tomorrow (UTC; terminals' clocks drift). */
static bool completed_on_valid(const char *s)
{
    int y, m, d;
    char tail;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || s[4] != '-' ||
        s[7] != '-' || y < 1900 || m < 1 || m > 12 || d < 1 || d > 31)
        return false;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = 12};
    time_t t = timegm(&tm);
    struct tm back;
    gmtime_r(&t, &back);
    if (back.tm_year != y - 1900 || back.tm_mon != m - 1 || back.tm_mday != d)
        return false;
    return t <= time(NULL) + 36 * 3600;
}

static const char *const item_fields[] = {"idempotency_key", "card",           "learner",
                                          "course",          "certificate",    "result",
                                          "completed_on",    "evidence_sha256", NULL};

static int reject(struct lcb_error *err, const char *code, const char *message)
{
    return lcb_error_set(err, code, "%s", message);
}

static int read_learner(json_t *item, struct deposit_outcome *out, struct lcb_error *err)
{
    json_t *card = json_object_get(item, "card"), *learner = json_object_get(item, "learner");
    if ((card == NULL) == (learner == NULL))
        return reject(err, "invalid_outcome", "give exactly one of \"card\" or \"learner\"");
    if (card != NULL) {
        if (!json_is_string(card))
            return reject(err, "invalid_card", "\"card\" must be a string of 19 digits");
        if (card_number_check(json_string_value(card), err) != 0)
            return -1;
        snprintf(out->card, sizeof out->card, "%s", json_string_value(card));
        return 0;
    }
    if (!json_is_integer(learner) || json_integer_value(learner) <= 0)
        return reject(err, "invalid_learner", "\"learner\" must be a positive integer learner id");
    out->learner_id = json_integer_value(learner);
    return 0;
}

static int read_item_code(json_t *item, struct deposit_outcome *out, struct lcb_error *err)
{
    json_t *course = json_object_get(item, "course");
    json_t *certificate = json_object_get(item, "certificate");
    if ((course == NULL) == (certificate == NULL))
        return reject(err, "invalid_outcome", "give exactly one of \"course\" or \"certificate\"");
    json_t *code = course ? course : certificate;
    out->item_kind = course ? DEPOSIT_COURSE : DEPOSIT_CERTIFICATE;
    if (!json_is_string(code) || !validate_code(json_string_value(code)))
        return reject(err, course ? "invalid_course" : "invalid_certificate",
                      "a course or certificate code is 1-32 letters, digits, '_', '.' or '-'");
    snprintf(out->item_code, sizeof out->item_code, "%s", json_string_value(code));
    return 0;
}

static int read_texts(json_t *item, struct deposit_outcome *out, struct lcb_error *err)
{
    json_t *key = json_object_get(item, "idempotency_key");
    if (!json_is_string(key) || !validate_text(json_string_value(key), RECORD_KEY_MAX))
        return reject(err, "invalid_idempotency_key",
                      "\"idempotency_key\" must be 1-128 bytes of printable text");
    snprintf(out->idempotency_key, sizeof out->idempotency_key, "%s", json_string_value(key));
    json_t *result = json_object_get(item, "result");
    if (!json_is_string(result) || !validate_text(json_string_value(result), RECORD_RESULT_MAX))
        return reject(err, "invalid_result", "\"result\" must be 1-64 bytes of printable text");
    snprintf(out->result, sizeof out->result, "%s", json_string_value(result));
    json_t *date = json_object_get(item, "completed_on");
    if (!json_is_string(date) || !completed_on_valid(json_string_value(date)))
        return reject(err, "invalid_date",
                      "\"completed_on\" must be a real date YYYY-MM-DD, not in the future");
    snprintf(out->completed_on, sizeof out->completed_on, "%s", json_string_value(date));
    json_t *evidence = json_object_get(item, "evidence_sha256");
    if (evidence == NULL)
        return 0;
    if (!json_is_string(evidence) || strlen(json_string_value(evidence)) != 64 ||
        crypto_hex_decode(json_string_value(evidence), out->evidence_sha256, RECORD_HASH_LEN) != 0)
        return reject(err, "invalid_evidence", "\"evidence_sha256\" must be 64 hex digits");
    out->has_evidence = true;
    return 0;
}

static int read_outcome(json_t *item, int64_t institution_id, struct deposit_outcome *out,
                        struct lcb_error *err)
{
    memset(out, 0, sizeof *out);
    out->institution_id = institution_id;
    if (!json_is_object(item))
        return reject(err, "invalid_outcome", "each outcome must be a JSON object");
    const char *name;
    json_t *value;
    json_object_foreach(item, name, value) {
        bool known = false;
        for (int i = 0; item_fields[i] != NULL; i++)
            known = known || strcmp(name, item_fields[i]) == 0;
        if (!known)
            return lcb_error_set(err, "unknown_field", "unknown field \"%.64s\" in an outcome", name);
    }
    if (read_texts(item, out, err) != 0 || read_learner(item, out, err) != 0)
        return -1;
    return read_item_code(item, out, err);
}

static json_t *result_json(const struct ledger_result *r)
{
    if (r->status == LEDGER_REJECTED)
        return json_pack("{s:s,s:{s:s,s:s}}", "status", "rejected", "error", "code", r->error.code,
                         "message", r->error.message);
    return json_pack("{s:s,s:s,s:s}", "status", r->status == LEDGER_POSTED ? "posted" : "duplicate",
                     "transaction_id", r->transaction_id, "hash", r->hash_hex);
}

static void reply_results(struct outcomes_job *job)
{
    json_t *list = json_array();
    bool unacknowledged = false;
    for (size_t i = 0; i < job->n; i++) {
        const struct ledger_result *r = &job->results[i];
        json_array_append_new(list, result_json(r));
        if (r->status == LEDGER_REJECTED && (strcmp(r->error.code, "database_unavailable") == 0 ||
                                             strcmp(r->error.code, "shutting_down") == 0))
            unacknowledged = true;
    }
    json_t *doc = json_pack("{s:o}", "results", list);
    if (unacknowledged)
        json_object_set_new(doc, "error",
                            json_pack("{s:s,s:s}", "code", "database_unavailable", "message",
                                      "some outcomes were not recorded; send the batch again "
                                      "with the same idempotency keys"));
    request_reply_json(job->req, unacknowledged ? 503 : 200, doc);
    free(job->results);
    free(job->ledger_index);
    free(job);
}

static void on_ledger_done(const struct ledger_result *results, size_t n, void *arg)
{
    struct outcomes_job *job = arg;
    for (size_t i = 0; i < n; i++)
        job->results[job->ledger_index[i]] = results[i];
    reply_results(job);
}

static int read_batch(struct request *req, json_t **list_out)
{
    const char *name;
    json_t *value;
    json_object_foreach(req->body, name, value) {
        if (strcmp(name, "outcomes") != 0) {
            request_reply_error(req, 400, "unknown_field", "unknown field \"%.64s\"", name);
            return -1;
        }
    }
    json_t *list = json_object_get(req->body, "outcomes");
    if (!json_is_array(list)) {
        request_reply_error(req, 400, "invalid_request", "the body must be {\"outcomes\": [...]}");
        return -1;
    }
    if (json_array_size(list) < 1 || json_array_size(list) > OUTCOMES_MAX) {
        request_reply_error(req, 400, "invalid_batch_size", "a batch holds 1 to %d outcomes",
                            OUTCOMES_MAX);
        return -1;
    }
    *list_out = list;
    return 0;
}

void api_post_outcomes(struct request *req)
{
    json_t *list;
    if (read_batch(req, &list) != 0)
        return;
    size_t n = json_array_size(list), valid = 0;
    struct outcomes_job *job = calloc(1, sizeof *job);
    struct ledger_request *requests = calloc(n, sizeof *requests);
    if (job == NULL || requests == NULL || (job->results = calloc(n, sizeof *job->results)) == NULL ||
        (job->ledger_index = calloc(n, sizeof *job->ledger_index)) == NULL) {
        free(requests);
        if (job != NULL) {
            free(job->results);
            free(job);
        }
        request_reply_error(req, 500, "internal_error", "out of memory");
        return;
    }
    job->req = req;
    job->n = n;
    for (size_t i = 0; i < n; i++) {
        struct ledger_result *r = &job->results[i];
        struct deposit_outcome outcome;
        if (read_outcome(json_array_get(list, i), req->who.institution_id, &outcome, &r->error) != 0) {
            r->status = LEDGER_REJECTED;
            continue;
        }
        if (deposit_request(&outcome, &requests[valid]) != 0) {
            r->status = LEDGER_REJECTED;
            lcb_error_set(&r->error, "internal_error", "out of memory");
            continue;
        }
        job->ledger_index[valid++] = i;
    }
    if (valid == 0)
        reply_results(job);
    else
        ledger_submit(req->app->ledger, requests, valid, on_ledger_done, job);
    free(requests);
}
