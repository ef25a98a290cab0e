/* One fresh TLS connection to lcbd as a stranger would make it: connect,
 * hand over some certificate (or none), send one first request (an HTTP
 * GET, or an LCBP HELLO) and say how lcbd answered. In TLS 1.3 the client
 * finishes its handshake before the server has checked the client's
 * certificate, so a refusal at the handshake arrives as an alert on the
 * first read; it is named by the code lcbd logs for it (daemon/tls.c). */
#ifndef LCB_BENCH_AUTHZ_PROBE_H
#define LCB_BENCH_AUTHZ_PROBE_H

#include <openssl/ssl.h>
#include <stdbool.h>

enum probe_protocol { PROBE_HTTPS, PROBE_LCBP };

struct probe_answer {
    char got[160];  /* a refusal code, or "accepted: ..." / "no_answer: ..." */
    bool handshake; /* refused by a TLS alert */
};

/* http_path: the route a PROBE_HTTPS connection asks for (GET). */
void probe_once(SSL_CTX *ctx, int port, enum probe_protocol protocol, const char *http_path,
                struct probe_answer *answer);

/* The code lcbd logs for a fatal TLS alert it sent (daemon/tls.c), or NULL. */
const char *probe_alert_code(int alert);

#endif
