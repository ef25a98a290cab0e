/* The SPEC.md yardstick of the hostile test; see hostile_oracle.h. It
 * follows section 8's order: the length, then request id 0 and the split
 * into fields, then the type, then the fields; then the connection rules of
 * 7.1 (HELLO first; any ERROR before HELLO_OK closes) and 7.2. */
#include "bench/hostile_oracle.h"

#include <stdio.h>
#include <string.h>

static struct lcbp_message decoded; /* about 24 KiB: never on the stack */

static bool add(struct oracle *o, bool hello_ok, uint32_t request_id, const char *code)
{
    if (o->n_answers == ORACLE_MAX_ANSWERS) {
        o->end = ORACLE_TOO_MANY;
        return false;
    }
    struct oracle_answer *a = &o->answers[o->n_answers++];
    a->hello_ok = hello_ok;
    a->request_id = request_id;
    snprintf(a->code, sizeof a->code, "%.*s", LCBP_ERROR_CODE_MAX, code);
    return true;
}

/* One decoded frame: its answer by 7.1 and 7.2. Returns false once the
 * connection ends (closed, or a request that would be carried out). */
static bool answer_frame(struct oracle *o, const struct lcbp_message *m)
{
    if (!o->ready) {
        if (m->type != LCBP_HELLO) {
            add(o, false, m->request_id, "hello_required");
            o->end = ORACLE_CLOSE;
            return false;
        }
        if (m->version_min > LCBP_VERSION || m->version_max < LCBP_VERSION) {
            add(o, false, m->request_id, "unsupported_version");
            o->end = ORACLE_CLOSE;
            return false;
        }
        o->ready = true;
        return add(o, true, m->request_id, "");
    }
    if (m->type == LCBP_HELLO) {
        add(o, false, m->request_id, "hello_repeated");
        o->end = ORACLE_CLOSE;
        return false;
    }
    if (!lcbp_type_is_request(m->type)) /* a response type: "open" in section 8 */
        return add(o, false, m->request_id, "unknown_message");
    o->end = ORACLE_CARRY_OUT;
    return false;
}

void oracle_predict(const uint8_t *bytes, size_t len, bool ready, struct oracle *out)
{
    memset(out, 0, sizeof *out);
    out->ready = ready;
    size_t pos = 0;
    while (pos < len) {
        size_t frame_len = 0;
        struct lcb_error err;
        int rc = lcbp_frame_length(bytes + pos, len - pos, &frame_len, &err);
        if (rc < 0) { /* a framing error: request id 0, and lcbd closes */
            if (add(out, false, 0, err.code))
                out->end = ORACLE_CLOSE;
            return;
        }
        if (rc == LCBP_NEED_MORE) {
            out->end = ORACLE_WAIT;
            out->need = frame_len - (len - pos);
            return;
        }
        rc = lcbp_decode(bytes + pos, frame_len, &decoded, &err);
        pos += frame_len;
        if (rc == 0) {
            if (!answer_frame(out, &decoded))
                return;
            continue;
        }
        bool framing = strcmp(err.code, "bad_frame") == 0 || strcmp(err.code, "frame_too_large") == 0;
        if (!add(out, false, framing ? 0 : decoded.request_id, err.code))
            return;
        if (framing || !out->ready) { /* 8 "lcbd closes"; 7.1 rule 5 */
            out->end = ORACLE_CLOSE;
            return;
        }
    }
    out->end = ORACLE_OPEN;
}

void oracle_describe(const struct oracle *o, char *out, size_t cap)
{
    static const char *const ends[] = {[ORACLE_OPEN] = "open",
                                       [ORACLE_CLOSE] = "close",
                                       [ORACLE_WAIT] = "wait",
                                       [ORACLE_CARRY_OUT] = "carried out",
                                       [ORACLE_TOO_MANY] = "too many answers"};
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < o->n_answers && used < cap; i++) {
        const struct oracle_answer *a = &o->answers[i];
        int n = snprintf(out + used, cap - used, "%s (id %u), ", a->hello_ok ? "HELLO_OK" : a->code,
                         a->request_id);
        used += n > 0 ? (size_t)n : 0;
    }
    if (used < cap)
        snprintf(out + used, cap - used, "%s", ends[o->end]);
}
