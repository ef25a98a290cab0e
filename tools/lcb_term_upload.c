/* lcb-term upload FILE: a terminal's offline store sent as UPLOAD frames,
 * cut to the frame size and session table lcbd allows, one after the other
 * (a later check-out may need an earlier check-in). Prints each tap's
 * status and the gaps lcbd reports. A file may be uploaded again: lcbd
 * applies each sequence number once. */
#include "tools/lcb_term.h"
#include "tools/lcbp_client.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct offline_tap {
    uint64_t seq;
    int64_t time_ms;
    char card[LCBP_CARD_LEN + 1];
    char session[LCBP_CODE_MAX + 1];
    uint8_t direction;
    uint8_t status; /* from UPLOAD_OK */
};

struct upload {
    struct offline_tap *taps;
    size_t n, cap;
    struct lcbp_message req, resp, hello_ok;
    uint8_t frame[LCBP_MAX_FRAME];
};

static int parse_line(const char *line, struct offline_tap *t, struct lcb_error *err)
{
    char time_text[64], card[32], session[64], direction[8];
    unsigned long long seq;
    int n = 0;

    if (sscanf(line, "%llu %63s %31s %63s %7s %n", &seq, time_text, card, session, direction, &n) !=
            5 ||
        line[n] != '\0' || seq == 0)
        return lcb_error_set(err, "bad_line", "not SEQ TIME CARD SESSION in|out");
    if (strlen(card) != LCBP_CARD_LEN || strlen(session) > LCBP_CODE_MAX)
        return lcb_error_set(err, "bad_line", "card or session of the wrong length");
    if (strcmp(direction, "in") != 0 && strcmp(direction, "out") != 0)
        return lcb_error_set(err, "bad_line", "direction '%s' is neither in nor out", direction);
    if (term_parse_time(time_text, &t->time_ms, err) != 0)
        return -1;
    t->seq = seq;
    memcpy(t->card, card, sizeof t->card);
    memcpy(t->session, session, strlen(session) + 1); /* length checked above */
    t->direction = strcmp(direction, "in") == 0 ? LCBP_IN : LCBP_OUT;
    return 0;
}

static int read_file(const char *path, struct upload *u, struct lcb_error *err)
{
    FILE *f = fopen(path, "r");
    char line[512];
    int line_no = 0;

    if (f == NULL)
        return lcb_error_set(err, "io_failed", "cannot open %s", path);
    while (fgets(line, sizeof line, f) != NULL) {
        struct lcb_error why;
        char *p = line + strspn(line, " \t");

        line_no++;
        p[strcspn(p, "\r\n")] = '\0';
        if (*p == '\0' || *p == '#')
            continue;
        if (u->n == u->cap) {
            size_t cap = u->cap ? u->cap * 2 : 256;
            struct offline_tap *more = realloc(u->taps, cap * sizeof *more);

            if (more == NULL) {
                fclose(f);
                return lcb_error_set(err, "io_failed", "out of memory");
            }
            u->taps = more;
            u->cap = cap;
        }
        if (parse_line(p, &u->taps[u->n], &why) != 0) {
            fclose(f);
            return lcb_error_set(err, "bad_file", "%s:%d: %s", path, line_no, why.message);
        }
        u->n++;
    }
    fclose(f);
    if (u->n == 0)
        return lcb_error_set(err, "bad_file", "%s holds no taps", path);
    return 0;
}

/* Fills u->req with taps[first..first+n); returns how many fit the
 * session table (n, or fewer when a 33rd session would be needed). */
static size_t build_chunk(struct upload *u, uint32_t request_id, size_t first, size_t n)
{
    struct lcbp_message *m = &u->req;
    size_t i;

    lcbp_message_init(m, LCBP_UPLOAD, request_id);
    for (i = 0; i < n; i++) {
        const struct offline_tap *t = &u->taps[first + i];
        struct lcbp_tap *w = &m->taps[i];
        size_t s = 0;

        while (s < m->n_sessions && strcmp(m->sessions[s], t->session) != 0)
            s++;
        if (s == m->n_sessions) {
            if (s == LCBP_MAX_SESSIONS)
                break;
            snprintf(m->sessions[s], sizeof m->sessions[s], "%s", t->session);
            m->n_sessions++;
        }
        w->sequence = t->seq;
        w->terminal_time_ms = t->time_ms;
        memcpy(w->card, t->card, sizeof w->card);
        w->session_index = (uint8_t)s;
        w->direction = t->direction;
    }
    m->n_taps = i;
    return i;
}

/* Encodes the largest chunk from first that fits max_frame; *n gets its size.
 */
static int encode_chunk(struct upload *u, uint32_t request_id, size_t first, size_t *n,
                        size_t *frame_len, struct lcb_error *err)
{
    size_t want = u->n - first < LCBP_MAX_TAPS ? u->n - first : LCBP_MAX_TAPS;
    size_t cap = u->hello_ok.max_frame;

    for (;;) {
        *n = build_chunk(u, request_id, first, want);
        if (lcbp_encode(&u->req, u->frame, cap, frame_len, err) == 0)
            return 0;
        if (strcmp(err->code, "frame_too_large") != 0 || *n == 1)
            return -1;
        want = *n * 3 / 4 > 0 ? *n * 3 / 4 : 1;
    }
}

static int send_chunks(struct lcbp_client *c, struct upload *u, struct lcb_error *err)
{
    for (size_t first = 0, n, len; first < u->n; first += n) {
        uint32_t id = lcbp_client_next_id(c);

        if (encode_chunk(u, id, first, &n, &len, err) != 0 ||
            lcbp_client_send_raw(c, u->frame, len, err) != 0)
            return -1;
        do {
            if (lcbp_client_recv(c, &u->resp, err) != 0)
                return -1;
        } while (u->resp.request_id != id && u->resp.request_id != 0);
        if (lcbp_client_refusal(&u->resp, err) != 0)
            return 1;
        if (u->resp.type != LCBP_UPLOAD_OK || u->resp.n_tap_status != n)
            return lcb_error_set(err, "bad_answer", "UPLOAD of %zu taps answered with %s of %zu", n,
                                 lcbp_type_name(u->resp.type), u->resp.n_tap_status);
        for (size_t i = 0; i < n; i++)
            u->taps[first + i].status = u->resp.tap_status[i];
    }
    return 0;
}

/* Prints every tap and the gaps of the last answer; returns the number of
 * refused taps. */
static size_t report(const struct term_opts *o, const struct upload *u)
{
    size_t counts[3] = {0}; /* applied, duplicate, refused */
    json_t *taps = json_array(), *gaps = json_array();
    char when[TERM_TIME_MAX];

    for (size_t i = 0; i < u->n; i++) {
        const struct offline_tap *t = &u->taps[i];
        const char *name = lcbp_tap_status_name(t->status);

        counts[t->status < 2 ? t->status : 2]++;
        term_format_time(t->time_ms, when);
        if (o->json)
            json_array_append_new(taps, json_pack("{s:I,s:s}", "sequence", (json_int_t)t->seq,
                                                  "status", name ? name : "?"));
        else
            printf("%8llu  %s  %s  %-12s %-3s  %s\n", (unsigned long long)t->seq, when, t->card,
                   t->session, t->direction == LCBP_IN ? "in" : "out", name ? name : "?");
    }
    for (size_t i = 0; i < u->resp.n_gaps; i++)
        json_array_append_new(gaps, json_pack("[I,I]", (json_int_t)u->resp.gaps[i].first,
                                              (json_int_t)u->resp.gaps[i].last));
    if (o->json) {
        json_t *doc =
            json_pack("{s:o,s:I,s:I,s:I,s:o,s:b}", "taps", taps, "applied", (json_int_t)counts[0],
                      "duplicate", (json_int_t)counts[1], "refused", (json_int_t)counts[2], "gaps",
                      gaps, "gaps_more", u->resp.gaps_more);
        json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
        printf("\n");
        json_decref(doc);
        return counts[2];
    }
    printf("%zu taps: %zu applied, %zu duplicate, %zu refused\n", u->n, counts[0], counts[1],
           counts[2]);
    printf("gaps:%s", u->resp.n_gaps == 0 ? " none" : "");
    for (size_t i = 0; i < u->resp.n_gaps; i++)
        printf(u->resp.gaps[i].first == u->resp.gaps[i].last ? " %llu" : " %llu-%llu",
               (unsigned long long)u->resp.gaps[i].first, (unsigned long long)u->resp.gaps[i].last);
    printf("%s\n", u->resp.gaps_more ? " (and more)" : "");
    json_decref(taps);
    json_decref(gaps);
    return counts[2];
}

/* Records the highest uploaded sequence number in CERT.seq, so that a
 * later live tap without --seq continues after it. */
static void remember_highest(const struct term_opts *o, const struct upload *u)
{
    char path[4096];
    unsigned long long last = 0, high = 0;
    FILE *f;

    for (size_t i = 0; i < u->n; i++)
        high = u->taps[i].seq > high ? u->taps[i].seq : high;
    snprintf(path, sizeof path, "%s.seq", o->cert);
    f = fopen(path, "r");
    if (f != NULL) {
        if (fscanf(f, "%llu", &last) != 1)
            last = 0;
        fclose(f);
    }
    if (high > last && (f = fopen(path, "w")) != NULL) {
        fprintf(f, "%llu\n", high);
        fclose(f);
    }
}

int term_cmd_upload(const struct term_opts *o)
{
    struct lcbp_client_options copt = {o->addr, o->ca,          o->cert,
                                       o->key,  o->server_name, o->timeout_ms};
    struct upload *u = calloc(1, sizeof *u);
    struct lcbp_client *c = NULL;
    struct lcb_error err;
    int status = TERM_EXIT_FAILED, rc;

    lcb_error_clear(&err);
    if (o->file == NULL) {
        fprintf(stderr, "lcb-term: upload needs a FILE\n");
        free(u);
        return TERM_EXIT_USAGE;
    }
    if (u == NULL) {
        lcb_error_set(&err, "io_failed", "out of memory");
        goto out;
    }
    if (read_file(o->file, u, &err) != 0)
        goto out;
    c = lcbp_client_connect(&copt, &err);
    if (c == NULL)
        goto out;
    if (lcbp_client_hello(c, LCB_TERM_SOFTWARE, &u->hello_ok, &err) != 0) {
        status = lcbp_error_code_known(err.code) ? TERM_EXIT_REFUSED : TERM_EXIT_FAILED;
        goto out;
    }
    remember_highest(o, u);
    rc = send_chunks(c, u, &err);
    if (rc == 0)
        status = report(o, u) > 0 ? TERM_EXIT_REFUSED : TERM_EXIT_OK;
    else if (rc > 0)
        status = TERM_EXIT_REFUSED;
out:
    if (status == TERM_EXIT_FAILED || (status == TERM_EXIT_REFUSED && lcb_error_is_set(&err)))
        fprintf(stderr, "lcb-term: %s: %s: %s\n",
                status == TERM_EXIT_REFUSED ? "refused" : "failed", err.code, err.message);
    lcbp_client_close(c);
    if (u != NULL)
        free(u->taps);
    free(u);
    return status;
}
