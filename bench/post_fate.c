/* The fate table of lcb-post; see post_fate.h. An acknowledgement always
 * wins over an unknown (a replay may settle what a broken connection left
 * open); a second acknowledgement must repeat the first exactly. */
#include "bench/post_fate.h"

#include <stdlib.h>
#include <string.h>

int post_fates_init(struct post_fates *f)
{
    memset(f, 0, sizeof *f);
    if (pthread_mutex_init(&f->grow, NULL) != 0)
        return -1;
    for (int i = 0; i < POST_FATE_LOCKS; i++)
        if (pthread_mutex_init(&f->locks[i], NULL) != 0)
            return -1;
    return 0;
}

void post_fates_free(struct post_fates *f)
{
    for (size_t i = 0; i < POST_FATE_MAX_CHUNKS; i++)
        free(f->chunks[i]);
    for (int i = 0; i < POST_FATE_LOCKS; i++)
        pthread_mutex_destroy(&f->locks[i]);
    pthread_mutex_destroy(&f->grow);
}

int post_fates_reserve(struct post_fates *f, size_t n)
{
    int rc = 0;
    pthread_mutex_lock(&f->grow);
    for (size_t chunk = 0; chunk * POST_FATE_CHUNK < n && rc == 0; chunk++) {
        if (chunk >= POST_FATE_MAX_CHUNKS)
            rc = -1;
        else if (f->chunks[chunk] == NULL &&
                 (f->chunks[chunk] = calloc(POST_FATE_CHUNK, sizeof(struct post_fate))) == NULL)
            rc = -1;
    }
    if (rc == 0 && n > f->n)
        f->n = n;
    pthread_mutex_unlock(&f->grow);
    return rc;
}

static struct post_fate *fate_at(struct post_fates *f, size_t slot)
{
    return &f->chunks[slot / POST_FATE_CHUNK][slot % POST_FATE_CHUNK];
}

static void record_ack(struct post_fate *p, const struct post_answer *a)
{
    if (a->kind == POST_POSTED && p->posted < UINT8_MAX)
        p->posted++;
    if (a->kind == POST_DUPLICATE && p->duplicates < UINT8_MAX)
        p->duplicates++;
    if (p->state == FATE_ACKED) {
        if (strcmp(p->transaction_id, a->transaction_id) != 0 || strcmp(p->hash, a->hash) != 0)
            p->differs++;
        return;
    }
    if (p->state == FATE_REFUSED) {
        p->differs++;
        memcpy(p->conflict, p->detail, sizeof p->conflict);
    }
    p->state = FATE_ACKED;
    snprintf(p->detail, sizeof p->detail, "%s", a->kind == POST_POSTED ? "posted" : "duplicate");
    snprintf(p->transaction_id, sizeof p->transaction_id, "%s", a->transaction_id);
    snprintf(p->hash, sizeof p->hash, "%s", a->hash);
}

void post_fates_record(struct post_fates *f, size_t slot, const struct post_answer *a)
{
    pthread_mutex_t *lock = &f->locks[slot % POST_FATE_LOCKS];
    pthread_mutex_lock(lock);
    struct post_fate *p = fate_at(f, slot);
    if (p->sends < UINT8_MAX)
        p->sends++;
    switch (a->kind) {
    case POST_POSTED:
    case POST_DUPLICATE:
        record_ack(p, a);
        break;
    case POST_REFUSED:
        if (p->state == FATE_ACKED) {
            p->differs++;
            snprintf(p->conflict, sizeof p->conflict, "%s", a->code);
        } else if (p->state != FATE_REFUSED) {
            p->state = FATE_REFUSED;
            snprintf(p->detail, sizeof p->detail, "%s", a->code);
        }
        break;
    case POST_UNKNOWN:
        if (p->state == FATE_NONE) {
            p->state = FATE_UNKNOWN;
            snprintf(p->detail, sizeof p->detail, "%s", a->code);
        }
        break;
    }
    pthread_mutex_unlock(lock);
}

void post_fates_totals(struct post_fates *f, struct post_fate_totals *t)
{
    memset(t, 0, sizeof *t);
    for (size_t slot = 0; slot < f->n; slot++) {
        const struct post_fate *p = fate_at(f, slot);
        t->acked += p->state == FATE_ACKED;
        t->refused += p->state == FATE_REFUSED;
        t->unknown += p->state == FATE_UNKNOWN;
        t->unsent += p->state == FATE_NONE;
        t->posted_twice += p->posted > 1;
        t->differing += p->differs > 0;
        t->posted_answers += p->posted;
        t->duplicate_answers += p->duplicates;
    }
}

static const char *or_dash(const char *s)
{
    return s[0] != '\0' ? s : "-";
}

int post_fates_write(struct post_fates *f, FILE *out, const char *prefix,
                     uint64_t (*index_of)(size_t slot, void *arg), void *arg)
{
    static const char *const names[] = {"unknown", "unknown", "refused", "acked"};
    for (size_t slot = 0; slot < f->n; slot++) {
        const struct post_fate *p = fate_at(f, slot);
        uint64_t index = index_of(slot, arg);
        /* never sent (the run ended first): at most once, like an unknown */
        const char *detail = p->state == FATE_NONE ? "not_sent" : p->detail;
        if (fprintf(out, "%llu\t%s-%llu\t%s\t%s\t%s\t%s\t%u\t%u\t%s\n", (unsigned long long)index,
                    prefix, (unsigned long long)index, names[p->state], or_dash(detail),
                    or_dash(p->transaction_id), or_dash(p->hash), p->sends, p->posted,
                    or_dash(p->conflict)) < 0)
            return -1;
    }
    return 0;
}
