/* Helpers for multi-process tests: spawn real binaries, wait for them, talk
 * raw bytes over loopback TCP. */
#ifndef OCKAM_TESTUTIL_H
#define OCKAM_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ockam/message.h"
#include "ockam/node.h"
#include "ockam/tcp.h"

typedef struct tu_proc {
  pid_t pid;
  int out_fd; /* read end of the child's stdout, or -1 */
  char line[4096];
  size_t line_len;
} tu_proc;

/* Start argv[0] with argv; capture stdout when capture is true (stderr is
 * inherited). Returns 0 or -1. */
int tu_spawn(tu_proc *p, char *const argv[], bool capture);
/* Read one stdout line (without newline) into out within timeout_ms; 0 or -1. */
int tu_read_line(tu_proc *p, char *out, size_t cap, int timeout_ms);
/* Wait until a line containing needle appears; the line is copied to out. */
int tu_expect_line(tu_proc *p, const char *needle, char *out, size_t cap, int timeout_ms);
/* Send sig and reap; returns the wait status. */
int tu_kill(tu_proc *p, int sig);
/* SIGTERM, then wait up to 10 s: the exit code (0..255), or -1 when the
 * process died of a signal (a crash, a sanitizer abort) or hung. */
int tu_term(tu_proc *p);
/* Wait for exit up to timeout_ms; returns exit status (0..255), or -1 on
 * timeout / abnormal end (then the child is killed). */
int tu_wait(tu_proc *p, int timeout_ms);

/* A free TCP port on 127.0.0.1 (bound and released). */
int tu_free_port(void);
/* Wait until path exists and holds a line; copy it (no newline). */
int tu_wait_file(const char *path, char *out, size_t cap, int timeout_ms);
/* Start `ockam hub` with extra args on 127.0.0.1:port (port 0 = any); sets
 * bound "ip:port". data_dir may be NULL (memory store). */
int tu_start_hub(tu_proc *p, int port, const char *store, const char *data_dir,
                 const char *const *extra, char *bound, size_t bound_cap);

/* Blocking loopback client. */
int tu_connect(const char *host_port, int timeout_ms);
int tu_send_all(int fd, const void *p, size_t n);
/* Read one u16-framed frame body into out (cap bytes); returns its length, 0 on
 * orderly close, -1 on error/timeout. */
int tu_recv_frame(int fd, uint8_t *out, size_t cap, int timeout_ms);
/* 1 if the peer closed the connection within timeout_ms. */
int tu_wait_closed(int fd, int timeout_ms);
/* mkdtemp under $TMPDIR; caller frees with tu_rmrf. */
char *tu_tempdir(const char *prefix);
void tu_rmrf(const char *path);
uint64_t tu_now_ms(void);
/* VmRSS of a process in kB, or -1. */
long tu_rss_kb(pid_t pid);
/* Open file descriptors of a process, or -1. */
int tu_fd_count(pid_t pid);

/* ---- Ockam frames over a raw socket (these fail the cmocka test) ---------- */

/* A u16-framed TransportMessage onward `to` (a text route, as
 * ockam_route_parse reads it) with return route [0#app]; its length. */
size_t tu_frame(uint8_t *out, size_t cap, const char *to, const uint8_t *payload, size_t len);
/* The same frame, sent on fd. */
void tu_send_msg(int fd, const char *to, const uint8_t *payload, size_t len);
/* One frame received and decoded (caller frees); NULL on close, timeout or
 * a frame that does not decode. */
ockam_message *tu_recv_msg(int fd, int timeout_ms);
/* Echo text through the hub's echo_service on fd and check the answer. */
void tu_check_echo(int fd, const char *text, int timeout_ms);
/* Read and drop whatever is waiting on fd. */
void tu_discard(int fd);
/* `ockam hub` on the memory store (any free port; bound gets "ip:port") and a
 * raw connection to it, which is returned. */
int tu_memory_hub_connected(tu_proc *hub, char *bound, size_t cap);
/* A node with a TCP transport, not connected yet. */
void tu_client_node(ockam_node **node, ockam_tcp **tcp);

/* Runs the cmocka group `tests` with SIGPIPE ignored (a peer may close first). */
#define TU_RUN_TESTS(tests) tu_run_tests(#tests, tests, sizeof tests / sizeof tests[0])
struct CMUnitTest;
int tu_run_tests(const char *name, const struct CMUnitTest *tests, size_t n);

#ifndef OCKAM_BIN
#define OCKAM_BIN "ockam"
#endif

#endif
