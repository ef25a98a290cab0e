/* Sending a small message on a libevent bufferevent at once. libevent
 * 2.1's TLS bufferevent encrypts and sends only when the socket is next
 * reported writable: two epoll_ctl calls and one loop iteration per
 * answer, on a connection that is almost always writable. This writes
 * through the bufferevent's SSL object directly when nothing is queued,
 * and leaves everything else (a full socket, an error, a plain socket,
 * a large message) to the bufferevent. Built into the programs that use
 * libevent, not into liblcb.a. */
#ifndef LCB_TLS_WRITE_H
#define LCB_TLS_WRITE_H

#include <event2/bufferevent.h>
#include <stddef.h>

/* Larger messages go through the bufferevent: after a blocked write,
 * OpenSSL must be handed the same bytes again, and libevent passes at most
 * about 15,000 bytes per SSL_write. */
#define TLS_WRITE_NOW_MAX 4096

/* As bufferevent_write: 0, or -1 when the bytes could not be queued. */
int tls_write_now(struct bufferevent *bev, const void *data, size_t len);

#endif
