// A benchmark-only LD_PRELOAD library that counts heap allocations; see malloc_count.c.
#ifndef CSLUICE_MALLOC_COUNT_H
#define CSLUICE_MALLOC_COUNT_H
unsigned long long sluice_malloc_count(void);
#endif
