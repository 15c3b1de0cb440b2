/*
 * epoll_echo: the C baseline of `make bench`. A minimal single-threaded,
 * level-triggered epoll line-echo server: it echoes every complete line, keeps
 * only an unterminated tail per connection, and logs nothing.
 *
 * Usage: epoll_echo PORT   (binds 127.0.0.1; prints "ready PORT" once listening)
 *
 * SIGTERM keeps its default action (the process is killed), which is why the
 * bench reports this server's shutdown row as n/a.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* Per-connection state; the tail and pending-output buffers exist only when
 * needed, so an idle connection costs one small struct. */
struct conn {
    char *tail;     /* bytes after the last '\n' seen, waiting for the rest */
    size_t tail_len;
    char *out;      /* echo bytes the socket did not take yet */
    size_t out_len;
};

static struct conn **conns; /* indexed by fd */
static int nconns;
static int ep;

static void drop_conn(int fd) {
    struct conn *c = conns[fd];
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    if (c) {
        free(c->tail);
        free(c->out);
        free(c);
        conns[fd] = NULL;
    }
}

static int append(char **buf, size_t *len, const char *src, size_t n) {
    char *p = realloc(*buf, *len + n);
    if (!p)
        return -1;
    memcpy(p + *len, src, n);
    *buf = p;
    *len += n;
    return 0;
}

/* Write what the socket takes; keep the rest and switch to EPOLLOUT so that we
 * stop reading this peer until its output drains (backpressure). */
static int send_or_queue(int fd, struct conn *c, const char *data, size_t n) {
    while (n > 0 && c->out_len == 0) {
        ssize_t w = write(fd, data, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                return -1;
            break;
        }
        data += w;
        n -= (size_t)w;
    }
    if (n > 0) {
        if (append(&c->out, &c->out_len, data, n) < 0)
            return -1;
        struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
    }
    return 0;
}

static void on_readable(int fd, char *buf, size_t cap) {
    struct conn *c = conns[fd];
    ssize_t n = read(fd, buf, cap);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        /* EOF: echo the unterminated tail as it is, best effort, then close. */
        if (n == 0 && c->tail_len)
            send_or_queue(fd, c, c->tail, c->tail_len);
        drop_conn(fd);
        return;
    }
    char *last = memrchr(buf, '\n', (size_t)n);
    if (!last) {
        if (append(&c->tail, &c->tail_len, buf, (size_t)n) < 0)
            drop_conn(fd);
        return;
    }
    size_t upto = (size_t)(last - buf) + 1;
    int err = 0;
    if (c->tail_len) {
        /* Join the stored tail with the rest of its line into one write. */
        if (append(&c->tail, &c->tail_len, buf, upto) < 0)
            err = 1;
        else
            err = send_or_queue(fd, c, c->tail, c->tail_len) < 0;
        free(c->tail);
        c->tail = NULL;
        c->tail_len = 0;
    } else {
        err = send_or_queue(fd, c, buf, upto) < 0;
    }
    if (!err && upto < (size_t)n)
        err = append(&c->tail, &c->tail_len, buf + upto, (size_t)n - upto) < 0;
    if (err)
        drop_conn(fd);
}

static void on_writable(int fd) {
    struct conn *c = conns[fd];
    while (c->out_len) {
        ssize_t w = write(fd, c->out, c->out_len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return;
            drop_conn(fd);
            return;
        }
        memmove(c->out, c->out + w, c->out_len - (size_t)w);
        c->out_len -= (size_t)w;
    }
    free(c->out);
    c->out = NULL;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    signal(SIGPIPE, SIG_IGN); /* a peer that vanished must not kill the server */
    nconns = 65536;
    conns = calloc((size_t)nconns, sizeof *conns);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((unsigned short)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 65535) < 0) {
        perror("bind/listen");
        return 1;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
    printf("ready %d\n", port);
    fflush(stdout);

    static char buf[65536];
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                for (;;) {
                    int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (cfd < 0)
                        break; /* EAGAIN, or EMFILE: retried on the next wake-up */
                    if (cfd >= nconns) {
                        close(cfd);
                        continue;
                    }
                    conns[cfd] = calloc(1, sizeof(struct conn));
                    struct epoll_event ev = {.events = EPOLLIN, .data.fd = cfd};
                    epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
                }
            } else if (conns[fd] == NULL) {
                continue; /* closed earlier in this batch */
            } else if (evs[i].events & EPOLLOUT) {
                on_writable(fd);
            } else {
                on_readable(fd, buf, sizeof buf);
            }
        }
    }
}
