/* Credentials lcbd must not accept; see authz_creds.h. Each connection
 * asks for something its certificate's owner could have, were the
 * certificate good (an administrator of AZ-A reading AZ-A's learner, a
 * school its own totals, a terminal its HELLO_OK), so a hole shows as
 * "accepted". The certificate names are bench/authz-test's. */
#include "bench/authz_creds.h"

#include "bench/authz_probe.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct credential_attack {
    const char *want;
    bool lcbp;
    const char *const *names; /* NULL-terminated; "" is no certificate */
};

static const char *const none[] = {"", NULL};
static const char *const other_ca[] = {"othca-admin", "othca-term", "lookalike-admin",
                                       "lookalike-term", NULL};
static const char *const expired[] = {"expired-admin", "expired-term", NULL};
static const char *const lapsed[] = {"lapsed-admin", "lapsed-term", NULL};
static const char *const revoked[] = {"revoked-admin", "revoked-term", "revoked-school", NULL};
static const char *const not_terminals[] = {"admin-A", "auditor-A", "school-S1", "school-S2", NULL};

static const struct credential_attack attacks[ATTACK_KINDS] = {
    [ATTACK_NO_CERT_HTTPS] = {"no_client_certificate", false, none},
    [ATTACK_NO_CERT_LCBP] = {"no_client_certificate", true, none},
    [ATTACK_OTHER_CA_HTTPS] = {"credential_unknown", false, other_ca},
    [ATTACK_OTHER_CA_LCBP] = {"credential_unknown", true, other_ca},
    [ATTACK_EXPIRED_HTTPS] = {"credential_expired", false, expired},
    [ATTACK_EXPIRED_LCBP] = {"credential_expired", true, expired},
    [ATTACK_LAPSED_HTTPS] = {"credential_expired", false, lapsed},
    [ATTACK_LAPSED_LCBP] = {"credential_expired", true, lapsed},
    [ATTACK_REVOKED_HTTPS] = {"credential_revoked", false, revoked},
    [ATTACK_REVOKED_LCBP] = {"credential_revoked", true, revoked},
    [ATTACK_WRONG_ROLE_LCBP] = {"not_a_terminal", true, not_terminals},
};

/* What the certificate's owner could read, were the certificate good. */
static void owner_route(struct authz *a, const char *name, char *path, size_t cap)
{
    const struct world_learner *l = world_learner_of(a->world, 'A', authz_random(a));
    if (strstr(name, "school") != NULL) {
        snprintf(path, cap, "/v1/institutions/" WORLD_SCHOOL_1 "/totals");
        return;
    }
    switch (authz_below(a, 4)) {
    case 0:
        snprintf(path, cap, "/v1/learners/%" PRId64, l->id);
        break;
    case 1:
        snprintf(path, cap, "/v1/cards/%s/balance", l->card);
        break;
    case 2:
        snprintf(path, cap, "/v1/learners/%" PRId64 "/transactions", l->id);
        break;
    default:
        snprintf(path, cap, "/v1/institutions/" WORLD_CENTRE_A "/totals");
        break;
    }
}

void creds_attack(struct authz *a, enum attack_kind kind)
{
    const struct credential_attack *attack = &attacks[kind];
    if (attack->names == NULL)
        abort();
    size_t n = 0;
    while (attack->names[n] != NULL)
        n++;
    const char *name = attack->names[authz_below(a, n)];
    SSL_CTX *ctx = authz_identity(a, name);
    if (ctx == NULL)
        exit(2);
    char path[128] = "", detail[256];
    struct probe_answer answer;
    if (!attack->lcbp)
        owner_route(a, name, path, sizeof path);
    probe_once(ctx, attack->lcbp ? a->world->lcbp_port : a->world->https_port,
               attack->lcbp ? PROBE_LCBP : PROBE_HTTPS, path, &answer);
    snprintf(detail, sizeof detail, "%s with %s%s%s", attack->lcbp ? "LCBP HELLO" : "HTTPS GET",
             name[0] ? name : "no certificate", path[0] ? ": " : "", path);
    tally_record(a->tally, kind, attack->want, answer.got, answer.handshake, detail);
}
