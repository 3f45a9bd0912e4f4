/* raw_fork HOW THEN: makes one child with HOW (fork: glibc's fork(3),
 * which runs pthread_atfork handlers; _Fork: glibc's _Fork(3), which runs
 * none; clone: the raw clone(2) system call), prints "ready" and the
 * child's pid, one a line, and waits. The child, by THEN: "stay" waits
 * (pause(2) only: after a raw clone little of libc may be used), "exec"
 * execs `sleep 600`. For tests/raw_fork.rs. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: raw_fork fork|_Fork|clone stay|exec\n");
        return 2;
    }
    pid_t pid;
    if (strcmp(argv[1], "fork") == 0)
        pid = fork();
    else if (strcmp(argv[1], "_Fork") == 0)
        pid = _Fork();
    else
        pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid < 0) {
        perror("raw_fork");
        return 1;
    }
    if (pid == 0) {
        if (strcmp(argv[2], "exec") == 0) {
            execlp("sleep", "sleep", "600", (char *)0);
            _exit(127);
        }
        for (;;)
            pause();
    }
    printf("ready\n%d\n", (int)pid);
    fflush(stdout);
    for (;;)
        pause();
}
