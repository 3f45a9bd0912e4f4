/* The yardstick for libpdeathsig.so's start-up cost: a minimal C constructor
 * doing the same work (getenv PDEATHSIG, parse it minimally, getppid, getenv
 * PDEATHSIG_PPID, prctl, re-check getppid, stamp PDEATHSIG_PPID).
 * Build: gcc -O2 -shared -fPIC -o shim.so shim.c
 * With -DNO_CHECK it only arms (no handoff, no re-check, no stamp): the
 * "plain prctl in a load-time constructor" row of the orphan benchmark. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

__attribute__((constructor)) static void shim(void) {
    const char *s = getenv("PDEATHSIG");
    if (!s || !*s) return;
    int sig = strcasecmp(s, "TERM") == 0 || strcasecmp(s, "SIGTERM") == 0 ? SIGTERM
            : strcasecmp(s, "KILL") == 0 || strcasecmp(s, "SIGKILL") == 0 ? SIGKILL : atoi(s);
    if (sig <= 0 || sig > SIGRTMAX) return;
#ifdef NO_CHECK
    prctl(PR_SET_PDEATHSIG, sig);
#else
    const char *e = getenv("PDEATHSIG_PPID");
    pid_t want = e && *e ? (pid_t)atoi(e) : getppid();
    prctl(PR_SET_PDEATHSIG, sig);
    if (getppid() != want) kill(getpid(), sig);
    char buf[16];
    snprintf(buf, sizeof buf, "%d", (int)getpid());
    setenv("PDEATHSIG_PPID", buf, 1);
#endif
}
