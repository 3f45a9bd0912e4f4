/* Test helper (tests/watcher_safety.rs): runs PROG with unshare(2) and
 * close_range(2) refused with EPERM by a seccomp filter, as Docker's
 * default profile refuses unshare and kernels before 5.9 lack close_range:
 * a process-mode watcher then keeps its pidfd in the program's own
 * descriptor table.
 *
 *   watcher_seccomp PROG [ARGS...]
 *
 * Exit status 4, after a line "seccomp unavailable: <reason>" on stdout,
 * when the filter cannot be installed (not x86_64, EINVAL, EPERM...);
 * 5 when it was installed but does not refuse the calls. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#ifndef __NR_close_range
#define __NR_close_range 436
#endif

static int install(void) {
    struct sock_filter filter[] = {
        /* Another architecture's numbers mean other calls: kill. */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_unshare, 1, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_close_range, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { sizeof filter / sizeof filter[0], filter };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        printf("seccomp unavailable: prctl(PR_SET_NO_NEW_PRIVS): %s\n", strerror(errno));
        return 4;
    }
    if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
        printf("seccomp unavailable: seccomp(SECCOMP_SET_MODE_FILTER): %s\n", strerror(errno));
        return 4;
    }
    /* Both calls must now fail with EPERM (unshare(0) and an empty
     * close_range change nothing when allowed). */
    errno = 0;
    long unshare_rc = syscall(__NR_unshare, 0);
    int unshare_errno = errno;
    errno = 0;
    long close_range_rc = syscall(__NR_close_range, UINT_MAX, UINT_MAX, 0);
    int close_range_errno = errno;
    if (unshare_rc != -1 || unshare_errno != EPERM || close_range_rc != -1 ||
        close_range_errno != EPERM) {
        fprintf(stderr,
                "watcher_seccomp: filter installed but unshare -> %ld (%s), "
                "close_range -> %ld (%s)\n",
                unshare_rc, strerror(unshare_errno), close_range_rc,
                strerror(close_range_errno));
        return 5;
    }
    return 0;
}
#else
static int install(void) {
    printf("seccomp unavailable: the filter is written for x86_64 only\n");
    return 4;
}
#endif

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "watcher_seccomp: no program\n"); return 125; }
    int rc = install();
    if (rc != 0) {
        fflush(stdout);
        return rc;
    }
    execvp(argv[1], argv + 1);
    perror("watcher_seccomp: exec");
    return 127;
}
