#ifndef SLUICE_CSluiceShims_H
#define SLUICE_CSluiceShims_H

#include <stddef.h>
#include <stdint.h>

/// CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected), as used by iSCSI, ext4 and Kafka.
/// Continues from `crc` (pass 0 to start); uses the SSE4.2 instruction where the CPU has it.
uint32_t sluice_crc32c(uint32_t crc, const void *data, size_t length);

/// 1 when the hardware instruction is used, 0 for the table-driven fallback.
int sluice_crc32c_is_hardware(void);

/// Plain CRC-32 (IEEE 802.3, zlib's), as RocketMQ clients put in `body_digest`.
uint32_t sluice_crc32_ieee(uint32_t crc, const void *data, size_t length);

/// Linux fallocate(2) (not exported by Swift's Glibc module): returns 0 or -1 with errno set.
int sluice_fallocate(int fd, int mode, long long offset, long long length);

/// pipe2(fds, O_CLOEXEC) (not exported by Swift's Glibc module): returns 0 or -1 with errno set.
int sluice_pipe_cloexec(int fds[2]);

/// posix_spawn_file_actions_addclosefrom_np: the spawned child closes every descriptor from
/// `lowest` up. `actions` is a posix_spawn_file_actions_t *.
int sluice_spawn_file_actions_closefrom(void *actions, int lowest);

/// Names the calling thread (what top, perf and /proc show), cut to Linux's 15 characters.
/// Foundation's `Thread.current.name = …` sometimes does not reach the kernel on a thread that
/// just started (it then keeps its creator's name). Returns 0 or an errno value.
int sluice_set_current_thread_name(const char *name);

#endif
