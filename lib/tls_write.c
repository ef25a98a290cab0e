/* See tls_write.h. */
#include "lib/tls_write.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

int tls_write_now(struct bufferevent *bev, const void *data, size_t len)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    if (ssl == NULL || len == 0 || len > TLS_WRITE_NOW_MAX ||
        evbuffer_get_length(bufferevent_get_output(bev)) != 0 || !SSL_is_init_finished(ssl))
        return bufferevent_write(bev, data, len);
    /* Without SSL_MODE_ENABLE_PARTIAL_WRITE, a positive result means all. */
    if (SSL_write(ssl, data, (int)len) > 0)
        return 0;
    /* Not sent: the socket is full, or the connection failed. The output
     * buffer now begins with these very bytes, which is what OpenSSL needs
     * for the retry (libevent sets SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
     * after an error, libevent meets it on its own write and reports it
     * through the event callback, as for any other write. What the failed
     * write queued on OpenSSL's error queue is cleared, so that no later
     * call reads it as its own. */
    ERR_clear_error();
    return bufferevent_write(bev, data, len);
}
