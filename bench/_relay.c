/* A small SMTP relay for benchmarks, in C: what bench/_relay.py does, for a fraction of its CPU.

   It waits --accept-ms before each 250 to DATA (a relay that queues each message durably
   first) and appends one line per accepted message to --out:

       <arrival time> TAB <client port> TAB <Message-ID> TAB <X-Mihub-Incident> TAB <rcpt,rcpt…>

       cc -O2 -pthread -o relay bench/_relay.c
       ./relay --port 2525 --accept-ms 10 --out /tmp/relay.tsv

   The part of SMTP that smtplib uses (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), one
   thread per client connection with blocking reads and writes; the wait before the 250 sleeps
   that connection's thread only. The Message-ID and X-Mihub-Incident are read from the
   received header block (folded lines unfolded, a dot-stuffed line unstuffed), the recipients
   from the envelope; the line is written with one write(2) right after the 250 is sent, so a
   reader never sees half of it. Prints "ready" once it listens. Why a relay in C: the bench
   runs it on the same two cores as the workers it measures, and a relay the hub talks to in
   production (Postfix, Exchange Online) runs elsewhere or in C; the Python relay spent 0.27-0.29
   ms of CPU a message there, about a third of all the CPU not spent by the workers. */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int out_fd = -1;
static long delay_ns = 10000000L;

typedef struct {
    char *data;
    size_t len, cap;
} buf_t;

static void buf_add(buf_t *b, const char *p, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap) cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) abort();
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

static int send_all(int fd, const char *s) {
    size_t n = strlen(s);
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The address between the angle brackets of `MAIL FROM:<a> …` / `RCPT TO:<a>`. */
static void address(const char *line, size_t n, buf_t *into) {
    const char *start = memchr(line, '<', n);
    const char *end = memchr(line, '>', n);
    if (start && end && start < end) buf_add(into, start + 1, (size_t)(end - start - 1));
}

static size_t trim(const char **p, size_t n) {
    while (n && (**p == ' ' || **p == '\t')) (*p)++, n--;
    while (n && ((*p)[n - 1] == ' ' || (*p)[n - 1] == '\t')) n--;
    return n;
}

/* The Message-ID and X-Mihub-Incident of the message's header block (dot-stuffed as sent). */
static void header_fields(const char *msg, size_t len, buf_t *mid, buf_t *incident) {
    const char *end = memmem(msg, len, "\r\n\r\n", 4);
    const char *p = msg, *stop = end ? end : msg + len;
    int got_mid = 0, got_inc = 0;
    buf_t *current = NULL;
    while (p < stop) {
        const char *eol = memmem(p, (size_t)(stop - p), "\r\n", 2);
        size_t n = eol ? (size_t)(eol - p) : (size_t)(stop - p);
        const char *line = p;
        p = eol ? eol + 2 : stop;
        if (n >= 2 && line[0] == '.' && line[1] == '.') line++, n--;  /* dot-unstuffing */
        if (n && (line[0] == ' ' || line[0] == '\t')) {  /* a folded continuation line */
            if (current) {
                size_t m = trim(&line, n);
                if (current->len) buf_add(current, " ", 1);
                buf_add(current, line, m);
            }
            continue;
        }
        current = NULL;
        const char *colon = memchr(line, ':', n);
        if (!colon) continue;
        const char *name = line;
        size_t name_len = trim(&name, (size_t)(colon - line));
        const char *value = colon + 1;
        size_t value_len = trim(&value, n - (size_t)(colon - line) - 1);
        if (name_len == 10 && !strncasecmp(name, "message-id", 10) && !got_mid) {
            got_mid = 1, current = mid;
        } else if (name_len == 16 && !strncasecmp(name, "x-mihub-incident", 16) && !got_inc) {
            got_inc = 1, current = incident;
        }
        if (current) buf_add(current, value, value_len);
    }
}

static void record(int port, const char *msg, size_t len, const buf_t *rcpts) {
    buf_t mid = {0}, incident = {0}, line = {0};
    header_fields(msg, len, &mid, &incident);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    char head[64];
    int n = snprintf(head, sizeof head, "%lld.%06ld\t%d\t", (long long)now.tv_sec,
                     now.tv_nsec / 1000, port);
    buf_add(&line, head, (size_t)n);
    buf_add(&line, mid.data ? mid.data : "", mid.len);
    buf_add(&line, "\t", 1);
    buf_add(&line, incident.data ? incident.data : "", incident.len);
    buf_add(&line, "\t", 1);
    buf_add(&line, rcpts->data ? rcpts->data : "", rcpts->len);
    buf_add(&line, "\n", 1);
    if (write(out_fd, line.data, line.len) < 0) perror("relay: write");  /* one write */
    free(mid.data), free(incident.data), free(line.data);
}

static void *session(void *arg) {
    int fd = (int)(long)arg;
    struct sockaddr_in peer;  /* the relay listens on IPv4 only */
    socklen_t peer_len = sizeof peer;
    int port = getpeername(fd, (struct sockaddr *)&peer, &peer_len) == 0 ? ntohs(peer.sin_port) : 0;
    buf_t in = {0}, rcpts = {0};
    size_t pos = 0;  /* where the unread part of `in` starts */
    int have_mail = 0, data = 0, n_rcpts = 0;
    char chunk[65536];
    send_all(fd, "220 relay.bench ESMTP\r\n");
    for (;;) {
        const char *line = in.data + pos;
        size_t avail = in.len - pos;
        const char *at = NULL;
        size_t used = 0;
        if (data) {  /* the message runs up to a line that is a lone dot */
            if (avail >= 3 && !memcmp(line, ".\r\n", 3)) {
                at = line, used = 3;
            } else if ((at = memmem(line, avail, "\r\n.\r\n", 5))) {
                at += 2, used = (size_t)(at - line) + 3;
            }
        } else if ((at = memmem(line, avail, "\r\n", 2))) {
            used = (size_t)(at - line) + 2;
        }
        if (!at) {
            if (pos) {  /* keep only the unread part */
                memmove(in.data, in.data + pos, avail);
                in.len = avail, pos = 0;
            }
            ssize_t got = recv(fd, chunk, sizeof chunk, 0);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) break;
            buf_add(&in, chunk, (size_t)got);
            continue;
        }
        pos += used;
        if (data) {
            data = 0;
            struct timespec wait = {delay_ns / 1000000000L, delay_ns % 1000000000L};
            while (nanosleep(&wait, &wait) < 0 && errno == EINTR) {
            }
            if (send_all(fd, "250 2.0.0 OK queued\r\n") < 0) break;
            record(port, line, (size_t)(at - line), &rcpts);
            have_mail = 0, n_rcpts = 0, rcpts.len = 0;
            continue;
        }
        size_t n = (size_t)(at - line);
        char verb[5] = {0};
        for (size_t i = 0; i < 4 && i < n; i++) verb[i] = (char)toupper((unsigned char)line[i]);
        int failed;
        if (!strcmp(verb, "MAIL")) {
            have_mail = 1, n_rcpts = 0, rcpts.len = 0;
            failed = send_all(fd, "250 OK\r\n");
        } else if (!strcmp(verb, "RCPT")) {
            if (!have_mail) {
                failed = send_all(fd, "503 Error: need MAIL command\r\n");
            } else {
                if (n_rcpts++) buf_add(&rcpts, ",", 1);
                address(line, n, &rcpts);
                failed = send_all(fd, "250 OK\r\n");
            }
        } else if (!strcmp(verb, "DATA")) {
            if (!n_rcpts) {
                failed = send_all(fd, "503 Error: need RCPT command\r\n");
            } else {
                data = 1;
                failed = send_all(fd, "354 End data with <CR><LF>.<CR><LF>\r\n");
            }
        } else if (!strcmp(verb, "EHLO")) {
            failed = send_all(fd, "250-relay.bench\r\n250-8BITMIME\r\n250 SIZE 52428800\r\n");
        } else if (!strcmp(verb, "HELO") || !strcmp(verb, "NOOP")) {
            failed = send_all(fd, "250 OK\r\n");
        } else if (!strcmp(verb, "RSET")) {
            have_mail = 0, n_rcpts = 0, rcpts.len = 0;
            failed = send_all(fd, "250 OK\r\n");
        } else if (!strcmp(verb, "QUIT")) {
            send_all(fd, "221 Bye\r\n");
            break;
        } else {
            failed = send_all(fd, "500 Error: command not recognized\r\n");
        }
        if (failed) break;
    }
    close(fd);
    free(in.data), free(rcpts.data);
    return NULL;
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *out_path = NULL;
    int port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--host")) host = argv[i + 1];
        else if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--accept-ms")) delay_ns = (long)(atof(argv[i + 1]) * 1e6);
        else if (!strcmp(argv[i], "--out")) out_path = argv[i + 1];
        else {
            fprintf(stderr, "relay: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!port || !out_path) {
        fprintf(stderr, "usage: relay --port N --out FILE [--accept-ms 10] [--host H]\n");
        return 2;
    }
    out_fd = open(out_path, O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (out_fd < 0) {
        perror("relay: open");
        return 1;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "relay: --host must be an IPv4 address\n");
        return 2;
    }
    int server = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(server, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(server, 256) < 0) {
        perror("relay: listen");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) {  /* until SIGTERM or SIGINT ends the process (every line is written already) */
        int fd = accept(server, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            perror("relay: accept");
            return 1;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        if (pthread_create(&thread, &attr, session, (void *)(long)fd) != 0) close(fd);
        pthread_attr_destroy(&attr);
    }
}
