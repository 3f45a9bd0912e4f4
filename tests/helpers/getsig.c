/* Test helper: reports what the kernel holds for this process, without
 * using the library (so it checks the library from outside).
 *
 *   getsig [--pause]
 *
 * Prints one line: "<PR_GET_PDEATHSIG> <getppid()>", then exits 0, or with
 * --pause waits until killed. Run it under LD_PRELOAD=libpdeathsig.so to see
 * which signal the load-time constructor armed. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int sig = -1;
    if (prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) != 0) {
        perror("getsig: prctl(PR_GET_PDEATHSIG)");
        return 2;
    }
    printf("%d %d\n", sig, (int)getppid());
    fflush(stdout);
    if (argc > 1 && strcmp(argv[1], "--pause") == 0)
        for (;;) pause();
    return 0;
}
