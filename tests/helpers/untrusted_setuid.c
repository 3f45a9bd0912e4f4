/* Test helper for tests/untrusted_proc.rs, built with -static so that
 * LD_PRELOAD does not load libpdeathsig.so into it: it neither arms nor
 * re-stamps PDEATHSIG_PPID, which a dynamically linked setpriv(1) would.
 *
 *   untrusted_setuid UID -- PROG [ARGS...]
 *
 * Drops to uid and gid UID (setgroups to none, setgid, setuid; root only),
 * checks that root cannot be regained, then execs PROG in the same process.
 * Exit 125 on a usage error, 126 when a credential call fails, 127 when the
 * exec fails. */
#define _GNU_SOURCE
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 4 || strcmp(argv[2], "--") != 0) {
        fprintf(stderr, "untrusted_setuid: usage: untrusted_setuid UID -- PROG [ARGS...]\n");
        return 125;
    }
    char *end = NULL;
    long id = strtol(argv[1], &end, 10);
    if (end == argv[1] || *end != '\0' || id <= 0 || id > 0x7fffffffL) {
        fprintf(stderr, "untrusted_setuid: bad uid %s\n", argv[1]);
        return 125;
    }
    if (setgroups(0, NULL) != 0) { perror("untrusted_setuid: setgroups"); return 126; }
    if (setgid((gid_t)id) != 0) { perror("untrusted_setuid: setgid"); return 126; }
    if (setuid((uid_t)id) != 0) { perror("untrusted_setuid: setuid"); return 126; }
    if (setuid(0) == 0 || getuid() != (uid_t)id || geteuid() != (uid_t)id) {
        fprintf(stderr, "untrusted_setuid: privileges not dropped\n");
        return 126;
    }
    execvp(argv[3], argv + 3);
    perror("untrusted_setuid: exec");
    return 127;
}
