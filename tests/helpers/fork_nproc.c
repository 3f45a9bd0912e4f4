/* Test helper (tests/fork_watcher_limit.rs): a tree-mode process (armed by
 * the preloaded library) drops to uid/gid 65533, sets RLIMIT_NPROC to its
 * own task count plus EXTRA (3 with the watcher: itself, the watcher, the
 * fork child), forks, and the child prints "child sig N" (its
 * PR_GET_PDEATHSIG) and exits. With EXTRA 1 the fork succeeds but the
 * child's watcher thread cannot start.
 *
 *   fork_nproc EXTRA */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: fork_nproc EXTRA\n"); return 125; }
    rlim_t extra = (rlim_t)atoi(argv[1]);
    if (setgid(65533) != 0 || setuid(65533) != 0) { perror("fork_nproc: setuid"); return 1; }
    /* This process's tasks: the main thread and the watcher. */
    struct rlimit rl = { 2 + extra, 2 + extra };
    if (setrlimit(RLIMIT_NPROC, &rl) != 0) { perror("fork_nproc: setrlimit"); return 1; }
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) { perror("fork_nproc: fork"); return 1; }
    if (child == 0) {
        int sig = -1;
        prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0);
        printf("child sig %d\n", sig);
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
