/* Test helper for tests/tree_mode.rs: forks N children that do not exec
 * (each pauses until killed) and waits for them.
 *
 *   tree_forker N
 *
 * Prints each child's pid on stdout, one line each, then "ready". The
 * children are what a pre-fork server's workers are: copies of the parent,
 * started without exec, so no load-time constructor runs in them. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: tree_forker N\n");
        return 125;
    }
    int n = atoi(argv[1]);
    if (n < 1 || n > 64) {
        fprintf(stderr, "tree_forker: N from 1 to 64\n");
        return 125;
    }
    for (int i = 0; i < n; i++) {
        fflush(stdout);
        pid_t child = fork();
        if (child < 0) {
            perror("tree_forker: fork");
            return 126;
        }
        if (child == 0) {
            for (;;) pause();
        }
        printf("%d\n", (int)child);
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        if (wait(NULL) < 0) pause();
    }
}
