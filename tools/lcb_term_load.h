/* The load and idle modes' shared state: lcb_term_load.c owns the run, the
 * cards and the requests; lcb_term_outcome.c which (card, course) pair an
 * outcome posts; lcb_term_conn.c the connections (connect, TLS, HELLO,
 * frames), the phases and the report. Internal to lcb-term. All of it runs
 * on one event loop: no locks, and no callback may block. */
#ifndef LCB_LCB_TERM_LOAD_H
#define LCB_LCB_TERM_LOAD_H

#include "tools/lcb_term.h"
#include "tools/lcbp_client.h"

#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define LOAD_MAX_SLOTS TERM_MAX_IN_FLIGHT
#define LOAD_MAX_ERROR_CODES 32

enum load_conn_state {
    CONN_WAITING,    /* not started yet (connections are opened a few at a time) */
    CONN_CONNECTING, /* TCP and TLS handshake */
    CONN_HELLO,      /* HELLO sent */
    CONN_READY,
    CONN_DONE, /* closed, or never got through */
};

enum load_phase {
    PHASE_SETUP,     /* connecting; nothing is measured */
    PHASE_RUN,       /* load: measured; idle: holding */
    PHASE_WIND_DOWN, /* load: closing open check-ins, unmeasured */
};

struct load_card {
    char number[LCBP_CARD_LEN + 1];
    bool checked_in;  /* by our taps, as far as we know */
    bool busy;        /* a tap or inquiry for it is in flight */
    int64_t clock_ms; /* the next tap's terminal time */
};

struct load_slot {
    bool used, measured;
    uint32_t id;
    long card; /* index into load.cards, or -1 */
    uint8_t direction;
    uint64_t sent_ns;
};

struct load;

struct load_conn {
    struct load *load;
    size_t index;
    enum load_conn_state state;
    struct bufferevent *bev;
    struct event *tick; /* --rate: the next send */
    uint64_t next_due_ns;
    uint64_t next_seq;
    uint32_t next_id;
    unsigned in_flight, max_in_flight;
    size_t card_cursor;
    uint64_t pair_cursor; /* --op outcome: the next of this terminal's pairs */
    bool pairs_used_up;
    struct load_slot slots[LOAD_MAX_SLOTS];
};

struct load {
    const struct term_opts *o;
    bool idle;
    enum load_phase phase;
    struct event_base *base;
    struct event *deadline;
    struct sockaddr_storage addr;
    int addr_len;
    char server_name[256];
    SSL_CTX **ctxs; /* one per certificate; connection i uses ctxs[i % n_ctxs] */
    size_t n_ctxs;
    struct load_card *cards;
    size_t n_cards;
    /* --op outcome: courses PREFIX<first> .. PREFIX<last>, or the one
     * course PREFIX when !course_series */
    char course_prefix[LCBP_CODE_MAX + 1];
    bool course_series;
    uint64_t course_first, course_last;
    char completed_on[LCBP_DATE_LEN + 1];
    struct load_conn *conns;
    size_t n_conns, next_to_connect, connecting, ready, failed, closed_early;
    uint64_t setup_start_ns, run_start_ns, run_end_ns;
    uint64_t sent, ok, unanswered;
    unsigned in_flight_peak; /* the most requests one connection had in flight */
    /* ledger postings among the ok answers: outcomes and check-outs
     * answered "applied" (a duplicate answer is not a new posting) */
    uint64_t postings, duplicates;
    struct term_hist hist;
    struct {
        char code[LCBP_ERROR_CODE_MAX + 1];
        uint64_t count;
    } errors[LOAD_MAX_ERROR_CODES];
    size_t n_errors;
    long rss_before_kb, rss_after_kb;
    struct lcbp_message msg; /* the one being encoded or decoded */
    uint8_t frame[LCBP_MAX_FRAME];
};

/* A pair an outcome posts: a card of the terminal's and a course number
 * (meaningless for a single course). */
struct load_pair {
    long card;
    uint64_t course;
};

/* lcb_term_load.c */
uint64_t load_now_ns(void);
/* Card k of the cards terminal c owns, and how many it owns. */
size_t load_card_owned(const struct load *l, const struct load_conn *c, size_t k);
size_t load_cards_owned(const struct load *l, const struct load_conn *c);
void load_count_error(struct load *l, const char *code);
bool load_send_request(struct load *l, struct load_conn *c, bool wind_down);
void load_answer(struct load *l, struct load_conn *c, const struct lcbp_message *m);

/* lcb_term_outcome.c */
int load_outcome_prepare(struct load *l, struct lcb_error *err);
/* c's next unused pair; false when c has posted every one of its pairs. */
bool load_outcome_next(struct load *l, struct load_conn *c, struct load_pair *pair);
/* Fills the OUTCOME request in l->msg (already initialised) for pair. */
void load_outcome_fill(struct load *l, struct load_conn *c, const struct load_pair *pair);

/* lcb_term_conn.c */
void load_connect_more(struct load *l);
void load_conn_close(struct load_conn *c, const char *error_code);
void load_on_deadline(evutil_socket_t fd, short what, void *arg);
long load_rss_kb(long pid);
int load_report(struct load *l);

#endif
