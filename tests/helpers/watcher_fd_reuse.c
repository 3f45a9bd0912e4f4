/* Test helper (tests/watcher_safety.rs): run preloaded with PDEATHSIG=TERM
 * PDEATHSIG_MODE=process, where the watcher's pidfd sits in this program's
 * own descriptor table (see watcher_seccomp.c). Takes the pidfd's number
 * away from the watcher: closes it and puts a regular file (readable to
 * poll(2)) at the same number.
 *
 *   watcher_fd_reuse [--allow-none]
 *
 * Waits 100 ms (the watcher settles), then prints "pidfd N" for the
 * descriptor whose /proc/self/fd link names a pidfd, closes it, opens an
 * unlinked temporary file at N, prints "reused N", then "ready", and
 * pauses until killed. Without a pidfd it prints "no pidfd" and exits 3;
 * with --allow-none it then prints "ready" and pauses all the same (the
 * no-library control). */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* "anon_inode:[pidfd]" (pidfs keeps that name for /proc/PID/fd links). */
static int is_pidfd_link(const char *target) {
    return strcmp(target, "anon_inode:[pidfd]") == 0 || strncmp(target, "pidfd:", 6) == 0;
}

static int find_pidfd(void) {
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) { perror("watcher_fd_reuse: opendir"); exit(2); }
    int own = dirfd(dir), found = -1;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.') continue;
        int fd = atoi(e->d_name);
        if (fd == own) continue;
        char path[64], target[256];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t len = readlink(path, target, sizeof target - 1);
        if (len <= 0) continue;
        target[len] = '\0';
        if (is_pidfd_link(target)) {
            if (found >= 0) {
                fprintf(stderr, "watcher_fd_reuse: two pidfds, %d and %d\n", found, fd);
                exit(2);
            }
            found = fd;
        }
    }
    closedir(dir);
    return found;
}

static void done(void) {
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
}

int main(int argc, char **argv) {
    int allow_none = argc == 2 && strcmp(argv[1], "--allow-none") == 0;
    if (argc > 1 && !allow_none) { fprintf(stderr, "watcher_fd_reuse: bad arguments\n"); return 125; }
    struct timespec settle = { 0, 100 * 1000000L };
    nanosleep(&settle, NULL);

    int n = find_pidfd();
    if (n < 0) {
        printf("no pidfd\n");
        fflush(stdout);
        if (allow_none) done();
        return 3;
    }
    printf("pidfd %d\n", n);
    fflush(stdout);

    if (close(n) != 0) { perror("watcher_fd_reuse: close"); return 2; }
    char name[] = "/tmp/watcher_fd_reuse.XXXXXX";
    int fd = mkstemp(name);
    if (fd < 0) { perror("watcher_fd_reuse: mkstemp"); return 2; }
    unlink(name);
    if (fd != n) {
        if (dup2(fd, n) != n) { perror("watcher_fd_reuse: dup2"); return 2; }
        close(fd);
    }
    printf("reused %d\n", n);
    fflush(stdout);
    done();
}
