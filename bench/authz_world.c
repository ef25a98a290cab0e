/* The world file of lcb-authz; see authz_world.h. Lines:
 *   https_port N | lcbp_port N | ca PATH | pki DIR | offline_window_s N
 *   learner A|B ID CARD
 *   tx B UUID
 *   used TERMINAL SEQ tap CARD SESSION in|out TIME_MS ANSWER
 *   used TERMINAL SEQ outcome CARD COURSE YYYY-MM-DD ANSWER
 * An unknown or malformed line is an error: a typo must not shrink the
 * attack silently. */
#include "bench/authz_world.h"

#include "protocol/lcbp.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_used(const char *line, struct world_used *u)
{
    char kind[16], direction[8];
    unsigned long long sequence;
    long long time_ms;
    memset(u, 0, sizeof *u);
    if (sscanf(line, "used %32s %llu %15s", u->terminal, &sequence, kind) != 3)
        return -1;
    u->sequence = sequence;
    if (strcmp(kind, "tap") == 0) {
        u->kind = WORLD_USED_TAP;
        if (sscanf(line, "used %*s %*s %*s %19s %32s %7s %lld %32s", u->card, u->item, direction,
                   &time_ms, u->answer) != 5)
            return -1;
        u->time_ms = time_ms;
        if (strcmp(direction, "in") != 0 && strcmp(direction, "out") != 0)
            return -1;
        u->direction = strcmp(direction, "in") == 0 ? LCBP_IN : LCBP_OUT;
        return 0;
    }
    u->kind = WORLD_USED_OUTCOME;
    return strcmp(kind, "outcome") == 0 && sscanf(line, "used %*s %*s %*s %19s %32s %10s %32s",
                                                  u->card, u->item, u->completed_on, u->answer) == 4
               ? 0
               : -1;
}

static int parse_line(const char *line, struct world *w)
{
    char side, path[WORLD_PATH_MAX];
    long long id;
    int n;
    if (sscanf(line, "https_port %d", &n) == 1)
        w->https_port = n;
    else if (sscanf(line, "lcbp_port %d", &n) == 1)
        w->lcbp_port = n;
    else if (sscanf(line, "offline_window_s %lld", &id) == 1)
        w->offline_window_s = id;
    else if (sscanf(line, "ca %1023s", path) == 1)
        snprintf(w->ca_file, sizeof w->ca_file, "%s", path);
    else if (sscanf(line, "pki %1023s", path) == 1)
        snprintf(w->pki_dir, sizeof w->pki_dir, "%s", path);
    else if (strncmp(line, "learner ", 8) == 0) {
        struct world_learner *l = &w->learners[w->n_learners];
        if (w->n_learners == WORLD_MAX_LEARNERS ||
            sscanf(line, "learner %c %lld %19s", &side, &id, l->card) != 3 ||
            (side != 'A' && side != 'B') || strlen(l->card) != WORLD_CARD_LEN)
            return -1;
        l->side = side;
        l->id = id;
        w->n_learners++;
    } else if (strncmp(line, "tx ", 3) == 0) {
        if (w->n_tx_b == WORLD_MAX_TX || sscanf(line, "tx B %36s", w->tx_b[w->n_tx_b]) != 1)
            return -1;
        w->n_tx_b++;
    } else if (strncmp(line, "used ", 5) == 0) {
        if (w->n_used == WORLD_MAX_USED || parse_used(line, &w->used[w->n_used]) != 0)
            return -1;
        w->n_used++;
    } else {
        return -1;
    }
    return 0;
}

int world_load(const char *path, struct world *w)
{
    memset(w, 0, sizeof *w);
    w->used = calloc(WORLD_MAX_USED, sizeof *w->used);
    FILE *f = fopen(path, "r");
    if (w->used == NULL || f == NULL) {
        fprintf(stderr, "lcb-authz: cannot read the world file %s\n", path);
        goto fail;
    }
    char line[2048];
    for (int number = 1; fgets(line, sizeof line, f) != NULL; number++) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        if (parse_line(line, w) != 0) {
            fprintf(stderr, "lcb-authz: %s:%d: cannot read '%s'\n", path, number, line);
            goto fail;
        }
    }
    fclose(f);
    f = NULL;
    if (w->https_port <= 0 || w->lcbp_port <= 0 || !w->ca_file[0] || !w->pki_dir[0] ||
        w->offline_window_s <= 0) {
        fprintf(stderr, "lcb-authz: %s lacks a port, the CA, the PKI or the window\n", path);
        goto fail;
    }
    if (world_learner_of(w, 'A', 0) == NULL || world_learner_of(w, 'B', 0) == NULL) {
        fprintf(stderr, "lcb-authz: %s needs learners of both centres\n", path);
        goto fail;
    }
    return 0;
fail:
    if (f != NULL)
        fclose(f);
    world_free(w);
    return -1;
}

void world_free(struct world *w)
{
    free(w->used);
    w->used = NULL;
}

int world_record_used(const char *path, struct world *w, const struct world_used *u)
{
    if (w->n_used == WORLD_MAX_USED)
        return -1;
    FILE *f = fopen(path, "a");
    if (f == NULL)
        return -1;
    if (u->kind == WORLD_USED_TAP)
        fprintf(f, "used %s %" PRIu64 " tap %s %s %s %" PRId64 " %s\n", u->terminal, u->sequence,
                u->card, u->item, u->direction == LCBP_IN ? "in" : "out", u->time_ms, u->answer);
    else
        fprintf(f, "used %s %" PRIu64 " outcome %s %s %s %s\n", u->terminal, u->sequence, u->card,
                u->item, u->completed_on, u->answer);
    if (fclose(f) != 0)
        return -1;
    w->used[w->n_used++] = *u;
    return 0;
}

void world_cert(const struct world *w, const char *name, char out[WORLD_PATH_MAX])
{
    if (snprintf(out, WORLD_PATH_MAX, "%s/%s", w->pki_dir, name) >= WORLD_PATH_MAX) {
        fprintf(stderr, "lcb-authz: the path %s/%s is too long\n", w->pki_dir, name);
        exit(2);
    }
}

const struct world_learner *world_learner_of(const struct world *w, char side, uint64_t pick)
{
    size_t n = 0;
    for (size_t i = 0; i < w->n_learners; i++)
        n += w->learners[i].side == side;
    if (n == 0)
        return NULL;
    size_t want = (size_t)(pick % n);
    for (size_t i = 0; i < w->n_learners; i++)
        if (w->learners[i].side == side && want-- == 0)
            return &w->learners[i];
    return NULL;
}
