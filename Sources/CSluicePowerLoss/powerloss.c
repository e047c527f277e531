// Power-loss simulation for tests, preloaded into a child process (LD_PRELOAD).
//
// A process crash (kill -9) keeps everything written to the page cache; a power loss keeps only
// what was synced. This library records, in a shadow folder, the state a power loss at any moment
// would leave: the content of a file as of its last fsync/fdatasync/msync, and the entries of a
// folder as of its last fsync. After killing the child, the test rebuilds the data folder from
// the shadow (SluiceTesting.PowerLossImage) and restarts on it.
//
// The model is the strict POSIX one: unsynced writes are all lost (none torn in), a new file or
// folder exists only once its parent folder was synced, a rename counts once the folder is
// synced. Everything present when the process starts counts as durable.
//
// Environment: SLUICE_POWERLOSS_ROOT (the data folder, which must exist) and
// SLUICE_POWERLOSS_SHADOW (where to record). Without both the library does nothing.
//
// Shadow layout: files/<inode> (content at the last sync), dirs/<inode> (one line per entry:
// "<f|d> <inode> <size> <name>"), root (the root folder's inode).
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "CSluicePowerLoss.h"

static pthread_mutex_t shadow_lock = PTHREAD_MUTEX_INITIALIZER;
static char root[PATH_MAX];
static size_t root_length;
static char shadow[PATH_MAX];
static int enabled;

// The real calls go straight to the kernel: mmap runs before any constructor (the loader and
// other libraries' initializers map memory), so a pointer looked up with dlsym could still be
// unset, and dlsym itself may allocate.
static int real_fsync(int fd) { return (int)syscall(SYS_fsync, fd); }
static int real_fdatasync(int fd) { return (int)syscall(SYS_fdatasync, fd); }
static int real_msync(void *address, size_t length, int flags) { return (int)syscall(SYS_msync, address, length, flags); }
static int real_munmap(void *address, size_t length) { return (int)syscall(SYS_munmap, address, length); }
static void *real_mmap(void *address, size_t length, int protection, int flags, int fd, off_t offset) {
    return (void *)syscall(SYS_mmap, address, length, protection, flags, fd, offset);
}

// Shared file mappings under the root, so msync(address) can find its file after the fd closed.
#define MAX_MAPPINGS 2048
#define MAPPING_PATH 512
struct mapping {
    char *base;
    size_t length;
    char path[MAPPING_PATH];
};
static struct mapping mappings[MAX_MAPPINGS];

int sluice_powerloss_enabled(void) { return enabled; }

static int under_root(const char *path) {
    return strncmp(path, root, root_length) == 0 && (path[root_length] == '/' || path[root_length] == 0);
}

static int path_of_fd(int fd, char *path, size_t size) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, size - 1);
    if (n < 0) return -1;
    path[n] = 0;
    return 0;
}

static void fail(const char *what, const char *path) {
    fprintf(stderr, "sluice-powerloss: %s %s: %s\n", what, path, strerror(errno));
    abort();
}

// Writes `length` bytes atomically as shadow/<kind>/<inode> (temp file + rename).
static void write_shadow(const char *kind, unsigned long long inode, int (*fill)(int, void *), void *context) {
    char final_path[PATH_MAX], temp_path[PATH_MAX];
    snprintf(final_path, sizeof final_path, "%s/%s/%llu", shadow, kind, inode);
    snprintf(temp_path, sizeof temp_path, "%s.tmp", final_path);
    int out = open(temp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) fail("open", temp_path);
    if (fill(out, context) != 0) fail("write", temp_path);
    close(out);
    if (rename(temp_path, final_path) != 0) fail("rename", final_path);
}

static int write_all(int fd, const char *bytes, size_t count) {
    while (count > 0) {
        ssize_t n = write(fd, bytes, count);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        bytes += n;
        count -= (size_t)n;
    }
    return 0;
}

static int copy_file_content(int out, void *context) {
    const char *path = context;
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0) return errno == ENOENT ? 0 : -1;
    static char buffer[1 << 16];
    for (;;) {
        ssize_t n = read(in, buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR) continue;
            close(in);
            return -1;
        }
        if (n == 0) break;
        if (write_all(out, buffer, (size_t)n) != 0) {
            close(in);
            return -1;
        }
    }
    close(in);
    return 0;
}

static int list_folder(int out, void *context) {
    const char *path = context;
    DIR *folder = opendir(path);
    if (!folder) return errno == ENOENT ? 0 : -1;
    struct dirent *entry;
    char line[PATH_MAX + 64], child[PATH_MAX];
    while ((entry = readdir(folder)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
        snprintf(child, sizeof child, "%s/%s", path, entry->d_name);
        struct stat info;
        if (lstat(child, &info) != 0) continue;
        char type;
        if (S_ISDIR(info.st_mode)) type = 'd';
        else if (S_ISREG(info.st_mode)) type = 'f';
        else continue;
        int n = snprintf(line, sizeof line, "%c %llu %lld %s\n", type, (unsigned long long)info.st_ino,
                         (long long)info.st_size, entry->d_name);
        if (write_all(out, line, (size_t)n) != 0) {
            closedir(folder);
            return -1;
        }
    }
    closedir(folder);
    return 0;
}

// Records `path` (a file or a folder under the root) as synced now.
static void record_synced(const char *path) {
    struct stat info;
    if (stat(path, &info) != 0) return;
    pthread_mutex_lock(&shadow_lock);
    if (S_ISDIR(info.st_mode)) {
        write_shadow("dirs", (unsigned long long)info.st_ino, list_folder, (void *)path);
    } else if (S_ISREG(info.st_mode)) {
        write_shadow("files", (unsigned long long)info.st_ino, copy_file_content, (void *)path);
    }
    pthread_mutex_unlock(&shadow_lock);
}

static void record_fd(int fd) {
    if (!enabled) return;
    char path[PATH_MAX];
    if (path_of_fd(fd, path, sizeof path) == 0 && under_root(path)) record_synced(path);
}

// Everything under `path` as it is now: the start-up state counts as durable.
static void record_tree(const char *path) {
    record_synced(path);
    DIR *folder = opendir(path);
    if (!folder) return;
    struct dirent *entry;
    char child[PATH_MAX];
    while ((entry = readdir(folder)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
        snprintf(child, sizeof child, "%s/%s", path, entry->d_name);
        struct stat info;
        if (lstat(child, &info) != 0) continue;
        if (S_ISDIR(info.st_mode)) record_tree(child);
        else if (S_ISREG(info.st_mode)) record_synced(child);
    }
    closedir(folder);
}

__attribute__((constructor)) static void start(void) {
    const char *root_setting = getenv("SLUICE_POWERLOSS_ROOT");
    const char *shadow_setting = getenv("SLUICE_POWERLOSS_SHADOW");
    if (!root_setting || !shadow_setting) return;
    if (!realpath(root_setting, root)) fail("realpath", root_setting);
    root_length = strlen(root);
    snprintf(shadow, sizeof shadow, "%s", shadow_setting);
    char sub[PATH_MAX];
    mkdir(shadow, 0755);
    snprintf(sub, sizeof sub, "%s/files", shadow);
    mkdir(sub, 0755);
    snprintf(sub, sizeof sub, "%s/dirs", shadow);
    mkdir(sub, 0755);
    record_tree(root);
    struct stat info;
    if (stat(root, &info) != 0) fail("stat", root);
    snprintf(sub, sizeof sub, "%s/root", shadow);
    FILE *file = fopen(sub, "w");
    if (!file) fail("fopen", sub);
    fprintf(file, "%llu\n", (unsigned long long)info.st_ino);
    fclose(file);
    enabled = 1;
}

int fsync(int fd) {
    int result = real_fsync(fd);
    if (result == 0) record_fd(fd);
    return result;
}

int fdatasync(int fd) {
    int result = real_fdatasync(fd);
    if (result == 0) record_fd(fd);
    return result;
}

static void remember_mapping(void *base, size_t length, int flags, int fd) {
    if (!enabled || base == MAP_FAILED || fd < 0 || !(flags & MAP_SHARED)) return;
    char path[PATH_MAX];
    if (path_of_fd(fd, path, sizeof path) != 0 || !under_root(path) || strlen(path) >= MAPPING_PATH) return;
    pthread_mutex_lock(&shadow_lock);
    for (int i = 0; i < MAX_MAPPINGS; i++) {
        if (mappings[i].base == NULL) {
            mappings[i].base = base;
            mappings[i].length = length;
            snprintf(mappings[i].path, MAPPING_PATH, "%s", path);
            break;
        }
    }
    pthread_mutex_unlock(&shadow_lock);
}

void *mmap(void *address, size_t length, int protection, int flags, int fd, off_t offset) {
    void *base = real_mmap(address, length, protection, flags, fd, offset);
    remember_mapping(base, length, flags, fd);
    return base;
}

void *mmap64(void *address, size_t length, int protection, int flags, int fd, off_t offset) {
    void *base = real_mmap(address, length, protection, flags, fd, offset);
    remember_mapping(base, length, flags, fd);
    return base;
}

int munmap(void *address, size_t length) {
    if (enabled) {
        pthread_mutex_lock(&shadow_lock);
        for (int i = 0; i < MAX_MAPPINGS; i++) {
            if (mappings[i].base == address) mappings[i].base = NULL;
        }
        pthread_mutex_unlock(&shadow_lock);
    }
    return real_munmap(address, length);
}

int msync(void *address, size_t length, int flags) {
    int result = real_msync(address, length, flags);
    if (result != 0 || !enabled || !(flags & MS_SYNC)) return result;
    char path[MAPPING_PATH];
    path[0] = 0;
    pthread_mutex_lock(&shadow_lock);
    for (int i = 0; i < MAX_MAPPINGS; i++) {
        char *base = mappings[i].base;
        if (base && (char *)address >= base && (char *)address < base + mappings[i].length) {
            snprintf(path, sizeof path, "%s", mappings[i].path);
            break;
        }
    }
    pthread_mutex_unlock(&shadow_lock);
    if (path[0]) record_synced(path);
    return result;
}
