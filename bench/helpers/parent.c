/* Benchmark helper: the parent that dies. Spawns PROG (with extra variables
 * set in the child only, so the parent itself is never preloaded), prints
 * "pid <child>", then SIGKILLs itself after exactly --delay-us microseconds
 * (measured from the fork), or pauses until killed (--pause).
 *
 *   parent [--handoff] [--pgroup] (--delay-us N | --pause) [--set K=V]... -- PROG [ARGS...]
 *
 * --handoff  export PDEATHSIG_PPID=<own pid> to the child (the protocol)
 * --pgroup   the child starts a process group of its own (setpgid(2)) */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int handoff = 0, pgroup = 0, nset = 0, i = 1;
    long delay_us = -1;
    char *sets[16];
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--handoff") == 0) handoff = 1;
        else if (strcmp(argv[i], "--pgroup") == 0) pgroup = 1;
        else if (strcmp(argv[i], "--pause") == 0) delay_us = -1;
        else if (strcmp(argv[i], "--delay-us") == 0 && i + 1 < argc) delay_us = atol(argv[++i]);
        else if (strcmp(argv[i], "--set") == 0 && i + 1 < argc && nset < 16) sets[nset++] = argv[++i];
        else if (strcmp(argv[i], "--") == 0) { i++; break; }
        else { fprintf(stderr, "parent: bad argument %s\n", argv[i]); return 125; }
    }
    if (i >= argc) { fprintf(stderr, "parent: no program\n"); return 125; }
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    pid_t self = getpid();
    pid_t child = fork();
    if (child < 0) { perror("parent: fork"); return 126; }
    if (child == 0) {
        for (int k = 0; k < nset; k++) putenv(sets[k]);
        if (pgroup) setpgid(0, 0);
        if (handoff) {
            char buf[16];
            snprintf(buf, sizeof buf, "%d", (int)self);
            setenv("PDEATHSIG_PPID", buf, 1);
        }
        execv(argv[i], argv + i);
        perror("parent: exec");
        _exit(127);
    }
    dprintf(1, "pid %d\n", (int)child);
    if (delay_us >= 0) {
        long ns = start.tv_nsec + delay_us * 1000;
        struct timespec until = { start.tv_sec + ns / 1000000000L, ns % 1000000000L };
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) != 0) {}
        kill(self, SIGKILL);
    }
    for (;;) pause();
}
