/* Test helper: a hot-reload tool's restart (tests/restart_race.rs). It is a
 * child subreaper, starts PROG, SIGKILLs it after a delay, and then waits for
 * the orphans PROG left behind (reparented to it) to die.
 *
 *   restart [--handoff plain|ticks|none] --delay-us N --wait-ms M -- PROG [ARGS...]
 *
 * --handoff   what PROG gets in PDEATHSIG_PPID: this tool's pid (the default),
 *             its pid and the time as pdeathsig writes it, or nothing
 * --delay-us  SIGKILL PROG N microseconds after spawning it (0: at once)
 * --wait-ms   how long the orphans have to die
 *
 * Prints one line, "orphans O survivors S": O orphans came back to it, S of
 * them still lived after M ms (then it SIGKILLs and reaps them). Exits 0, or
 * 125 on a usage or system error. Everything it started is reaped. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Children of this process (orphans included), from /proc: up to `max`. */
static int children(pid_t *out, int max) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0, pid;
    while (n < max && fscanf(f, "%d", &pid) == 1) out[n++] = pid;
    fclose(f);
    return n;
}

int main(int argc, char **argv) {
    const char *handoff = "plain";
    long delay_us = -1, wait_ms = -1;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--handoff") == 0 && i + 1 < argc) handoff = argv[++i];
        else if (strcmp(argv[i], "--delay-us") == 0 && i + 1 < argc) delay_us = atol(argv[++i]);
        else if (strcmp(argv[i], "--wait-ms") == 0 && i + 1 < argc) wait_ms = atol(argv[++i]);
        else if (strcmp(argv[i], "--") == 0) { i++; break; }
        else { fprintf(stderr, "restart: bad argument %s\n", argv[i]); return 125; }
    }
    if (i >= argc || delay_us < 0 || wait_ms < 0) {
        fprintf(stderr, "restart: usage: restart [--handoff plain|ticks|none] --delay-us N --wait-ms M -- PROG\n");
        return 125;
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) { perror("restart: prctl"); return 125; }

    char value[48];
    if (strcmp(handoff, "plain") == 0) {
        snprintf(value, sizeof value, "%d", (int)getpid());
        setenv("PDEATHSIG_PPID", value, 1);
    } else if (strcmp(handoff, "ticks") == 0) {
        struct timespec boot;
        long hz = sysconf(_SC_CLK_TCK);
        clock_gettime(CLOCK_BOOTTIME, &boot);
        unsigned long long ticks = (unsigned long long)boot.tv_sec * (unsigned long long)hz
            + (unsigned long long)boot.tv_nsec / (1000000000ULL / (unsigned long long)hz);
        snprintf(value, sizeof value, "%d:%llu", (int)getpid(), ticks);
        setenv("PDEATHSIG_PPID", value, 1);
    } else if (strcmp(handoff, "none") == 0) {
        unsetenv("PDEATHSIG_PPID");
    } else {
        fprintf(stderr, "restart: bad --handoff %s (plain, ticks or none)\n", handoff);
        return 125;
    }

    pid_t child = fork();
    if (child < 0) { perror("restart: fork"); return 125; }
    if (child == 0) {
        execvp(argv[i], argv + i);
        perror("restart: exec");
        _exit(127);
    }
    if (delay_us > 0) {
        struct timespec d = { delay_us / 1000000, (delay_us % 1000000) * 1000 };
        nanosleep(&d, NULL);
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);

    /* The orphans: reap the dead as they die, until none is left or time is up. */
    int orphans = 0;
    long deadline = now_ms() + wait_ms;
    for (;;) {
        pid_t pid;
        while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) orphans++;
        if (pid < 0 && errno == ECHILD) break;
        if (now_ms() >= deadline) break;
        usleep(1000);
    }
    pid_t left[256];
    int survivors = children(left, 256);
    /* What a survivor of a guarded trial (PDEATHSIG set) was doing, for the
     * test's log: one line each. */
    for (int k = 0; k < survivors && getenv("PDEATHSIG"); k++) {
        char path[64], line[256], out[1024] = "";
        snprintf(path, sizeof path, "/proc/%d/status", (int)left[k]);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "Name:", 5) || !strncmp(line, "State:", 6) ||
                !strncmp(line, "Threads:", 8) || !strncmp(line, "SigIgn:", 7)) {
                line[strcspn(line, "\n")] = ' ';
                strncat(out, line, sizeof out - strlen(out) - 1);
            }
        fclose(f);
        /* The stamp and anchor it was exec'd with, and what each of its
         * threads is blocked in (the syscall number first). */
        snprintf(path, sizeof path, "/proc/%d/environ", (int)left[k]);
        f = fopen(path, "r");
        if (f) {
            char env[8192];
            size_t n = fread(env, 1, sizeof env - 1, f);
            env[n] = 0;
            fclose(f);
            for (size_t at = 0; at < n; at += strlen(env + at) + 1)
                if (!strncmp(env + at, "PDEATHSIG_PPID=", 15) || !strncmp(env + at, "PDEATHSIG_ANCHOR=", 17)) {
                    strncat(out, env + at, sizeof out - strlen(out) - 2);
                    strncat(out, " ", sizeof out - strlen(out) - 1);
                }
        }
        snprintf(path, sizeof path, "/proc/%d/task", (int)left[k]);
        DIR *tasks = opendir(path);
        struct dirent *t;
        while (tasks && (t = readdir(tasks))) {
            if (t->d_name[0] == '.') continue;
            char sc[128] = "", tpath[300];
            int tid = atoi(t->d_name);
            snprintf(tpath, sizeof tpath, "/proc/%d/task/%d/syscall", (int)left[k], tid);
            FILE *g = fopen(tpath, "r");
            if (g) { if (fgets(sc, sizeof sc, g)) sc[strcspn(sc, " ")] = 0; fclose(g); }
            snprintf(line, sizeof line, "task %d syscall %.100s; ", tid, sc);
            strncat(out, line, sizeof out - strlen(out) - 1);
        }
        if (tasks) closedir(tasks);
        fprintf(stderr, "restart: survivor %d: %s\n", (int)left[k], out);
    }
    for (int k = 0; k < survivors; k++) kill(left[k], SIGKILL);
    for (int k = 0; k < survivors; k++) {
        if (waitpid(left[k], NULL, 0) > 0) orphans++;
    }
    /* Anything that was still starting (a fork in flight) is gone now too. */
    while (waitpid(-1, NULL, 0) > 0) orphans++;
    printf("orphans %d survivors %d\n", orphans, survivors);
    return 0;
}
