/* A child that asks to die with its parent: one call at the top of main.
 *
 *   child [SIGNAL]      SIGNAL: a number (15) or a name (TERM, SIGTERM, KILL,
 *                       INT, HUP, QUIT, USR1, USR2); default SIGTERM
 *
 * The race with a parent that died before the call is closed by the
 * parent-pid handoff: the spawner exports PDEATHSIG_PPID=<its own pid>
 * (without it, the library compares with the parent seen at load time).
 *
 * Prints "armed SIG parent PPID" once armed, then waits to be killed.
 * Build: see Makefile in this directory. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <pdeathsig.h>

/* A signal number from "15", "TERM" or "SIGTERM" (any case); 0 if unknown. */
static int parse_signal(const char *text) {
    static const struct {
        const char *name;
        int number;
    } names[] = {
        {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT},
        {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
        {"TERM", SIGTERM},
    };
    char *end;
    long n = strtol(text, &end, 10);
    if (*text != '\0' && *end == '\0')
        return n > 0 && n <= 64 ? (int)n : 0;
    if (strncasecmp(text, "SIG", 3) == 0)
        text += 3;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(text, names[i].name) == 0)
            return names[i].number;
    return 0;
}

int main(int argc, char **argv) {
    int sig = SIGTERM;
    if (argc > 2) {
        fprintf(stderr, "usage: %s [SIGNAL]\n", argv[0]);
        return 2;
    }
    if (argc == 2 && (sig = parse_signal(argv[1])) == 0) {
        fprintf(stderr,
                "%s: bad signal '%s': expected a number from 1 to 64 or a "
                "name such as TERM, SIGTERM, KILL, INT, HUP, QUIT, USR1, USR2\n",
                argv[0], argv[1]);
        return 2;
    }

    /* The one line a C child needs. */
    if (arm_parent_death_signal(sig) != 0) {
        int err = errno;
        fprintf(stderr, "%s: arm_parent_death_signal(%d) failed: %s%s\n",
                argv[0], sig, strerror(err),
                err == ESRCH    ? " (the parent had already died)"
                : err == EINVAL ? " (bad signal, or PDEATHSIG_PPID is not a pid)"
                                : "");
        return 1;
    }

    printf("armed %d parent %d\n", get_parent_death_signal(), (int)getppid());
    fflush(stdout);
    for (;;)
        pause();
}
