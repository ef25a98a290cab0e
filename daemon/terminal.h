/* One terminal connection, shared by terminal_listener.c (its life, framing and
 * limits) and terminal_requests.c (its requests). Internal to the LCBP
 * listener. A connection closed while requests are in flight lives on,
 * detached, until the last answer arrives and is dropped. */
#ifndef LCBD_TERMINAL_H
#define LCBD_TERMINAL_H

#include "daemon/app.h"
#include "protocol/lcbp.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#define TERMINAL_MAX_IN_FLIGHT 64

enum terminal_state {
    TERMINAL_HANDSHAKE,      /* TLS handshake running */
    TERMINAL_AUTHENTICATING, /* credential lookup running; frames wait */
    TERMINAL_AWAIT_HELLO,
    TERMINAL_READY,
    TERMINAL_CLOSING, /* last frame being flushed, then closed */
    TERMINAL_CLOSED,  /* socket gone; waiting for in-flight answers */
};

struct terminal_listener;

struct terminal {
    struct terminal_listener *server;
    struct app *app;
    struct bufferevent *bev;
    enum terminal_state state;
    /* Armed while a frame (or the HELLO) is awaited part-way; made on first use. */
    struct event *frame_deadline;
    int64_t institution_id;
    char institution_code[LCBP_CODE_MAX + 1];
    char terminal_id[LCBP_CODE_MAX + 1];
    unsigned in_flight;
    double tokens; /* rate limit bucket */
    int64_t tokens_at_ms;
    struct terminal *prev, *next;
};

/* Encodes and queues msg; answers are dropped when the terminal is gone. */
void terminal_send(struct terminal *t, const struct lcbp_message *msg);
/* An ERROR answer; closes the connection after it when the code says so
 * (lcbp_error_closes) or when close_after is set. */
void terminal_send_error(struct terminal *t, uint32_t request_id, const char *code, const char *message,
                     bool close_after);

/* A request finished: answers sent (or dropped). Frees a closed terminal
 * once nothing is in flight. */
void terminal_request_done(struct terminal *t);

/* terminal_requests.c: answers one decoded request of a READY terminal; the
 * request counts as in flight until terminal_request_done. msg is only valid
 * during the call. */
void terminal_handle(struct terminal *t, const struct lcbp_message *msg);

int64_t terminal_now_ms(void);

#endif
