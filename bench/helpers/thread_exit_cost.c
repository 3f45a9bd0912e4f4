/* Experiment (not part of bench/run.sh): what one extra thread per process
 * costs when a chain of 64 processes is killed at once. Three chains,
 * interleaved, 50 repetitions each, one kill(-pgid, SIGKILL) per chain,
 * timed until every process's pidfd is readable (p50):
 *   - no thread;
 *   - a parked thread (64 KiB stack, blocked in poll), as any library
 *     thread would be;
 *   - a thread like pdeathsig's watcher: its own emptied descriptor table
 *     (unshare CLONE_FILES, close_range) and two pidfds it polls.
 * The gap between the second and the third is what the watcher's own
 * design adds; the gap between the first and the second is the thread.
 *
 *   gcc -O2 -pthread -o /tmp/thread_exit_cost bench/helpers/thread_exit_cost.c
 *   /tmp/thread_exit_cost
 *
 * It is a subreaper and reaps everything it started. */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEPTH 64
#define REPS 50
#define KINDS 3

static int kind;

static void *parked(void *unused) {
    (void)unused;
    if (kind == 2) {
        unshare(CLONE_FILES);
        syscall(SYS_close_range, 0u, ~0u, 0u);
        struct pollfd fds[2] = {
            {(int)syscall(SYS_pidfd_open, getppid(), 0), POLLIN, 0},
            {(int)syscall(SYS_pidfd_open, 1, 0), POLLIN, 0},
        };
        for (;;) poll(fds, 2, -1);
    }
    for (;;) poll(NULL, 0, -1);
    return NULL;
}

/* The chain: each level starts its thread, then forks the next level and
 * stays; the last one says it is ready. Every level waits to be killed. */
static void chain(int levels, int ready) {
    for (int left = levels - 1;; left--) {
        if (kind > 0) {
            pthread_attr_t attr;
            pthread_t thread;
            pthread_attr_init(&attr);
            pthread_attr_setstacksize(&attr, 64 * 1024);
            if (pthread_create(&thread, &attr, parked, NULL) != 0) _exit(125);
        }
        if (left == 0) {
            char c = 1;
            if (write(ready, &c, 1) != 1) _exit(125);
            break;
        }
        if (fork() != 0) break;
    }
    for (;;) pause();
}

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* pidfds on the chain below `top`, found through /proc's children lists. */
static int chain_pidfds(pid_t top, int *fds) {
    int n = 0;
    for (pid_t pid = top; pid > 0 && n < DEPTH;) {
        fds[n++] = (int)syscall(SYS_pidfd_open, pid, 0);
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
        FILE *f = fopen(path, "r");
        int next = 0;
        if (f) {
            if (fscanf(f, "%d", &next) != 1) next = 0;
            fclose(f);
        }
        pid = next;
    }
    return n;
}

int main(void) {
    static const char *names[KINDS] = {
        "no thread",
        "a parked thread",
        "a watcher-like thread (own table, 2 pidfds)",
    };
    static long took[KINDS][REPS];
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) { perror("prctl"); return 125; }
    for (int rep = 0; rep < REPS; rep++) {
        for (int k = 0; k < KINDS; k++) {
            int ready[2];
            if (pipe(ready) != 0) { perror("pipe"); return 125; }
            kind = k;
            pid_t top = fork();
            if (top == 0) {
                setpgid(0, 0);
                close(ready[0]);
                chain(DEPTH, ready[1]);
            }
            setpgid(top, top);
            close(ready[1]);
            char c;
            if (read(ready[0], &c, 1) != 1) { fprintf(stderr, "chain failed\n"); return 125; }
            close(ready[0]);
            usleep(20000);
            int fds[DEPTH];
            int n = chain_pidfds(top, fds);
            long start = now_ns();
            kill(-top, SIGKILL);
            for (int i = 0; i < n; i++) {
                struct pollfd pfd = {fds[i], POLLIN, 0};
                poll(&pfd, 1, 5000);
            }
            took[k][rep] = now_ns() - start;
            for (int i = 0; i < n; i++) close(fds[i]);
            while (waitpid(-1, NULL, 0) > 0) {}
        }
    }
    long p50[KINDS];
    for (int k = 0; k < KINDS; k++) {
        qsort(took[k], REPS, sizeof(long), by_value);
        p50[k] = took[k][REPS / 2];
        printf("%-44s p50 %6ld us  %.2fx\n", names[k], p50[k] / 1000, (double)p50[k] / (double)p50[0]);
    }
    return 0;
}
