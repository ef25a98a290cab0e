/* Log output for lcbd; see log.h. One line per message, level first, so
 * that operators can grep for "refused" and "error". */
#include "daemon/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static enum log_level min_level = LOG_LEVEL_INFO;
static bool use_syslog;

static const char *const level_names[] = {"debug", "info", "warning", "error"};

int log_level_parse(const char *name, enum log_level *level)
{
    for (int i = LOG_LEVEL_DEBUG; i <= LOG_LEVEL_ERROR; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *level = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

int log_open(const char *target, enum log_level level)
{
    min_level = level;
    if (strcmp(target, "stderr") == 0) {
        use_syslog = false;
        return 0;
    }
    if (strcmp(target, "syslog") == 0) {
        use_syslog = true;
        openlog("lcbd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
        return 0;
    }
    return -1;
}

void log_close(void)
{
    if (use_syslog)
        closelog();
    use_syslog = false;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    static const int syslog_priorities[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
    if (level < min_level)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (use_syslog) {
        syslog(syslog_priorities[level], "%s", line);
        return;
    }
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ lcbd %s: %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000,
            level_names[level], line);
}
