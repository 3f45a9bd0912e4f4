/* Test helper (tests/no_alloc.rs): prints, first thing in main, how many
 * allocations the preloaded alloc_count.so saw before main, then its own
 * pid and the PDEATHSIG_PPID it sees:  "<allocs> <pid> <PDEATHSIG_PPID>". */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

unsigned long pdeathsig_test_alloc_count(void) __attribute__((weak));

int main(void) {
    long before = pdeathsig_test_alloc_count ? (long)pdeathsig_test_alloc_count() : -1;
    const char *stamp = getenv("PDEATHSIG_PPID");
    printf("%ld %d %s\n", before, (int)getpid(), stamp ? stamp : "-");
    return 0;
}
