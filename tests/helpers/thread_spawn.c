/* Test helper: a parent process that spawns its child from a second thread,
 * lets that thread exit on request, and lives on.
 *
 *   thread_spawn [--handoff] -- PROG [ARGS...]
 *
 * The spawning thread forks and execs PROG (stdin from /dev/null), prints
 * the child's pid on stdout, then waits for one byte on stdin and exits.
 * The main thread joins it, prints "joined", waits for the child and
 * prints "child signaled N" or "child exited N", then pauses until killed.
 * --handoff exports PDEATHSIG_PPID=<own pid> to the child.
 *
 * PR_SET_PDEATHSIG's "parent" is the thread that forked: in prctl mode the
 * child gets its signal at the join, although this process lives. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int handoff;
static char **prog;
static pid_t child;

static void *spawner(void *arg) {
    (void)arg;
    pid_t self = getpid();
    child = fork();
    if (child < 0) { perror("thread_spawn: fork"); exit(126); }
    if (child == 0) {
        if (handoff) {
            char buf[16];
            snprintf(buf, sizeof buf, "%d", (int)self);
            setenv("PDEATHSIG_PPID", buf, 1);
        }
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0) { dup2(null, 0); close(null); }
        execvp(prog[0], prog);
        perror("thread_spawn: exec");
        _exit(127);
    }
    printf("%d\n", (int)child);
    fflush(stdout);
    char c;
    while (read(0, &c, 1) < 0) {}
    return NULL;
}

int main(int argc, char **argv) {
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--handoff") == 0) handoff = 1;
        else if (strcmp(argv[i], "--") == 0) { i++; break; }
        else { fprintf(stderr, "thread_spawn: bad argument %s\n", argv[i]); return 125; }
    }
    if (i >= argc) { fprintf(stderr, "thread_spawn: no program\n"); return 125; }
    prog = argv + i;
    pthread_t t;
    if (pthread_create(&t, NULL, spawner, NULL) != 0) { fprintf(stderr, "thread_spawn: pthread_create\n"); return 126; }
    pthread_join(t, NULL);
    printf("joined\n");
    fflush(stdout);
    int status;
    while (waitpid(child, &status, 0) < 0) {}
    if (WIFSIGNALED(status)) printf("child signaled %d\n", WTERMSIG(status));
    else printf("child exited %d\n", WEXITSTATUS(status));
    fflush(stdout);
    for (;;) pause();
}
