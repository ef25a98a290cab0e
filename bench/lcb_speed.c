/* lcb-speed: how fast this machine's CPU is right now, in the unit issue 5
 * describes its reference machine by: Ed25519 signatures per second on one
 * core, each made the way lcbd signs a record (lib/crypto.c). The
 * benchmarks print it beside their figures because this shared virtual
 * machine's speed moves by half from one hour to the next, and an absolute
 * target (balance answers per second, a p99 in milliseconds) can only be
 * read against the speed it was measured at. */
#include "lib/crypto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define RECORD_LEN 320 /* about a canonical deposit record's size */
#define CLOCK_CHECK_EVERY 64

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_seconds(const char *arg, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(arg, &end);
    return errno == 0 && end != arg && *end == '\0' && *out >= 0.1 && *out <= 30 ? 0 : -1;
}

int main(int argc, char **argv)
{
    double seconds = 2;
    struct lcb_error err = {0};
    uint8_t record[RECORD_LEN];
    uint8_t sig[CRYPTO_SIG_LEN];
    unsigned long signatures = 0;
    double start, elapsed;
    EVP_PKEY *key;

    if (argc > 2 || (argc == 2 && parse_seconds(argv[1], &seconds) != 0)) {
        fprintf(stderr, "usage: lcb-speed [SECONDS]   (0.1 to 30; default 2)\n");
        return EXIT_USAGE;
    }
    key = crypto_ed25519_generate(&err);
    if (key == NULL) {
        fprintf(stderr, "lcb-speed: %s: %s\n", err.code, err.message);
        return EXIT_FAILED;
    }
    memset(record, 'r', sizeof record);
    start = now_s();
    do {
        for (int i = 0; i < CLOCK_CHECK_EVERY; i++) {
            /* a different record each time, as lcbd never signs one twice */
            memcpy(record, &signatures, sizeof signatures);
            if (crypto_sign(key, record, sizeof record, sig, &err) != 0) {
                fprintf(stderr, "lcb-speed: %s: %s\n", err.code, err.message);
                EVP_PKEY_free(key);
                return EXIT_FAILED;
            }
            signatures++;
        }
        elapsed = now_s() - start;
    } while (elapsed < seconds);
    /* a figure for signatures that do not verify would be no figure at all */
    if (crypto_verify(key, record, sizeof record, sig) != 0) {
        fprintf(stderr, "lcb-speed: the last signature does not verify\n");
        EVP_PKEY_free(key);
        return EXIT_FAILED;
    }
    EVP_PKEY_free(key);
    printf("{\"ed25519_signatures_per_s\": %.0f, \"signatures\": %lu, \"seconds\": %.6f}\n",
           (double)signatures / elapsed, signatures, elapsed);
    return 0;
}
