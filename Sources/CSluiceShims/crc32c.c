// CRC-32C with the SSE4.2 crc32 instruction when present and a slicing-by-8 table otherwise.
// Written by hand because no maintained Swift package on this machine offers CRC-32C; the
// checksum guards every commit-log record, so it must run near memory speed.
#include "CSluiceShims.h"

#include <string.h>
#include <pthread.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

static uint32_t table_c[8][256];
static uint32_t table_ieee[256];
static int has_sse42 = 0;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_tables(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : (c >> 1);
        table_c[0][n] = c;
        uint32_t d = n;
        for (int k = 0; k < 8; k++) d = (d & 1) ? (d >> 1) ^ 0xEDB88320u : (d >> 1);
        table_ieee[n] = d;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = table_c[0][n];
        for (int t = 1; t < 8; t++) {
            c = table_c[0][c & 0xFF] ^ (c >> 8);
            table_c[t][n] = c;
        }
    }
#if defined(__x86_64__)
    unsigned int eax, ebx, ecx, edx;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx)) has_sse42 = (ecx & bit_SSE4_2) != 0;
#endif
}

static uint32_t crc32c_software(uint32_t crc, const unsigned char *p, size_t n) {
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        word ^= crc;
        crc = table_c[7][word & 0xFF] ^ table_c[6][(word >> 8) & 0xFF] ^ table_c[5][(word >> 16) & 0xFF] ^
              table_c[4][(word >> 24) & 0xFF] ^ table_c[3][(word >> 32) & 0xFF] ^
              table_c[2][(word >> 40) & 0xFF] ^ table_c[1][(word >> 48) & 0xFF] ^ table_c[0][word >> 56];
        p += 8;
        n -= 8;
    }
    while (n--) crc = table_c[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_hardware(uint32_t crc, const unsigned char *p, size_t n) {
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

uint32_t sluice_crc32c(uint32_t crc, const void *data, size_t length) {
    pthread_once(&init_once, init_tables);
    crc = ~crc;
#if defined(__x86_64__)
    if (has_sse42) return ~crc32c_hardware(crc, (const unsigned char *)data, length);
#endif
    return ~crc32c_software(crc, (const unsigned char *)data, length);
}

int sluice_crc32c_is_hardware(void) {
    pthread_once(&init_once, init_tables);
    return has_sse42;
}

uint32_t sluice_crc32_ieee(uint32_t crc, const void *data, size_t length) {
    pthread_once(&init_once, init_tables);
    const unsigned char *p = (const unsigned char *)data;
    crc = ~crc;
    while (length--) crc = table_ieee[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}
