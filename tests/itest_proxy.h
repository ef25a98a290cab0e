/* A TCP proxy between lcbd and PostgreSQL for one failure that nothing else
 * produces on demand: the connection breaks after COMMIT reached the server
 * but before its answer reached lcbd. Test code; runs as a child process. */
#ifndef LCB_ITEST_PROXY_H
#define LCB_ITEST_PROXY_H

#include <sys/types.h>

struct itest_proxy {
    pid_t pid;
    int port;            /* where lcbd should connect */
    char arm_path[1024]; /* create this file to cut the next COMMIT's answer */
};

/* Forwards 127.0.0.1:port to PostgreSQL at pg_host:pg_port until stopped.
 * While arm_path exists, the next client message that is a COMMIT is
 * forwarded, the file is removed, and the client side is closed before any
 * answer is relayed (the server still commits). Aborts the test on failure. */
void itest_proxy_start(struct itest_proxy *proxy, const char *pg_host, int pg_port);
void itest_proxy_arm(const struct itest_proxy *proxy);
void itest_proxy_stop(struct itest_proxy *proxy);

#endif
