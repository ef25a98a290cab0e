/* Small-file I/O for lcbctl; see lcbctl_file.h. Never follows a request to
 * overwrite: every file lcbctl writes is created with O_EXCL. */
#include "tools/lcbctl_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *lcbctl_file_read(const char *path, size_t max, size_t *len, struct lcb_error *err)
{
    char *buf = NULL;
    size_t used = 0;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        lcb_error_set(err, "file_error", "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        lcb_error_set(err, "file_error", "%s: not a regular file", path);
        goto fail;
    }
    if ((size_t)st.st_size > max) {
        lcb_error_set(err, "file_error", "%s: larger than %zu bytes", path, max);
        goto fail;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        lcb_error_set(err, "out_of_memory", "reading %s", path);
        goto fail;
    }
    while (used < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + used, (size_t)st.st_size - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            lcb_error_set(err, "file_error", "%s: %s", path,
                          n < 0 ? strerror(errno) : "shrank while read");
            goto fail;
        }
        used += (size_t)n;
    }
    buf[used] = '\0';
    close(fd);
    *len = used;
    return buf;
fail:
    free(buf);
    close(fd);
    return NULL;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int lcbctl_file_create(const char *path, mode_t mode, const void *data, size_t len,
                       struct lcb_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

    if (fd < 0) {
        if (errno == EEXIST)
            return lcb_error_set(err, "file_exists", "%s exists; refusing to overwrite it", path);
        return lcb_error_set(err, "file_error", "%s: %s", path, strerror(errno));
    }
    /* the umask may only narrow the mode; make it exact before writing */
    if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        lcb_error_set(err, "file_error", "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        lcb_error_set(err, "file_error", "%s: %s", path, strerror(errno));
        goto fail;
    }
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    unlink(path);
    return -1;
}

int lcbctl_file_absent(const char *path, struct lcb_error *err)
{
    struct stat st;

    if (lstat(path, &st) == 0)
        return lcb_error_set(err, "file_exists", "%s exists; refusing to overwrite it", path);
    if (errno != ENOENT)
        return lcb_error_set(err, "file_error", "%s: %s", path, strerror(errno));
    return 0;
}

int lcbctl_file_private(const char *path, struct lcb_error *err)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return lcb_error_set(err, "file_error", "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return lcb_error_set(err, "file_error", "%s: not a regular file", path);
    if ((st.st_mode & 077) != 0)
        return lcb_error_set(err, "insecure_file",
                             "%s is accessible by group or others (mode %03o); chmod 600 it", path,
                             (unsigned)(st.st_mode & 0777));
    return 0;
}
