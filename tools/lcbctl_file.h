/* Small-file I/O for lcbctl: keys, certificates, secrets and migrations.
 * Files it creates are never overwritten and get their mode before any
 * content is written, so a private key is never readable by others. */
#ifndef LCBCTL_FILE_H
#define LCBCTL_FILE_H

#include "lib/error.h"

#include <stddef.h>
#include <sys/types.h>

/* The whole regular file (at most max bytes), NUL-terminated; *len excludes
 * the NUL. Caller frees with free(). */
char *lcbctl_file_read(const char *path, size_t max, size_t *len, struct lcb_error *err);

/* Creates path with exactly `mode`, writes data and fsyncs it. Refuses
 * ("file_exists") when path exists; removes the file when writing fails. */
int lcbctl_file_create(const char *path, mode_t mode, const void *data, size_t len,
                       struct lcb_error *err);

/* 0 when nothing exists at path; -1 with err "file_exists" otherwise. */
int lcbctl_file_absent(const char *path, struct lcb_error *err);

/* 0 when path is a regular file that group and others cannot access; -1 with
 * err "insecure_file" (or "file_error") otherwise. */
int lcbctl_file_private(const char *path, struct lcb_error *err);

#endif
