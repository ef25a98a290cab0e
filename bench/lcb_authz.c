/* lcb-authz: the authorization matrix of docs/reliability.md. Against a
 * real lcbd, over its real HTTPS and LCBP listeners, it makes N randomised
 * attempts outside the caller's rights (bench/authz-test sets up the world
 * and checks lcbd's log and ledger afterwards) and proves each one refused
 * with its documented code: none accepted. Exit 1 when any was accepted
 * or answered otherwise, 2 on a usage or setup error.
 *   lcb-authz baseline --world FILE
 *   lcb-authz attack --world FILE --attempts N --seed S [--expect-log FILE]
 *   lcb-authz backdate --ca-dir DIR --cert IN.crt --out OUT.crt */
#include "bench/authz.h"
#include "bench/authz_backdate.h"
#include "bench/authz_creds.h"
#include "bench/authz_https.h"
#include "bench/authz_lcbp.h"
#include "bench/post_conn.h"

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXIT_REFUSALS_BROKEN 1
#define EXIT_USAGE 2

static void usage(void)
{
    fprintf(stderr,
            "usage: lcb-authz baseline --world FILE\n"
            "       lcb-authz attack --world FILE --attempts N --seed S [--expect-log FILE]\n"
            "       lcb-authz backdate --ca-dir DIR --cert IN.crt --out OUT.crt\n");
    exit(EXIT_USAGE);
}

SSL_CTX *authz_identity(struct authz *a, const char *name)
{
    name = name ? name : "";
    for (size_t i = 0; i < a->n_identities; i++)
        if (strcmp(a->identities[i].name, name) == 0)
            return a->identities[i].ctx;
    if (a->n_identities == AUTHZ_MAX_IDENTITIES)
        return NULL;
    char prefix[WORLD_PATH_MAX];
    world_cert(a->world, name, prefix);
    SSL_CTX *ctx = post_conn_ctx(a->world->ca_file, name[0] ? prefix : NULL);
    if (ctx == NULL) {
        fprintf(stderr, "lcb-authz: cannot use certificate %s\n", prefix);
        return NULL;
    }
    snprintf(a->identities[a->n_identities].name, sizeof a->identities[0].name, "%s", name);
    a->identities[a->n_identities++].ctx = ctx;
    return ctx;
}

static int64_t now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* How often each kind is drawn; uploads and outcome batches carry several
 * attempts per draw, handshakes cost the most. */
static const unsigned weights[ATTACK_KINDS] = {
    [ATTACK_NO_CERT_HTTPS] = 2,    [ATTACK_NO_CERT_LCBP] = 2,     [ATTACK_OTHER_CA_HTTPS] = 2,
    [ATTACK_OTHER_CA_LCBP] = 2,    [ATTACK_EXPIRED_HTTPS] = 2,    [ATTACK_EXPIRED_LCBP] = 2,
    [ATTACK_LAPSED_HTTPS] = 2,     [ATTACK_LAPSED_LCBP] = 2,      [ATTACK_REVOKED_HTTPS] = 2,
    [ATTACK_REVOKED_LCBP] = 2,     [ATTACK_WRONG_ROLE_HTTPS] = 3, [ATTACK_WRONG_ROLE_LCBP] = 2,
    [ATTACK_TERMINAL_FOREIGN] = 6, [ATTACK_SCHOOL_FOREIGN] = 2,   [ATTACK_INSTITUTION_SCOPE] = 2,
    [ATTACK_ADMIN_SUBTREE] = 8,    [ATTACK_AUDITOR_SUBTREE] = 3,  [ATTACK_SEQUENCE_REUSE] = 6,
    [ATTACK_OFFLINE_WINDOW] = 5,   [ATTACK_EXACT_REPLAY] = 4,
};

/* Every kind once first, so that a short run covers them all; then drawn. */
static enum attack_kind draw(struct authz *a, uint64_t round)
{
    if (round < ATTACK_KINDS)
        return (enum attack_kind)round;
    unsigned total = 0;
    for (int i = 0; i < ATTACK_KINDS; i++)
        total += weights[i];
    uint64_t pick = authz_below(a, total);
    int kind = 0;
    while (pick >= weights[kind])
        pick -= weights[kind++];
    return (enum attack_kind)kind;
}

static void attack_once(struct authz *a, struct https_attacks *h, struct lcbp_attacks *l,
                        enum attack_kind kind)
{
    switch (kind) {
    case ATTACK_WRONG_ROLE_HTTPS:
    case ATTACK_SCHOOL_FOREIGN:
    case ATTACK_INSTITUTION_SCOPE:
    case ATTACK_ADMIN_SUBTREE:
    case ATTACK_AUDITOR_SUBTREE:
        https_attack(h, kind);
        return;
    case ATTACK_TERMINAL_FOREIGN:
    case ATTACK_SEQUENCE_REUSE:
    case ATTACK_OFFLINE_WINDOW:
    case ATTACK_EXACT_REPLAY:
        lcbp_attack(l, kind);
        return;
    default:
        creds_attack(a, kind);
        return;
    }
}

static int run_attack(struct authz *a, uint64_t attempts, uint64_t seed, const char *expect_log)
{
    struct https_attacks *h = https_attacks_new(a);
    struct lcbp_attacks *l = lcbp_attacks_new(a);
    if (h == NULL || l == NULL)
        return EXIT_USAGE;
    int64_t started = now_ms();
    for (uint64_t round = 0; tally_sent(a->tally) + lcbp_attacks_queued(l) < attempts; round++) {
        a->now_ms = now_ms();
        attack_once(a, h, l, draw(a, round));
    }
    lcbp_attacks_free(l);
    https_attacks_free(h);
    double seconds = (double)(now_ms() - started) / 1000.0;
    printf("lcb-authz: seed %" PRIu64 ", %" PRIu64 " attempts in %.1f s (%.0f/s)\n", seed,
           tally_sent(a->tally), seconds,
           (double)tally_sent(a->tally) / (seconds > 0 ? seconds : 1));
    tally_print(a->tally, stdout);
    if (expect_log != NULL && tally_write_log_expectation(a->tally, expect_log) != 0) {
        fprintf(stderr, "lcb-authz: cannot write %s\n", expect_log);
        return EXIT_USAGE;
    }
    return tally_failed(a->tally) ? EXIT_REFUSALS_BROKEN : 0;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"world", required_argument, NULL, 'w'},  {"attempts", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'},   {"expect-log", required_argument, NULL, 'e'},
        {"ca-dir", required_argument, NULL, 'c'}, {"cert", required_argument, NULL, 'i'},
        {"out", required_argument, NULL, 'o'},    {NULL, 0, NULL, 0}};
    const char *world_path = NULL, *expect_log = NULL, *ca_dir = NULL, *cert = NULL, *out = NULL;
    uint64_t attempts = 10000, seed = 1;
    int opt;
    if (argc < 2)
        usage();
    const char *mode = argv[1];
    optind = 2;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'w':
            world_path = optarg;
            break;
        case 'n':
            attempts = strtoull(optarg, NULL, 10);
            break;
        case 's':
            seed = strtoull(optarg, NULL, 10);
            break;
        case 'e':
            expect_log = optarg;
            break;
        case 'c':
            ca_dir = optarg;
            break;
        case 'i':
            cert = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        default:
            usage();
        }
    }
    if (optind != argc)
        usage();
    if (strcmp(mode, "backdate") == 0) {
        if (ca_dir == NULL || cert == NULL || out == NULL)
            usage();
        return backdate_certificate(ca_dir, cert, out) == 0 ? 0 : EXIT_USAGE;
    }
    if (world_path == NULL || (strcmp(mode, "baseline") != 0 && strcmp(mode, "attack") != 0))
        usage();
    signal(SIGPIPE, SIG_IGN);
    struct world world;
    struct tally tally;
    if (world_load(world_path, &world) != 0)
        return EXIT_USAGE;
    tally_init(&tally);
    struct authz a = {.world = &world,
                      .world_path = world_path,
                      .tally = &tally,
                      .rng = seed * 0x9E3779B97F4A7C15ULL + 1,
                      .now_ms = now_ms()};
    int rc;
    if (strcmp(mode, "baseline") == 0) {
        struct lcbp_attacks *l = lcbp_attacks_new(&a);
        rc = lcbp_baseline(l) == 0 ? 0 : EXIT_USAGE;
        lcbp_attacks_free(l);
    } else {
        rc = run_attack(&a, attempts, seed, expect_log);
    }
    for (size_t i = 0; i < a.n_identities; i++)
        SSL_CTX_free(a.identities[i].ctx);
    world_free(&world);
    return rc;
}
