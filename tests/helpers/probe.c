/* Test helper: reports how it was started, then exits or waits.
 * Built dynamically and with -static by tests/support::c_helper.
 *
 *   probe         print "<pid> <PR_GET_PDEATHSIG> <PDEATHSIG_PPID or ->" and exit 0
 *   probe pause   print nothing; wait until killed
 *   probe ppid    print "<getppid()> <PDEATHSIG_PPID or ->" and exit 0
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "pause") == 0) {
        for (;;) pause();
    }
    if (argc > 1 && strcmp(argv[1], "ppid") == 0) {
        const char *stamp = getenv("PDEATHSIG_PPID");
        printf("%d %s\n", (int)getppid(), stamp && *stamp ? stamp : "-");
        return 0;
    }
    int sig = -1;
    if (prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) != 0) {
        perror("probe: prctl");
        return 1;
    }
    const char *stamp = getenv("PDEATHSIG_PPID");
    printf("%d %d %s\n", (int)getpid(), sig, stamp && *stamp ? stamp : "-");
    return 0;
}
