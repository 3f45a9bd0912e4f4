/* Test helper (tests/watcher_safety.rs): loads libpdeathsig.so with
 * dlopen(3) (this program is not linked against it), arms process mode
 * with arm_parent_process_death_signal(SIGTERM) through dlsym(3), then
 * unloads the library with dlclose(3) while its watcher thread runs.
 *
 *   watcher_dlclose LIBRARY [--keep]
 *
 * --keep  skip the dlclose (the control)
 *
 * Prints "ready" and pauses until a signal ends it. Exit status 2 when the
 * library cannot be loaded or armed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--keep") != 0)) {
        fprintf(stderr, "usage: watcher_dlclose LIBRARY [--keep]\n");
        return 125;
    }
    int keep = argc == 3;
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) { fprintf(stderr, "watcher_dlclose: dlopen: %s\n", dlerror()); return 2; }
    int (*arm)(int);
    void *sym = dlsym(lib, "arm_parent_process_death_signal");
    if (!sym) { fprintf(stderr, "watcher_dlclose: dlsym: %s\n", dlerror()); return 2; }
    memcpy(&arm, &sym, sizeof arm);
    if (arm(SIGTERM) != 0) {
        fprintf(stderr, "watcher_dlclose: arm_parent_process_death_signal: %s\n", strerror(errno));
        return 2;
    }
    if (!keep && dlclose(lib) != 0) {
        fprintf(stderr, "watcher_dlclose: dlclose: %s\n", dlerror());
        return 2;
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
}
