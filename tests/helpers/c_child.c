/* Test helper: a C child linked against libpdeathsig (shared or static),
 * using include/pdeathsig.h. Compiled by tests/c_header.rs as C99 with
 * -Wall -Wextra -Werror -pedantic and as C++ with g++ -Wall -Werror.
 *
 *   c_child selftest VERSION  check the API in-process; print "ok", exit 0
 *   c_child arm SIG           arm SIG, print "armed <sig>", wait until killed
 *   c_child expect SIG VAR    arm SIG expecting the parent pid held in the
 *                             environment variable VAR, print "armed <sig>",
 *                             wait until killed
 *   c_child none              arm nothing, print "unarmed", wait until killed
 *
 * A failure prints one line on stderr and exits non-zero. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pdeathsig.h"

static int failures = 0;

static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "c_child: FAILED: %s (errno %d)\n", what, errno);
        failures++;
    }
}

static int selftest(const char *version) {
    int bad[3];
    int i;
    bad[0] = 0;
    bad[1] = 65;
    bad[2] = -1;
    check(strcmp(pdeathsig_version(), version) == 0, "pdeathsig_version() == Cargo.toml version");
    check(get_parent_death_signal() == 0, "nothing armed at start");
    check(arm_parent_death_signal(SIGTERM) == 0, "arm_parent_death_signal(SIGTERM) == 0");
    check(get_parent_death_signal() == SIGTERM, "get_parent_death_signal() == SIGTERM");
    check(disarm_parent_death_signal() == 0, "disarm_parent_death_signal() == 0");
    check(get_parent_death_signal() == 0, "get_parent_death_signal() == 0 after disarm");
    for (i = 0; i < 3; i++) {
        char what[80];
        errno = 0;
        snprintf(what, sizeof what, "arm_parent_death_signal(%d) == -1, errno EINVAL", bad[i]);
        check(arm_parent_death_signal(bad[i]) == -1 && errno == EINVAL, what);
        check(get_parent_death_signal() == 0, "nothing armed after a bad signal");
    }
    errno = 0;
    check(arm_parent_death_signal_expecting(SIGTERM, -1) == -1 && errno == EINVAL,
          "arm_parent_death_signal_expecting(SIGTERM, -1) == -1, errno EINVAL");
    check(arm_parent_process_death_signal_expecting(SIGTERM, -1) == -1 && errno == EINVAL,
          "arm_parent_process_death_signal_expecting(SIGTERM, -1) == -1, errno EINVAL");
    check(arm_parent_tree_death_signal_expecting(SIGTERM, -1) == -1 && errno == EINVAL,
          "arm_parent_tree_death_signal_expecting(SIGTERM, -1) == -1, errno EINVAL");
    check(PDEATHSIG_VERSION_MAJOR >= 0 && PDEATHSIG_VERSION_MINOR >= 0 && PDEATHSIG_VERSION_PATCH >= 0,
          "version macros defined");
    errno = 0;
    check(arm_parent_death_signal_expecting(65, getppid()) == -1 && errno == EINVAL,
          "arm_parent_death_signal_expecting(65, ppid) == -1, errno EINVAL");
    check(arm_parent_death_signal_expecting(SIGUSR1, getppid()) == 0,
          "arm_parent_death_signal_expecting(SIGUSR1, getppid()) == 0");
    check(get_parent_death_signal() == SIGUSR1, "get_parent_death_signal() == SIGUSR1");
    check(disarm_parent_death_signal() == 0, "disarm after expecting");
    check(arm_parent_death_signal_from_env() == 0, "arm_parent_death_signal_from_env() == 0 without PDEATHSIG");
    if (failures != 0) return 1;
    printf("ok\n");
    return 0;
}

static void wait_forever(void) {
    fflush(stdout);
    for (;;) pause();
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "selftest") == 0) return selftest(argv[2]);
    if (argc == 3 && strcmp(argv[1], "arm") == 0) {
        if (arm_parent_death_signal(atoi(argv[2])) != 0) {
            perror("c_child: arm_parent_death_signal");
            return 3;
        }
        printf("armed %d\n", get_parent_death_signal());
        wait_forever();
    }
    if (argc == 4 && strcmp(argv[1], "expect") == 0) {
        const char *pid = getenv(argv[3]);
        if (pid == NULL) {
            fprintf(stderr, "c_child: %s is not set\n", argv[3]);
            return 2;
        }
        if (arm_parent_death_signal_expecting(atoi(argv[2]), (pid_t)atol(pid)) != 0) {
            perror("c_child: arm_parent_death_signal_expecting");
            return 3;
        }
        printf("armed %d\n", get_parent_death_signal());
        wait_forever();
    }
    if (argc == 2 && strcmp(argv[1], "none") == 0) {
        printf("unarmed\n");
        wait_forever();
    }
    fprintf(stderr, "c_child: bad arguments\n");
    return 2;
}
