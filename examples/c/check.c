/* Checks the example child with real processes:
 *
 *   check ARMED_CHILD...    each: a parent starts it (exporting
 *                           PDEATHSIG_PPID), is SIGKILLed, and the child must
 *                           die by SIGTERM within 5 s
 *   (always)                control: the same with `sleep 60`, which does not
 *                           arm; it must still be alive 300 ms later
 *
 * This process is a child subreaper (PR_SET_CHILD_SUBREAPER), so orphans come
 * back to it: it waits for them with pidfds and kills and reaps whatever is
 * left, pass or fail. Exit status 0 when every case passed. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* True when pid exits within timeout_ms (or is already gone). */
static int wait_gone(pid_t pid, int timeout_ms) {
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return errno == ESRCH;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    long deadline = now_ms() + timeout_ms;
    int rc;
    do {
        long left = deadline - now_ms();
        rc = poll(&pfd, 1, left > 0 ? (int)left : 0);
    } while (rc < 0 && errno == EINTR);
    close(fd);
    return rc > 0;
}

/* Kills (if needed) and reaps pid, which is our child or a reparented
 * orphan; returns its wait status, or -1. */
static int kill_and_reap(pid_t pid) {
    int status;
    kill(pid, SIGKILL);
    if (!wait_gone(pid, 2000))
        return -1;
    return waitpid(pid, &status, 0) == pid ? status : -1;
}

/* Reads a line from fd into buf within the deadline; 0 on timeout/EOF. */
static int read_line(int fd, char *buf, size_t size, long deadline) {
    size_t n = 0;
    while (n + 1 < size) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        long left = deadline - now_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return 0;
        if (read(fd, buf + n, 1) != 1)
            return 0;
        if (buf[n] == '\n')
            break;
        n++;
    }
    buf[n] = '\0';
    return 1;
}

/* One case: a parent spawns argv (exporting PDEATHSIG_PPID), is SIGKILLed;
 * armed: the child must die by SIGTERM within 5 s; control: it must live. */
static int run_case(char *const argv[], int armed) {
    int out[2];
    if (pipe(out) != 0) {
        perror("check: pipe");
        return 0;
    }
    pid_t parent = fork();
    if (parent < 0) {
        perror("check: fork");
        return 0;
    }
    if (parent == 0) {
        /* The parent: spawn the child, report its pid, wait to be killed. */
        char self[16];
        snprintf(self, sizeof self, "%d", (int)getpid());
        pid_t child = fork();
        if (child == 0) {
            setenv("PDEATHSIG_PPID", self, 1); /* the handoff */
            dup2(out[1], STDOUT_FILENO);
            close(out[0]);
            close(out[1]);
            execvp(argv[0], argv);
            perror("check: exec");
            _exit(127);
        }
        dprintf(out[1], "pid %d\n", (int)child);
        for (;;)
            pause();
    }
    close(out[1]);

    pid_t child = 0;
    int seen_armed = 0, ok = 0;
    char line[128];
    long deadline = now_ms() + 5000;
    while ((child == 0 || (armed && !seen_armed)) &&
           read_line(out[0], line, sizeof line, deadline)) {
        if (strncmp(line, "pid ", 4) == 0)
            child = (pid_t)atoi(line + 4);
        else if (strncmp(line, "armed ", 6) == 0)
            seen_armed = 1;
    }
    if (child <= 0 || (armed && !seen_armed)) {
        fprintf(stderr, "FAIL %s: no pid/armed line within 5 s\n", argv[0]);
        goto cleanup;
    }
    if (!armed)
        usleep(100 * 1000); /* let the control start */

    kill(parent, SIGKILL);
    kill_and_reap(parent);
    parent = 0;

    if (armed) {
        if (!wait_gone(child, 5000)) {
            fprintf(stderr, "FAIL %s: still alive 5 s after its parent was killed\n",
                    argv[0]);
            goto cleanup;
        }
        int status;
        if (waitpid(child, &status, 0) != child) {
            fprintf(stderr, "FAIL %s: not reaped: %s\n", argv[0], strerror(errno));
            goto cleanup;
        }
        child = 0;
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGTERM) {
            fprintf(stderr, "FAIL %s: ended with status 0x%x, not by SIGTERM\n",
                    argv[0], status);
            goto cleanup;
        }
        printf("ok   %s: died by SIGTERM after its parent was SIGKILLed\n", argv[0]);
    } else {
        if (wait_gone(child, 300)) {
            fprintf(stderr, "FAIL control %s: died with its parent without a guard\n",
                    argv[0]);
            goto cleanup;
        }
        printf("ok   control %s: unarmed orphan still alive\n", argv[0]);
    }
    ok = 1;
cleanup:
    close(out[0]);
    if (parent > 0)
        kill_and_reap(parent);
    if (child > 0)
        kill_and_reap(child);
    return ok;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s ARMED_CHILD...\n", argv[0]);
        return 2;
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
        perror("check: PR_SET_CHILD_SUBREAPER");
        return 1;
    }
    int failed = 0;
    for (int i = 1; i < argc; i++) {
        char *child_argv[] = {argv[i], "TERM", NULL};
        failed |= !run_case(child_argv, 1);
    }
    char *control[] = {"sleep", "60", NULL};
    failed |= !run_case(control, 0);
    return failed;
}
