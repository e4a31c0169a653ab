/*
 * UDP sink for bench/syslog.mjs: counts datagrams with recvmmsg, 64 per system call, so that the
 * sink is not what limits the rate (a Node sink pays about 2 us per datagram and saturates near
 * 450k/s on a 2-CPU machine, dropping datagrams from any faster sender).
 *
 *   udp-sink PORT      then on stdin: "r" resets the count and the clock, "?" prints
 *                      "COUNT MS" (datagrams since the reset, ms from the reset to the last one)
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int size = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size); /* needs CAP_NET_ADMIN; else: */
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)atoi(argv[1]));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    perror("udp-sink: bind");
    return 1;
  }
  static char bufs[BATCH][9000];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = bufs[i];
    iov[i].iov_len = sizeof bufs[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  printf("ready\n");
  fflush(stdout);
  long count = 0;
  double reset = now_ms(), last = reset;
  struct pollfd fds[2] = {{fd, POLLIN, 0}, {0, POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) continue;
    if (fds[0].revents & POLLIN) {
      int n;
      while ((n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL)) > 0) count += n;
      last = now_ms();
    }
    if (fds[1].revents & (POLLIN | POLLHUP)) {
      char cmd[64];
      ssize_t r = read(0, cmd, sizeof cmd);
      if (r <= 0) return 0; /* the bench went away */
      for (ssize_t i = 0; i < r; i++) {
        if (cmd[i] == 'r') {
          count = 0;
          reset = last = now_ms();
        } else if (cmd[i] == '?') {
          printf("%ld %.3f\n", count, count > 0 ? last - reset : 0.0);
          fflush(stdout);
        }
      }
    }
  }
}
