// A test-only LD_PRELOAD library that records what a power loss would leave on disk; see
// powerloss.c. Nothing links against it: tests preload `libSluicePowerLoss.so` into a child.
#ifndef CSLUICE_POWERLOSS_H
#define CSLUICE_POWERLOSS_H
int sluice_powerloss_enabled(void);
#endif
