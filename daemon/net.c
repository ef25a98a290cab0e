/* Socket options; see net.h. */
#include "daemon/net.h"

#include "daemon/log.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

void net_no_delay(evutil_socket_t fd)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        log_warning("cannot set TCP_NODELAY: %s", strerror(errno));
}
