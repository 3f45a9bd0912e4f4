/* Test helper: a parent that spawns one child and then waits, dies, or
 * exits. Built both dynamically and with -static by tests/support.
 *
 *   spawn [--handoff | --no-handoff] [--export-pid VAR] [--die-after-us N] [--wait] -- PROG [ARGS...]
 *
 * --handoff        export PDEATHSIG_PPID=<own pid> to the child (the protocol)
 * --handoff-stamp  export it as the library writes it (PID:TICKS::INO)
 * --no-handoff     remove PDEATHSIG_PPID from the child's environment
 * --export-pid VAR export VAR=<own pid> to the child (for children that take
 *                  the expected parent explicitly)
 * --die-after-us N after spawning, SIGKILL itself a random 0..N microseconds
 *                  later: one time in four at once (no sleep: the 0 end of
 *                  the range, which a loaded machine's wake-up latency
 *                  would otherwise stretch to milliseconds, so that every
 *                  child armed first and no race was run), else after
 *                  sleeping a random 1..N microseconds (N = 0: at once)
 * --wait           wait for the child and exit with its status
 * default          pause until killed
 *
 * Prints the child's pid on stdout, one line, before anything else. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int handoff = 0, wait_child = 0;
    const char *export_var = NULL;
    long die_after_us = -1;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--handoff") == 0) handoff = 1;
        else if (strcmp(argv[i], "--handoff-stamp") == 0) handoff = 2;
        else if (strcmp(argv[i], "--no-handoff") == 0) handoff = -1;
        else if (strcmp(argv[i], "--wait") == 0) wait_child = 1;
        else if (strcmp(argv[i], "--export-pid") == 0 && i + 1 < argc) export_var = argv[++i];
        else if (strcmp(argv[i], "--die-after-us") == 0 && i + 1 < argc) die_after_us = atol(argv[++i]);
        else if (strcmp(argv[i], "--") == 0) { i++; break; }
        else { fprintf(stderr, "spawn: bad argument %s\n", argv[i]); return 125; }
    }
    if (i >= argc) { fprintf(stderr, "spawn: no program\n"); return 125; }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    srand((unsigned)(now.tv_nsec ^ getpid()));
    long delay = 0;
    if (die_after_us > 0 && rand() % 4 != 0) delay = 1 + rand() % die_after_us;

    pid_t self = getpid();
    pid_t child = fork();
    if (child < 0) { perror("spawn: fork"); return 126; }
    if (child == 0) {
        if (export_var != NULL) {
            char buf[16];
            snprintf(buf, sizeof buf, "%d", (int)self);
            setenv(export_var, buf, 1);
        }
        if (handoff == 1) {
            char buf[16];
            snprintf(buf, sizeof buf, "%d", (int)self);
            setenv("PDEATHSIG_PPID", buf, 1);
        } else if (handoff == 2) {
            struct timespec boot;
            long hz = sysconf(_SC_CLK_TCK);
            clock_gettime(CLOCK_BOOTTIME, &boot);
            unsigned long long ticks = (unsigned long long)boot.tv_sec * (unsigned long long)hz
                + (unsigned long long)boot.tv_nsec / (1000000000ULL / (unsigned long long)hz);
            /* As the library stamps: the pid padded to 10 digits and, with
             * pidfs (Linux 6.9+), the stamper's inode number, so that the
             * child's own stamp fits in place. */
            char buf[80];
            unsigned long long ino = 0;
            int fd = (int)syscall(SYS_pidfd_open, self, 0);
            struct stat st;
            if (fd >= 0 && fstat(fd, &st) == 0) ino = (unsigned long long)st.st_ino;
            if (fd >= 0) close(fd);
            if (ino > 1)
                snprintf(buf, sizeof buf, "%010d:%llu::%llu", (int)self, ticks, ino);
            else
                snprintf(buf, sizeof buf, "%d:%llu", (int)self, ticks);
            setenv("PDEATHSIG_PPID", buf, 1);
        } else if (handoff == -1) {
            unsetenv("PDEATHSIG_PPID");
        }
        execvp(argv[i], argv + i);
        perror("spawn: exec");
        _exit(127);
    }
    printf("%d\n", (int)child);
    fflush(stdout);
    if (die_after_us >= 0) {
        if (delay > 0) {
            struct timespec ts = { delay / 1000000, (delay % 1000000) * 1000 };
            nanosleep(&ts, NULL);
        }
        kill(getpid(), SIGKILL);
    }
    if (wait_child) {
        int status;
        while (waitpid(child, &status, 0) < 0) {}
        if (WIFEXITED(status)) return WEXITSTATUS(status);
        return 128 + WTERMSIG(status);
    }
    for (;;) pause();
}
