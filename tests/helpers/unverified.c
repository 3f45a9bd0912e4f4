/* Test helper (tests/unverified.rs): the C API's answer when the expected
 * parent lives but cannot be verified as ours. It forks a child that waits
 * (alive, and no ancestor of ours), then arms expecting that child as the
 * parent: the verdict is "stamped process alive but not an ancestor", and
 * the arming function must return PDEATHSIG_UNVERIFIED, not 0. Control:
 * expecting the real parent returns 0. Prints "unverified RC control RC"
 * and exits 0; the child is killed and reaped. Linked with libpdeathsig. */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
#include "pdeathsig.h"

int main(void) {
    pid_t child = fork();
    if (child < 0) { perror("unverified: fork"); return 1; }
    if (child == 0) { for (;;) pause(); }
    int unverified = arm_parent_death_signal_expecting(SIGTERM, child);
    int process = arm_parent_process_death_signal_expecting(SIGTERM, child);
    disarm_parent_death_signal();
    int control = arm_parent_death_signal_expecting(SIGTERM, getppid());
    disarm_parent_death_signal();
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    printf("unverified %d process %d control %d expected %d\n", unverified, process, control,
           PDEATHSIG_UNVERIFIED);
    return 0;
}
