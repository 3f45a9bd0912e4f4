/* Test helper (tests/no_alloc.rs): lists this process's open file
 * descriptors at the start of main, one "<fd> <target> close-on-exec|inherit"
 * per line (from /proc/self/fdinfo), sorted
 * by number (the descriptor of the /proc/self/fd listing itself excluded).
 * With "--sleep-ms N" it first sleeps N ms (lets a watcher thread settle). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--sleep-ms") == 0) {
        long ms = atol(argv[2]);
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) { perror("opendir"); return 1; }
    int own = dirfd(dir);
    int fds[1024], n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL && n < 1024) {
        if (e->d_name[0] == '.') continue;
        int fd = atoi(e->d_name);
        if (fd != own) fds[n++] = fd;
    }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (fds[j] < fds[i]) { int t = fds[i]; fds[i] = fds[j]; fds[j] = t; }
    for (int i = 0; i < n; i++) {
        char path[64], target[512];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fds[i]);
        ssize_t len = readlink(path, target, sizeof target - 1);
        target[len > 0 ? len : 0] = '\0';
        int cloexec = 0;
        snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fds[i]);
        FILE *info = fopen(path, "r");
        if (info) {
            char line[128];
            unsigned long flags;
            while (fgets(line, sizeof line, info))
                if (sscanf(line, "flags: %lo", &flags) == 1) cloexec = (flags & 02000000) != 0;
            fclose(info);
        }
        printf("%d %s %s\n", fds[i], target, cloexec ? "close-on-exec" : "inherit");
    }
    closedir(dir);
    return 0;
}
