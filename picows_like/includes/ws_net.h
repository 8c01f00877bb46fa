/* Direct non-blocking socket writes, used only while the asyncio transport's
 * own buffer is empty (so ordering is kept).  Returns bytes written (0 when
 * the socket would block) or -1 on a real error (the caller then hands the
 * data to the transport, which reports the error the usual way).
 */
#ifndef PICOWS_LIKE_WS_NET_H
#define PICOWS_LIKE_WS_NET_H

#include <stddef.h>
#include <errno.h>

#if defined(__linux__) || defined(__APPLE__) || defined(__FreeBSD__)
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

static inline long ws_send2(int fd, const char *p1, size_t n1, const char *p2, size_t n2)
{
    struct iovec iov[2];
    struct msghdr msg = {0};
    iov[0].iov_base = (void *)p1; iov[0].iov_len = n1;
    iov[1].iov_base = (void *)p2; iov[1].iov_len = n2;
    msg.msg_iov = iov;
    msg.msg_iovlen = n2 ? 2 : 1;
    for (;;) {
        ssize_t r = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (r >= 0) return (long)r;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        return -1;
    }
}
#define WS_HAVE_DIRECT_SEND 1
#else
static inline long ws_send2(int fd, const char *p1, size_t n1, const char *p2, size_t n2)
{
    (void)fd; (void)p1; (void)n1; (void)p2; (void)n2;
    return 0;
}
#define WS_HAVE_DIRECT_SEND 0
#endif

#endif
