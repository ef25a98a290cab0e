/* Known callers outside their rights, over HTTPS; see authz_https.h. Every
 * target is chosen so that, were the refusal missing, the request would
 * succeed (a learner that exists, a card that is active, a transaction not
 * reversed, a fresh code or key): a hole shows as "accepted", not as some
 * other refusal. */
#include "bench/authz_https.h"

#include "bench/post_conn.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HTTPS_TIMEOUT_S 30
#define HTTPS_MAX_CONNS 8
#define OUTCOMES_MAX_BATCH 25

struct https_attacks {
    struct authz *a;
    uint64_t serial; /* makes codes, documents and keys unique in the run */
    size_t n_conns;
    struct {
        char name[64];
        struct post_conn conn;
    } conns[HTTPS_MAX_CONNS];
};

struct https_attacks *https_attacks_new(struct authz *a)
{
    struct https_attacks *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->a = a;
    h->serial = authz_random(a) % 1000000000;
    return h;
}

void https_attacks_free(struct https_attacks *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->n_conns; i++)
        post_conn_free(&h->conns[i].conn);
    free(h);
}

static struct post_conn *conn_of(struct https_attacks *h, const char *name)
{
    for (size_t i = 0; i < h->n_conns; i++)
        if (strcmp(h->conns[i].name, name) == 0)
            return &h->conns[i].conn;
    SSL_CTX *ctx = authz_identity(h->a, name);
    if (ctx == NULL || h->n_conns == HTTPS_MAX_CONNS)
        abort(); /* a broken setup, reported by authz_identity */
    snprintf(h->conns[h->n_conns].name, sizeof h->conns[0].name, "%s", name);
    post_conn_init(&h->conns[h->n_conns].conn, ctx, h->a->world->https_port, HTTPS_TIMEOUT_S);
    return &h->conns[h->n_conns++].conn;
}

/* The refusal code of a response, or what else it was. */
static void answer_of(const struct post_conn *c, enum post_conn_status status, char *got,
                      size_t cap)
{
    if (status != POST_CONN_OK) {
        snprintf(got, cap, "no_answer: connection status %d", (int)status);
        return;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(c->body, c->body_len, 0, &jerr);
    const char *code = json_string_value(json_object_get(json_object_get(doc, "error"), "code"));
    if (c->http_status >= 400 && code != NULL)
        snprintf(got, cap, "%s", code);
    else
        snprintf(got, cap, "%s: HTTP %d %.80s", c->http_status < 400 ? "accepted" : "no_answer",
                 c->http_status, c->body);
    json_decref(doc);
}

/* One request as name, recorded as one attempt of kind wanting want. */
static void request_once(struct https_attacks *h, enum attack_kind kind, const char *name,
                         const char *method, const char *path, const char *body, const char *want)
{
    struct post_conn *c = conn_of(h, name);
    char got[200], detail[400];
    enum post_conn_status status = post_conn_request(c, method, path, body, strlen(body));
    answer_of(c, status, got, sizeof got);
    snprintf(detail, sizeof detail, "%s: %s %s %.200s", name, method, path, body);
    tally_record(h->a->tally, kind, want, got, false, detail);
}

/* ---- the routes, aimed at a target -------------------------------------- */

struct target {
    const struct world_learner *learner;
    const char *institution; /* an institution code */
    const char *transaction; /* a transaction id, or NULL */
};

#define ROUTES_READ 5 /* routes 0..4 are reads */
#define ROUTES_ALL 15

/* Route number route against target: method, path and body. */
static void route_build(struct https_attacks *h, int route, const struct target *t,
                        const char **method, char *path, size_t path_cap, char *body,
                        size_t body_cap)
{
    uint64_t n = ++h->serial;
    const struct world_learner *l = t->learner;
    *method = route < ROUTES_READ ? "GET" : "POST";
    body[0] = '\0';
    switch (route) {
    case 0:
        snprintf(path, path_cap, "/v1/cards/%s/balance", l->card);
        break;
    case 1:
        snprintf(path, path_cap, "/v1/learners/%" PRId64, l->id);
        break;
    case 2:
        snprintf(path, path_cap, "/v1/learners/%" PRId64 "/transactions", l->id);
        break;
    case 3:
        snprintf(path, path_cap, "/v1/learners/%" PRId64 "/transcript", l->id);
        break;
    case 4:
        snprintf(path, path_cap, "/v1/institutions/%s/totals", t->institution);
        break;
    case 5:
        snprintf(path, path_cap, "/v1/institutions");
        snprintf(body, body_cap,
                 "{\"code\":\"AZX-%" PRIu64 "\",\"name\":\"Intruder %" PRIu64 "\","
                 "\"kind\":\"learning_point\",\"parent\":\"%s\"}",
                 n, n, t->institution);
        break;
    case 6:
        snprintf(path, path_cap, "/v1/catalogue");
        snprintf(body, body_cap,
                 "{\"code\":\"AZX-C%" PRIu64 "\",\"kind\":\"course\",\"owner\":\"%s\","
                 "\"title\":\"Intruder course\",\"unit\":\"community\",\"credit_value\":100,"
                 "\"level\":1}",
                 n, t->institution);
        break;
    case 7:
        snprintf(path, path_cap, "/v1/learners");
        snprintf(body, body_cap,
                 "{\"id_document\":\"AZX%" PRIu64 "\",\"name\":\"Intruder\",\"institution\":\"%s\","
                 "\"region\":\"" WORLD_REGION "\"}",
                 n, t->institution);
        break;
    case 8:
        snprintf(path, path_cap, "/v1/learners/%" PRId64 "/cards", l->id);
        snprintf(body, body_cap, "{\"region\":\"" WORLD_REGION "\"}");
        break;
    case 9:
        snprintf(path, path_cap, "/v1/cards/%s/lost", l->card);
        break;
    case 10:
        snprintf(path, path_cap, "/v1/cards/%s/cancel", l->card);
        break;
    case 11:
        snprintf(path, path_cap, "/v1/cards/%s/replace", l->card);
        snprintf(body, body_cap, "{\"region\":\"" WORLD_REGION "\"}");
        break;
    case 12:
        snprintf(path, path_cap, "/v1/conversions/preview");
        snprintf(body, body_cap, "{\"learner\":%" PRId64 ",\"rule\":\"" WORLD_RULE "\"}", l->id);
        break;
    case 13:
        snprintf(path, path_cap, "/v1/conversions");
        snprintf(body, body_cap,
                 "{\"idempotency_key\":\"azx-%" PRIu64 "\",\"learner\":%" PRId64
                 ",\"rule\":\"" WORLD_RULE "\"}",
                 n, l->id);
        break;
    default:
        snprintf(path, path_cap, "/v1/reversals");
        snprintf(body, body_cap,
                 "{\"idempotency_key\":\"azx-%" PRIu64 "\",\"transaction_id\":\"%s\","
                 "\"reason\":\"not mine to reverse\"}",
                 n, t->transaction);
        break;
    }
    if (body[0] == '\0' && route >= ROUTES_READ)
        snprintf(body, body_cap, "{}");
}

static void route_attempt(struct https_attacks *h, enum attack_kind kind, const char *name,
                          int route, const struct target *t, const char *want)
{
    const char *method;
    char path[256], body[512];
    route_build(h, route, t, &method, path, sizeof path, body, sizeof body);
    request_once(h, kind, name, method, path, body, want);
}

/* Something of centre B's subtree, or above A: outside AZ-A's subtree. */
static struct target outside_a(struct https_attacks *h)
{
    static const char *const outside[] = {WORLD_CENTRE_B, WORLD_SCHOOL_2, WORLD_DC};
    struct authz *a = h->a;
    struct target t = {world_learner_of(a->world, 'B', authz_random(a)), outside[authz_below(a, 3)],
                       NULL};
    t.transaction = a->world->tx_b[authz_below(a, a->world->n_tx_b)];
    return t;
}

/* Something of AZ-A's own subtree (for roles refused whatever the target). */
static struct target inside_a(struct https_attacks *h)
{
    static const char *const inside[] = {WORLD_CENTRE_A, WORLD_SCHOOL_1};
    struct authz *a = h->a;
    struct target t = {world_learner_of(a->world, 'A', authz_random(a)), inside[authz_below(a, 2)],
                       a->world->tx_b[0]};
    return t;
}

/* ---- the kinds ------------------------------------------------------------ */

static void admin_outside(struct https_attacks *h)
{
    struct target t = outside_a(h);
    int route = (int)authz_below(h->a, ROUTES_ALL);
    /* the reversal route needs a transaction of B's */
    if (route == ROUTES_ALL - 1 && h->a->world->n_tx_b == 0)
        route = 0;
    route_attempt(h, ATTACK_ADMIN_SUBTREE, "admin-A", route, &t, "outside_subtree");
}

static void auditor_outside(struct https_attacks *h)
{
    struct target t = outside_a(h);
    route_attempt(h, ATTACK_AUDITOR_SUBTREE, "auditor-A", (int)authz_below(h->a, ROUTES_READ), &t,
                  "outside_subtree");
}

/* An institution certificate sees its own totals only, not even its parent's. */
static void institution_scope(struct https_attacks *h)
{
    static const char *const s1_others[] = {WORLD_CENTRE_A, WORLD_CENTRE_B, WORLD_SCHOOL_2,
                                            WORLD_DC};
    static const char *const s2_others[] = {WORLD_CENTRE_B, WORLD_CENTRE_A, WORLD_SCHOOL_1,
                                            WORLD_DC};
    bool first = authz_below(h->a, 2) == 0;
    struct target t = {world_learner_of(h->a->world, 'A', 0),
                       (first ? s1_others : s2_others)[authz_below(h->a, 4)], NULL};
    route_attempt(h, ATTACK_INSTITUTION_SCOPE, first ? "school-S1" : "school-S2", 4, &t,
                  "outside_subtree");
}

static void wrong_role(struct https_attacks *h)
{
    static const char *const terminals[] = {"term-TA1", "term-TA2", "term-TB1"};
    struct authz *a = h->a;
    struct target t = inside_a(h);
    switch (authz_below(a, 4)) {
    case 0: /* a terminal certificate has no HTTPS route at all */
        route_attempt(h, ATTACK_WRONG_ROLE_HTTPS, terminals[authz_below(a, 3)],
                      (int)authz_below(a, ROUTES_ALL), &t, "forbidden");
        return;
    case 1: { /* a school reads no learner and administers nothing */
        int route = (int)authz_below(a, ROUTES_ALL - 1);
        route_attempt(h, ATTACK_WRONG_ROLE_HTTPS, "school-S1", route == 4 ? 5 : route, &t,
                      "forbidden");
        return;
    }
    case 2: /* an auditor reads, never writes, even in its own subtree */
        route_attempt(h, ATTACK_WRONG_ROLE_HTTPS, "auditor-A",
                      ROUTES_READ + (int)authz_below(a, ROUTES_ALL - ROUTES_READ - 1), &t,
                      "forbidden");
        return;
    default: { /* an administrator certifies no outcome */
        char body[256];
        snprintf(body, sizeof body,
                 "{\"outcomes\":[{\"idempotency_key\":\"azx-admin-%" PRIu64 "\",\"card\":\"%s\","
                 "\"course\":\"" WORLD_OUT_A
                 "\",\"result\":\"pass\",\"completed_on\":\"2020-01-01\"}]}",
                 ++h->serial, t.learner->card);
        request_once(h, ATTACK_WRONG_ROLE_HTTPS, "admin-A", "POST", "/v1/outcomes", body,
                     "forbidden");
        return;
    }
    }
}

/* A batch of outcomes, each of another institution's catalogue item. */
static void school_foreign(struct https_attacks *h)
{
    static const char *const not_s1[] = {WORLD_TEA_A, WORLD_OUT_A,     WORLD_TEA_B,
                                         WORLD_OUT_B, WORLD_COURSE_S2, WORLD_CERT_S2};
    static const char *const not_s2[] = {WORLD_TEA_A, WORLD_OUT_A,     WORLD_TEA_B,
                                         WORLD_OUT_B, WORLD_COURSE_S1, WORLD_CERT_S1};
    struct authz *a = h->a;
    bool first = authz_below(a, 2) == 0;
    const char *school = first ? "school-S1" : "school-S2";
    size_t n = 1 + (size_t)authz_below(a, OUTCOMES_MAX_BATCH);
    const char *items[OUTCOMES_MAX_BATCH];
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct world_learner *l = &a->world->learners[authz_below(a, a->world->n_learners)];
        items[i] = (first ? not_s1 : not_s2)[authz_below(a, 6)];
        bool certificate = strstr(items[i], "-CERT") != NULL;
        char key[64];
        snprintf(key, sizeof key, "azx-%s-%" PRIu64, school, ++h->serial);
        json_t *outcome = json_pack("{s:s,s:s,s:s,s:s}", "idempotency_key", key,
                                    certificate ? "certificate" : "course", items[i], "result",
                                    "pass", "completed_on", "2024-06-30");
        if (authz_below(a, 2) == 0)
            json_object_set_new(outcome, "card", json_string(l->card));
        else
            json_object_set_new(outcome, "learner", json_integer(l->id));
        json_array_append_new(list, outcome);
    }
    json_t *doc = json_pack("{s:o}", "outcomes", list);
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (body == NULL)
        abort();
    struct post_conn *c = conn_of(h, school);
    enum post_conn_status status = post_conn_request(c, "POST", "/v1/outcomes", body, strlen(body));
    json_error_t jerr;
    json_t *answer = status == POST_CONN_OK && c->http_status == 200
                         ? json_loadb(c->body, c->body_len, 0, &jerr)
                         : NULL;
    json_t *results = json_object_get(answer, "results");
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(results, i);
        const char *verdict = json_string_value(json_object_get(r, "status"));
        const char *code = json_string_value(json_object_get(json_object_get(r, "error"), "code"));
        char got[200], detail[200];
        if (json_array_size(results) != n || verdict == NULL)
            snprintf(got, sizeof got, "no_answer: HTTP %d, %zu results for %zu outcomes",
                     c->http_status, json_array_size(results), n);
        else if (strcmp(verdict, "rejected") == 0 && code != NULL)
            snprintf(got, sizeof got, "%s", code);
        else
            snprintf(got, sizeof got, "accepted: %s", verdict);
        snprintf(detail, sizeof detail, "%s: outcome of %s", school, items[i]);
        tally_record(a->tally, ATTACK_SCHOOL_FOREIGN,
                     strstr(items[i], "-CERT") ? "certificate_not_owned" : "course_not_owned", got,
                     false, detail);
    }
    json_decref(answer);
    free(body);
}

void https_attack(struct https_attacks *h, enum attack_kind kind)
{
    switch (kind) {
    case ATTACK_ADMIN_SUBTREE:
        admin_outside(h);
        break;
    case ATTACK_AUDITOR_SUBTREE:
        auditor_outside(h);
        break;
    case ATTACK_INSTITUTION_SCOPE:
        institution_scope(h);
        break;
    case ATTACK_WRONG_ROLE_HTTPS:
        wrong_role(h);
        break;
    case ATTACK_SCHOOL_FOREIGN:
        school_foreign(h);
        break;
    default:
        abort();
    }
}
