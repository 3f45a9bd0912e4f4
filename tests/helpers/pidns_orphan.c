/* Test helper for tests/pidns.rs: a PID namespace's init whose parent
 * (outside) is dead before the init's program starts.
 *
 *   pidns_orphan PROG ARGS...
 *
 * unshare(CLONE_NEWPID), fork: the child is the new namespace's init. The
 * parent prints the child's pid (as seen outside) and exits 0 at once; the
 * child waits until its parent is gone (end of file on a pipe whose write
 * end only the parent held), then execs PROG, whose getppid() is 0 and
 * whose parent is dead. Exit 3 with a message if the namespace cannot be
 * made (not root). */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: pidns_orphan PROG ARGS...\n");
        return 125;
    }
    if (unshare(CLONE_NEWPID) != 0) {
        fprintf(stderr, "pidns_orphan: unshare(CLONE_NEWPID): %s\n", strerror(errno));
        return 3;
    }
    int p[2];
    if (pipe(p) != 0) return 126;
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) return 126;
    if (child > 0) {
        printf("%d\n", (int)child);
        fflush(stdout);
        _exit(0);
    }
    close(p[1]);
    char byte;
    while (read(p[0], &byte, 1) > 0) {}
    close(p[0]);
    execvp(argv[1], argv + 1);
    perror("pidns_orphan: exec");
    _exit(127);
}
