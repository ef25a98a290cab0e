/* POST /v1/outcomes: an institution's batch of certified outcomes. Checks
 * each item's shape (api_parse.c), hands the well-formed ones to the
 * ledger, and answers every item in request order. Never acknowledges an
 * item the ledger has not committed. */
#include "daemon/api.h"
#include "daemon/api_parse.h"

#include "daemon/deposit.h"
#include "daemon/ledger.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct outcomes_job {
    struct request *req;
    size_t n;
    struct ledger_result *results; /* every item's answer, in request order */
    size_t *ledger_index;          /* request position of each item sent to the ledger */
};

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
        /* An outcome of another's catalogue is an authority refusal: logged. */
        size_t len = r->status == LEDGER_REJECTED ? strlen(r->error.code) : 0;
        if (len > 10 && strcmp(r->error.code + len - 10, "_not_owned") == 0)
            request_log_refusal(job->req, r->error.code, "outcome %zu: %s", i + 1,
                                r->error.message);
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

void api_post_outcomes(struct request *req)
{
    json_t *list;
    struct lcb_error err;
    if (api_parse_outcomes(req->body, &list, &err) != 0) {
        request_reply_error(req, 400, err.code, "%s", err.message);
        return;
    }
    size_t n = json_array_size(list), valid = 0;
    struct outcomes_job *job = calloc(1, sizeof *job);
    struct ledger_request *requests = calloc(n, sizeof *requests);
    if (job == NULL || requests == NULL ||
        (job->results = calloc(n, sizeof *job->results)) == NULL ||
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
    time_t now = time(NULL);
    for (size_t i = 0; i < n; i++) {
        struct ledger_result *r = &job->results[i];
        struct deposit_outcome outcome;
        if (api_parse_outcome(json_array_get(list, i), req->who.institution_id, now, &outcome,
                              &r->error) != 0) {
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
