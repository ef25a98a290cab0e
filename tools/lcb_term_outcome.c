/* lcb-term load --op outcome: which (card, course) pair each OUTCOME posts.
 * A course counts once per learner (course_already_credited), so no pair
 * may be posted twice, in one run or across runs that share the cards: a
 * terminal walks its own cards course by course through the series it was
 * given, and stops when it has used every pair. It never repeats one. */
#include "tools/lcb_term_load.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int parse_number(const char *text, const char *stop, uint64_t *out)
{
    char *end;

    if (text == stop || *text < '0' || *text > '9')
        return -1;
    errno = 0;
    *out = strtoull(text, &end, 10);
    return errno == 0 && end == stop && *out >= 1 ? 0 : -1;
}

/* "CODE", "PREFIX:N" (PREFIX1 .. PREFIXN) or "PREFIX:FIRST-LAST". */
static int parse_courses(struct load *l, const char *spec, struct lcb_error *err)
{
    const char *colon = strchr(spec, ':'), *dash;
    size_t prefix_len = colon != NULL ? (size_t)(colon - spec) : strlen(spec);

    if (prefix_len == 0 || prefix_len > LCBP_CODE_MAX)
        goto bad;
    memcpy(l->course_prefix, spec, prefix_len);
    l->course_prefix[prefix_len] = '\0';
    if (colon == NULL)
        return 0;
    l->course_series = true;
    dash = strchr(colon + 1, '-');
    if (dash == NULL) {
        l->course_first = 1;
        if (parse_number(colon + 1, colon + strlen(colon), &l->course_last) != 0)
            goto bad;
    } else if (parse_number(colon + 1, dash, &l->course_first) != 0 ||
               parse_number(dash + 1, dash + strlen(dash), &l->course_last) != 0 ||
               l->course_last < l->course_first) {
        goto bad;
    }
    if (snprintf(NULL, 0, "%s%llu", l->course_prefix, (unsigned long long)l->course_last) >
        LCBP_CODE_MAX)
        goto bad;
    return 0;
bad:
    return lcb_error_set(err, "usage",
                         "--courses takes CODE, PREFIX:N or PREFIX:FIRST-LAST (codes of at "
                         "most %d characters), not '%s'",
                         LCBP_CODE_MAX, spec);
}

/* Yesterday in UTC: a real date that no time zone puts in the future. */
static void yesterday(char out[LCBP_DATE_LEN + 1])
{
    time_t t = time(NULL) - 24 * 3600;
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, LCBP_DATE_LEN + 1, "%Y-%m-%d", &tm);
}

int load_outcome_prepare(struct load *l, struct lcb_error *err)
{
    if (l->o->courses == NULL)
        return lcb_error_set(err, "usage", "--op outcome needs --courses");
    if (parse_courses(l, l->o->courses, err) != 0)
        return -1;
    if (l->o->completed_on != NULL)
        snprintf(l->completed_on, sizeof l->completed_on, "%s", l->o->completed_on);
    else
        yesterday(l->completed_on);
    return 0;
}

/* Pair j of terminal c is its card j mod n for course j / n: consecutive
 * postings of one terminal go to different learners, so they never wait
 * for each other's chain lock. */
bool load_outcome_next(struct load *l, struct load_conn *c, struct load_pair *pair)
{
    size_t n = load_cards_owned(l, c);
    uint64_t course_index = c->pair_cursor / n;
    uint64_t courses = l->course_series ? l->course_last - l->course_first + 1 : 1;

    if (c->pairs_used_up)
        return false;
    if (course_index >= courses) {
        c->pairs_used_up = true;
        load_count_error(l, "pairs_used_up"); /* once per terminal: more cards or courses */
        return false;
    }
    pair->card = (long)load_card_owned(l, c, (size_t)(c->pair_cursor % n));
    pair->course = l->course_first + course_index;
    c->pair_cursor++;
    return true;
}

void load_outcome_fill(struct load *l, struct load_conn *c, const struct load_pair *pair)
{
    struct lcbp_message *m = &l->msg;

    char code[LCBP_CODE_MAX + 24]; /* the prefix and any u64 */

    snprintf(m->card, sizeof m->card, "%s", l->cards[pair->card].number);
    if (l->course_series)
        snprintf(code, sizeof code, "%s%llu", l->course_prefix, (unsigned long long)pair->course);
    else
        snprintf(code, sizeof code, "%s", l->course_prefix);
    /* parse_courses made sure that the series' last code fits */
    memcpy(m->course, code, sizeof m->course);
    m->course[LCBP_CODE_MAX] = '\0';
    snprintf(m->result, sizeof m->result, "%s", "pass");
    memcpy(m->completed_on, l->completed_on, sizeof m->completed_on);
    m->sequence = c->next_seq++;
}
