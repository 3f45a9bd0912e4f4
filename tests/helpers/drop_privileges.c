/* Test helper, linked with libpdeathsig.a: arms, drops privileges to
 * uid/gid 65534 (root only), and optionally re-arms.
 *
 *   drop_privileges [--process] [--rearm] [--keepcaps]
 *
 * Arms SIGTERM against PDEATHSIG_PPID (prctl mode, or process mode with
 * --process), then setgroups/setgid/setuid to 65534 (with --keepcaps the
 * way setpriv does it: PR_SET_KEEPCAPS, which is per thread, setresuid,
 * CAP_SETGID raised again in this thread only, setresgid, setgroups),
 * printing
 * "armed N", "dropped N", and with --rearm "rearmed N" (N: the armed signal
 * as get_parent_death_signal() reports it, PR_GET_PDEATHSIG in prctl mode),
 * then "ready", then pauses until a signal ends it. Exit 1 on failure. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pdeathsig.h"

static int kernel_setting(void) {
    int sig = -1;
    if (prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) != 0) return -1;
    return sig;
}

/* setpriv's order: the capabilities kept across the uid change live in
 * this thread only (PR_SET_KEEPCAPS and capset(2) are per thread), and
 * glibc runs setresgid and setgroups in every thread. */
static int drop_keeping_caps(void) {
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return -1;
    if (setresuid(65534, 65534, 65534) != 0) return -1;
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &header, data) != 0) return -1;
    data[0].effective |= 1u << CAP_SETGID;
    if (syscall(SYS_capset, &header, data) != 0) return -1;
    if (setresgid(65534, 65534, 65534) != 0) return -1;
    return setgroups(0, NULL);
}

int main(int argc, char **argv) {
    int process = 0, rearm = 0, keepcaps = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--process") == 0) process = 1;
        else if (strcmp(argv[i], "--rearm") == 0) rearm = 1;
        else if (strcmp(argv[i], "--keepcaps") == 0) keepcaps = 1;
        else { fprintf(stderr, "drop_privileges: bad argument %s\n", argv[i]); return 125; }
    }
    int rc = process ? arm_parent_process_death_signal(SIGTERM) : arm_parent_death_signal(SIGTERM);
    if (rc != 0) { fprintf(stderr, "arm: %s\n", strerror(errno)); return 1; }
    printf("armed %d %d\n", get_parent_death_signal(), kernel_setting());
    fflush(stdout);
    if (keepcaps ? drop_keeping_caps() != 0
                 : (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)) {
        fprintf(stderr, "drop: %s\n", strerror(errno));
        return 1;
    }
    printf("dropped %d %d uid=%d\n", get_parent_death_signal(), kernel_setting(), (int)getuid());
    fflush(stdout);
    if (rearm) {
        if (rearm_parent_death_signal() != 0) { fprintf(stderr, "rearm: %s\n", strerror(errno)); return 1; }
        printf("rearmed %d %d\n", get_parent_death_signal(), kernel_setting());
        fflush(stdout);
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
}
