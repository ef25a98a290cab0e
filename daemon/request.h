/* One HTTPS API request on its way through lcbd: who asked (from the client
 * certificate, checked against the database), what route matched, and the
 * parsed JSON body. A handler owns the request until it calls exactly one
 * request_reply_* function, which sends the answer and frees everything. */
#ifndef LCBD_REQUEST_H
#define LCBD_REQUEST_H

#include "daemon/app.h"

#include <event2/http.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum role {
    ROLE_ADMINISTRATOR = 1 << 0,
    ROLE_INSTITUTION = 1 << 1,
    ROLE_TERMINAL = 1 << 2,
    ROLE_AUDITOR = 1 << 3,
};

struct identity {
    enum role role;
    int64_t institution_id;
    char institution_code[33];
    char subject[256];
};

#define REQUEST_MAX_PATH_ARGS 3

struct request {
    struct app *app;
    struct evhttp_request *http;
    struct identity who;
    /* The {...} segments of the matched route, percent-decoded, in order. */
    char *path_args[REQUEST_MAX_PATH_ARGS];
    /* Parsed body of a POST (a JSON object), else NULL. Owned by request. */
    json_t *body;
};

/* Sends doc (reference stolen) as the JSON body with the given HTTP status,
 * then frees the request. */
void request_reply_json(struct request *req, int status, json_t *doc);
/* Sends {"error": {"code", "message"}} with status; logs refusals (401/403)
 * and counts them. Frees the request. */
void request_reply_error(struct request *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Logs and counts one refusal of the caller, "refused: METHOD URI by WHO
 * (INSTITUTION): CODE: message": request_reply_error does for 401 and 403,
 * handlers for refusals answered inside a result (an outcome of a batch). */
void request_log_refusal(struct request *req, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Maps a domain error code to its HTTP status (the table in docs/api.md). */
int request_status_for_code(const char *code);

/* Value of a query-string parameter, or NULL; the string lives as long as req. */
const char *request_query_param(struct request *req, const char *name);

#endif
