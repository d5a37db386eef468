/*
 * rawserver.h -- a raw HTTP/1.1 server on loopback for the outbound client tests: when it
 * answers, with what bytes and when it closes is up to the test, which a real server would not
 * allow.
 */
#ifndef RAWSERVER_H
#define RAWSERVER_H

#include <stdatomic.h>
#include <stddef.h>

/* Reads one request (head and Content-Length body) from fd into buf (cap bytes, NUL-ended):
 * 1, or 0 when the client went away. */
int raw_read_request(int fd, char *buf, size_t cap);

/* Starts a server on 127.0.0.1: a thread accepts and runs conn(fd) on a thread of its own for
 * each connection (conn closes fd), counting connections in *accepted.  Returns its port, or
 * -1. */
int raw_server_start(void (*conn)(int fd), atomic_int *accepted);

#endif
