/* Benchmark helper: a chain of N processes, each the child of the one
 * before, each started by fork + exec (so a preloaded library arms and
 * stamps in every one). Each prints "ready <pid>" and waits at most 120 s.
 *
 *   chain /absolute/path/to/chain N */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: chain SELF N\n"); return 125; }
    int n = atoi(argv[2]);
    dprintf(1, "ready %d\n", (int)getpid());
    if (n > 1) {
        char next[16];
        snprintf(next, sizeof next, "%d", n - 1);
        pid_t child = fork();
        if (child == 0) {
            execl(argv[1], argv[1], argv[1], next, (char *)NULL);
            _exit(127);
        }
    }
    sleep(120);
    return 0;
}
