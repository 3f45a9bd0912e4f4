/* Experiment (not part of bench/run.sh): what the exec wrapper's
 * supervisor costs a short program, `WRAPPER --mode MODE -- true`, run N
 * times per binary, binaries interleaved round by round so that both see
 * the same machine; prints each binary's median run in microseconds and
 * the ratio of each to the first. With "leader" the wrapper leads a
 * process group of its own (as a job or Popen(process_group=0) makes it),
 * where it needs one more helper process to step out of the group; with
 * "member" it is in this program's group.
 *
 *   gcc -O2 -o /tmp/wrapper_cost bench/helpers/wrapper_cost.c
 *   cargo build --release --bin pdeathsig
 *   /tmp/wrapper_cost 500 process leader target/release/pdeathsig OTHER_BUILD...
 *
 * (an OTHER_BUILD from an older commit: git worktree add /tmp/old REV;
 * cargo build --release --bin pdeathsig there). It reaps every child. */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: wrapper_cost N MODE leader|member WRAPPER...\n");
        return 2;
    }
    int n = atoi(argv[1]);
    const char *mode = argv[2];
    int leader = strcmp(argv[3], "leader") == 0;
    int bins = argc - 4;
    if (n < 1) {
        fprintf(stderr, "wrapper_cost: N must be at least 1\n");
        return 2;
    }
    double *t = calloc((size_t)n * bins, sizeof *t);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    if (leader) {
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
        posix_spawnattr_setpgroup(&attr, 0);
    }
    for (int i = 0; i < n; i++) {
        for (int b = 0; b < bins; b++) {
            char *args[] = {argv[4 + b], "--mode", (char *)mode, "--", "true", NULL};
            double start = now_us();
            pid_t pid;
            if (posix_spawn(&pid, args[0], NULL, &attr, args, environ) != 0) {
                perror(args[0]);
                return 1;
            }
            int status;
            waitpid(pid, &status, 0);
            t[b * n + i] = now_us() - start;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "%s: status %d\n", args[0], status);
                return 1;
            }
        }
    }
    double first = 0;
    for (int b = 0; b < bins; b++) {
        qsort(t + b * n, n, sizeof *t, cmp);
        double median = t[b * n + n / 2];
        if (b == 0)
            first = median;
        printf("%-40s %s %s median %.0f us  ratio to the first %.3f\n", argv[4 + b], mode,
               leader ? "leader" : "member", median, median / first);
    }
    return 0;
}
