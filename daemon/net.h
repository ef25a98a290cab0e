/* Socket options lcbd sets on its listening sockets. */
#ifndef LCBD_NET_H
#define LCBD_NET_H

#include <event2/util.h>

/* Turns Nagle's algorithm off on fd; sockets accepted from a listening fd
 * inherit it (Linux). Every answer lcbd writes is complete when written:
 * held back until the client acknowledges the previous segment, it waited
 * for the client's delayed ACK, up to 40 ms. A failure is logged, not
 * fatal: lcbd still works, only slower. */
void net_no_delay(evutil_socket_t fd);

#endif
