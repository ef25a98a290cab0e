/* lcbd: the lifelong-learning credit bank daemon. Loads the configuration,
 * keys and TLS context, then runs one libevent loop serving HTTPS until
 * SIGTERM. Shutdown stops accepting, lets every request in flight finish
 * (so whatever was acknowledged is committed), then frees everything. */
#include "daemon/app.h"
#include "daemon/balances.h"
#include "daemon/config.h"
#include "daemon/db.h"
#include "daemon/http.h"
#include "daemon/terminal_listener.h"
#include "daemon/ledger.h"
#include "daemon/log.h"
#include "daemon/revocations.h"
#include "daemon/signer.h"
#include "daemon/tls.h"
#include "lib/crypto.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHUTDOWN_GRACE_S 30

static const char usage[] =
    "usage: lcbd --config FILE [--check-config]\n"
    "       lcbd --help | --version\n"
    "\n"
    "The lifelong-learning credit bank daemon: serves the HTTPS+JSON API,\n"
    "records signed, chained, double-entry credit transactions in PostgreSQL.\n"
    "\n"
    "  -c, --config FILE   configuration file (key = value lines; see lcbd(8))\n"
    "      --check-config  load the configuration, keys and certificates, then exit\n"
    "  -h, --help          this text\n"
    "  -V, --version       print the version\n"
    "\n"
    "Signals: SIGTERM or SIGINT shut down gracefully (requests in flight are\n"
    "finished and answered first).\n";

struct daemon_state {
    struct app app;
    struct lcbd_config cfg;
    SSL_CTX *tls;          /* HTTPS: a missing certificate is refused per route */
    SSL_CTX *terminal_tls; /* LCBP: no certificate, no handshake */
    struct revocations *revocations;
    struct http_server *http;
    struct terminal_listener *terminals; /* NULL when lcbp_listen is not set */
    struct event *sigterm, *sigint, *drain_timer;
    int drain_ticks;
};

static int read_id_secret(struct app *app, const char *path, struct lcb_error *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return lcb_error_set(err, "config", "id_secret_file %s: %s", path, strerror(errno));
    char hex[2 * sizeof app->id_secret + 2] = "";
    bool ok = fgets(hex, sizeof hex, f) != NULL;
    fclose(f);
    hex[strcspn(hex, "\r\n")] = '\0';
    size_t len = strlen(hex) / 2;
    if (!ok || len < 16 || strlen(hex) % 2 != 0 || crypto_hex_decode(hex, app->id_secret, len) != 0)
        return lcb_error_set(err, "config", "id_secret_file %s: expected 32-128 hex digits", path);
    app->id_secret_len = len;
    return 0;
}

static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct daemon_state *st = arg;
    unsigned in_flight = http_server_in_flight(st->http);
    if (st->terminals != NULL)
        in_flight += terminal_listener_in_flight(st->terminals);
    bool idle = in_flight == 0 && !db_pool_busy(st->app.db);
    if (idle || ++st->drain_ticks > SHUTDOWN_GRACE_S * 10) {
        if (!idle)
            log_warning("shutdown: %u requests still unanswered after %d s", in_flight,
                        SHUTDOWN_GRACE_S);
        event_base_loopexit(st->app.base, NULL);
        return;
    }
    struct timeval tick = {0, 100000};
    evtimer_add(st->drain_timer, &tick);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct daemon_state *st = arg;
    if (st->drain_timer != NULL)
        return;
    log_info("shutdown: signal %d; finishing the requests in flight", (int)sig);
    http_server_stop_accepting(st->http);
    if (st->terminals != NULL)
        terminal_listener_stop_accepting(st->terminals);
    revocations_stop(st->revocations);
    st->drain_timer = evtimer_new(st->app.base, on_drain_tick, st);
    if (st->drain_timer == NULL)
        event_base_loopexit(st->app.base, NULL);
    else
        on_drain_tick(-1, 0, st);
}

static int load_static(struct daemon_state *st, struct lcb_error *err)
{
    if (read_id_secret(&st->app, st->cfg.id_secret_file, err) != 0)
        return -1;
    st->app.signer = signer_load(st->cfg.signing_key, err);
    if (st->app.signer == NULL)
        return -1;
    st->tls = tls_server_ctx_new(st->cfg.tls_cert, st->cfg.tls_key, st->cfg.tls_ca, err);
    if (st->tls == NULL)
        return -1;
    if (tls_count_refusals(st->tls, &st->app.counters.refusals) != 0)
        return lcb_error_set(err, "internal_error", "out of memory");
    return 0;
}

static int is_refused(const uint8_t fingerprint[32], void *arg)
{
    switch (revocations_check(arg, fingerprint)) {
    case REVOCATION_REVOKED:
        return X509_V_ERR_CERT_REVOKED;
    case REVOCATION_EXPIRED:
        return X509_V_ERR_CERT_HAS_EXPIRED;
    default:
        return X509_V_OK;
    }
}

static int start_services(struct daemon_state *st, struct lcb_error *err)
{
    struct app *app = &st->app;
    app->base = event_base_new();
    if (app->base == NULL)
        return lcb_error_set(err, "internal_error", "cannot create the event loop");
    app->db = db_pool_new(app->base, st->cfg.db_conninfo, st->cfg.db_connections,
                          st->cfg.request_timeout_s);
    app->ledger = ledger_new(app);
    app->balances = balances_new(app);
    if (app->db == NULL || app->ledger == NULL || app->balances == NULL)
        return lcb_error_set(err, "internal_error", "out of memory");
    st->http = http_server_new(app, st->tls, err);
    if (st->http == NULL)
        return -1;
    if (st->cfg.lcbp_listen_host[0] != '\0') {
        st->revocations = revocations_new(app);
        st->terminal_tls = tls_server_ctx_new(st->cfg.tls_cert, st->cfg.tls_key, st->cfg.tls_ca, err);
        if (st->revocations == NULL || st->terminal_tls == NULL ||
            tls_require_client_cert(st->terminal_tls, is_refused, st->revocations) != 0 ||
            tls_count_refusals(st->terminal_tls, &app->counters.refusals) != 0)
            return lcb_error_is_set(err) ? -1
                                         : lcb_error_set(err, "internal_error", "out of memory");
        st->terminals = terminal_listener_new(app, st->terminal_tls, err);
        if (st->terminals == NULL)
            return -1;
    }
    st->sigterm = evsignal_new(app->base, SIGTERM, on_signal, st);
    st->sigint = evsignal_new(app->base, SIGINT, on_signal, st);
    if (st->sigterm == NULL || st->sigint == NULL || evsignal_add(st->sigterm, NULL) != 0 ||
        evsignal_add(st->sigint, NULL) != 0)
        return lcb_error_set(err, "internal_error", "cannot watch signals");
    return 0;
}

static void stop_services(struct daemon_state *st)
{
    struct app *app = &st->app;
    if (st->drain_timer)
        event_free(st->drain_timer);
    if (st->sigterm)
        event_free(st->sigterm);
    if (st->sigint)
        event_free(st->sigint);
    /* The ledger and the pool answer what they still hold, through the
     * listeners: free them first. */
    ledger_free(app->ledger);
    balances_free(app->balances);
    revocations_free(st->revocations);
    db_pool_free(app->db);
    terminal_listener_free(st->terminals);
    http_server_free(st->http);
    if (app->base)
        event_base_free(app->base);
    SSL_CTX_free(st->tls);
    SSL_CTX_free(st->terminal_tls);
    signer_free(app->signer);
    OPENSSL_cleanse(app->id_secret, sizeof app->id_secret);
}

static int write_pid_file(const char *path)
{
    if (path[0] == '\0')
        return 0;
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%ld\n", (long)getpid());
    return fclose(f);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"check-config", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    const char *config_path = NULL;
    bool check_only = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:hV", options, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'k': check_only = true; break;
        case 'h': fputs(usage, stdout); return 0;
        case 'V': printf("lcbd %s\n", PACKAGE_VERSION); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (config_path == NULL || optind != argc) {
        fputs(usage, stderr);
        return 2;
    }
    struct daemon_state st;
    memset(&st, 0, sizeof st);
    st.app.cfg = &st.cfg;
    struct lcb_error err;
    lcb_error_clear(&err);
    config_defaults(&st.cfg);
    int rc = 1;
    if (config_load(&st.cfg, config_path, &err) != 0 ||
        log_open(st.cfg.log_target, st.cfg.log_level) != 0) {
        fprintf(stderr, "lcbd: %s\n", err.message[0] ? err.message : "bad log_target");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    if (load_static(&st, &err) != 0)
        goto out;
    if (check_only) {
        printf("lcbd: configuration OK; signing key %s\n", signer_key_id(st.app.signer));
        rc = 0;
        goto out;
    }
    if (start_services(&st, &err) != 0 || write_pid_file(st.cfg.pid_file) != 0)
        goto out;
    log_info("listening on https://%s:%d, signing key %s", st.cfg.listen_host, st.cfg.listen_port,
             signer_key_id(st.app.signer));
    event_base_dispatch(st.app.base);
    log_info("stopped: %lu requests, %lu postings, %lu refusals", st.app.counters.requests,
             st.app.counters.postings, st.app.counters.refusals);
    rc = 0;
out:
    if (rc != 0)
        log_error("%s: %s", err.code[0] ? err.code : "error",
                  err.message[0] ? err.message : "cannot write pid_file");
    stop_services(&st);
    if (st.cfg.pid_file[0] != '\0' && rc == 0 && !check_only)
        unlink(st.cfg.pid_file);
    log_close();
    return rc;
}
