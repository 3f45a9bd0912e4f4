/* Test helper for tests/tree_mode.rs: a launcher whose parent half ends at
 * once, before the child's watcher can have started.
 *
 *   fork_exit HOW [PROG ARGS...]
 *
 * Pins itself to one CPU, so that after fork(2) the parent runs on before
 * the child does; forks; the parent then ends at once, by HOW: "0" or "1"
 * (_exit with that status) or "kill" (SIGKILL to itself). The child waits
 * until its parent is gone (it has been reparented), then execs PROG: it
 * neither calls setsid(2) nor changes its signals, so only the parent's
 * exit status can tell whether it was left behind on purpose. */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: fork_exit 0|1|kill [PROG ARGS...]\n");
        return 125;
    }
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &one);
    sched_setaffinity(0, sizeof one, &one);
    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0) {
        perror("fork_exit: fork");
        return 126;
    }
    if (child > 0) {
        if (strcmp(argv[1], "kill") == 0) raise(SIGKILL);
        _exit(strcmp(argv[1], "0") == 0 ? 0 : 1);
    }
    /* Bounded: at most 5 s. */
    for (int i = 0; i < 5000 && getppid() == parent; i++) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    if (argc > 2) {
        execvp(argv[2], argv + 2);
        perror("fork_exit: exec");
        _exit(127);
    }
    for (;;) pause();
}
