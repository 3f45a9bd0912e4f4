/* Experiment (not part of bench/run.sh): what one fork(2) costs a process
 * of a tree, where the library's pthread_atfork handlers run: the prepare
 * handler opens a pidfd on the forker for the child, and the child waits
 * until its new watcher thread has taken that pidfd into its own
 * descriptor table. Times N rounds of fork, child _exit(0), waitpid, and
 * prints the median and mean round in microseconds. Run it without the
 * library and under it in each mode, and compare the medians:
 *
 *   gcc -O2 -o /tmp/fork_cost bench/helpers/fork_cost.c
 *   lib=$PWD/target/release/libpdeathsig.so
 *   /tmp/fork_cost 2000
 *   PDEATHSIG_PPID=$$ LD_PRELOAD=$lib PDEATHSIG=TERM /tmp/fork_cost 2000
 *   PDEATHSIG_PPID=$$ LD_PRELOAD=$lib PDEATHSIG=TERM PDEATHSIG_MODE=tree /tmp/fork_cost 2000
 *
 * It reaps every child it forks. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    if (n <= 0 || n > 1000000) {
        fprintf(stderr, "usage: fork_cost [ROUNDS (1-1000000)]\n");
        return 2;
    }
    double *round = malloc(sizeof *round * n), sum = 0;
    if (round == NULL) return 1;
    for (int i = 0; i < n; i++) {
        double start = now_us();
        pid_t child = fork();
        if (child < 0) {
            perror("fork_cost: fork");
            return 1;
        }
        if (child == 0) _exit(0);
        int status;
        while (waitpid(child, &status, 0) < 0) {}
        round[i] = now_us() - start;
        sum += round[i];
    }
    qsort(round, n, sizeof *round, cmp);
    printf("rounds=%d p50_us=%.1f mean_us=%.1f\n", n, round[n / 2], sum / n);
    free(round);
    return 0;
}
