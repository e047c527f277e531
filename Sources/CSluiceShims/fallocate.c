// fallocate(2) needs _GNU_SOURCE, which Swift's Glibc module does not define.
#define _GNU_SOURCE
#include <fcntl.h>
#include "CSluiceShims.h"

int sluice_fallocate(int fd, int mode, long long offset, long long length) {
    return fallocate(fd, mode, (off_t)offset, (off_t)length);
}
