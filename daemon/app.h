/* The daemon's shared state, created by main.c and handed to every module
 * that serves requests. Nothing in here is per-request; nothing relies on
 * being the only lcbd on the database. */
#ifndef LCBD_APP_H
#define LCBD_APP_H

#include "daemon/config.h"

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

struct balances;
struct db_pool;
struct ledger;
struct signer;

struct app_counters {
    unsigned long requests;
    unsigned long refusals; /* authentication and authority refusals */
    unsigned long postings; /* transactions acknowledged */
};

struct app {
    struct event_base *base;
    const struct lcbd_config *cfg;
    struct db_pool *db;
    struct signer *signer;
    struct ledger *ledger;
    struct balances *balances; /* card terminals' balance inquiries */
    uint8_t id_secret[64];
    size_t id_secret_len;
    struct app_counters counters;
};

#endif
