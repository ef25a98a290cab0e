/* The COMMIT-cutting proxy; see itest_proxy.h. One process, poll() over a
 * few relayed connections; blocking is fine here, it is test code. */
#include "tests/itest_proxy.h"

#include "tests/itest.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PAIRS 32

struct pair {
    int client, server;
};

static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0)
        return -1;
    *port = ntohs(addr.sin_port);
    return fd;
}

static int connect_to(const char *host, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (fd < 0 || inet_pton(AF_INET, host, &addr.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* A Parse message whose whole statement is COMMIT: the unnamed statement's
 * empty name, then the text, each NUL-terminated ("READ COMMITTED" in a
 * BEGIN must not match). */
static bool mentions_commit(const char *data, ssize_t len)
{
    static const char needle[] = "\0COMMIT\0";
    for (ssize_t i = 0; i + (ssize_t)sizeof needle - 1 <= len; i++)
        if (memcmp(data + i, needle, sizeof needle - 1) == 0)
            return true;
    return false;
}

/* Relays one chunk; returns false when the pair is finished. */
static bool relay(struct pair *p, bool from_client, const char *arm_path)
{
    char buf[65536];
    int from = from_client ? p->client : p->server, to = from_client ? p->server : p->client;
    ssize_t n = read(from, buf, sizeof buf);
    if (n <= 0 || write(to, buf, (size_t)n) != n)
        return false;
    if (from_client && mentions_commit(buf, n) && unlink(arm_path) == 0) {
        close(p->client); /* lcbd loses the answer; the server commits */
        p->client = -1;
        sleep(1);
        return false;
    }
    return true;
}

static void proxy_loop(int listener, const char *pg_host, int pg_port, const char *arm_path)
{
    struct pair pairs[MAX_PAIRS];
    int n_pairs = 0;
    for (;;) {
        struct pollfd fds[1 + 2 * MAX_PAIRS];
        fds[0] = (struct pollfd){.fd = listener, .events = POLLIN};
        for (int i = 0; i < n_pairs; i++) {
            fds[1 + 2 * i] = (struct pollfd){.fd = pairs[i].client, .events = POLLIN};
            fds[2 + 2 * i] = (struct pollfd){.fd = pairs[i].server, .events = POLLIN};
        }
        if (poll(fds, (nfds_t)(1 + 2 * n_pairs), -1) < 0)
            _exit(1);
        for (int i = n_pairs - 1; i >= 0; i--) {
            bool alive = true;
            if (fds[1 + 2 * i].revents)
                alive = relay(&pairs[i], true, arm_path);
            if (alive && fds[2 + 2 * i].revents)
                alive = relay(&pairs[i], false, arm_path);
            if (!alive) {
                if (pairs[i].client >= 0)
                    close(pairs[i].client);
                close(pairs[i].server);
                pairs[i] = pairs[--n_pairs];
            }
        }
        if ((fds[0].revents & POLLIN) && n_pairs < MAX_PAIRS) {
            int client = accept(listener, NULL, NULL);
            int server = client >= 0 ? connect_to(pg_host, pg_port) : -1;
            if (server < 0) {
                if (client >= 0)
                    close(client);
                continue;
            }
            pairs[n_pairs++] = (struct pair){client, server};
        }
    }
}

void itest_proxy_start(struct itest_proxy *proxy, const char *pg_host, int pg_port)
{
    int listener = listen_any(&proxy->port);
    ck_assert_msg(listener >= 0, "proxy: cannot listen");
    snprintf(proxy->arm_path, sizeof proxy->arm_path, "%s/proxy-arm-%d", itest_env()->dir,
             (int)getpid());
    unlink(proxy->arm_path);
    proxy->pid = fork();
    ck_assert_int_ge(proxy->pid, 0);
    if (proxy->pid == 0)
        proxy_loop(listener, pg_host, pg_port, proxy->arm_path);
    close(listener);
}

void itest_proxy_arm(const struct itest_proxy *proxy)
{
    FILE *f = fopen(proxy->arm_path, "w");
    ck_assert_msg(f != NULL, "proxy: cannot arm");
    fclose(f);
}

void itest_proxy_stop(struct itest_proxy *proxy)
{
    if (proxy->pid > 0) {
        kill(proxy->pid, SIGKILL);
        waitpid(proxy->pid, NULL, 0);
    }
    proxy->pid = 0;
    unlink(proxy->arm_path);
}
