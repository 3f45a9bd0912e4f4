/* Test helper for tests/tree_mode.rs: a classic double-forking daemon.
 *
 *   tree_daemon PIDFILE [PROG ARGS...]
 *
 * fork; the child calls setsid(2) and forks again, and exits; the
 * grandchild (the daemon: no parent but a reaper, its own session) points
 * stdin, stdout and stderr at /dev/null, writes its pid to PIDFILE
 * (PIDFILE.tmp, then rename(2): readers never see half a pid), and then
 * execs PROG, or without one pauses until killed. The launcher exits 0 once
 * the middle process has exited (the daemon itself may still be starting). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void write_pidfile(const char *path) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) _exit(124);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) _exit(123);
    fprintf(f, "%d\n", (int)getpid());
    if (fclose(f) != 0 || rename(tmp, path) != 0) _exit(122);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: tree_daemon PIDFILE [PROG ARGS...]\n");
        return 125;
    }
    pid_t middle = fork();
    if (middle < 0) {
        perror("tree_daemon: fork");
        return 126;
    }
    if (middle > 0) {
        int status;
        while (waitpid(middle, &status, 0) < 0) {}
        return WIFEXITED(status) ? WEXITSTATUS(status) : 126;
    }
    if (setsid() < 0) _exit(121);
    pid_t daemon = fork();
    if (daemon < 0) _exit(120);
    if (daemon > 0) _exit(0);
    int null = open("/dev/null", O_RDWR);
    if (null < 0) _exit(119);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2) close(null);
    write_pidfile(argv[1]);
    if (argc > 2) {
        execvp(argv[2], argv + 2);
        _exit(127);
    }
    for (;;) pause();
}
