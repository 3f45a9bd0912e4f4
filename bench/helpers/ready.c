/* Benchmark helper: the child. Reaching main means every load-time
 * constructor has run; it says so ("ready <pid>") and waits, at most 60 s,
 * so that even a lost orphan goes away by itself. */
#include <stdio.h>
#include <unistd.h>

int main(void) {
    dprintf(1, "ready %d\n", (int)getpid());
    sleep(60);
    return 0;
}
