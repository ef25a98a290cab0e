/* lcbd's log: levels, to stderr or syslog. Never logs secrets or identity
 * document numbers. Safe to call from any callback on the event loop. */
#ifndef LCBD_LOG_H
#define LCBD_LOG_H

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARNING, LOG_LEVEL_ERROR };

int log_level_parse(const char *name, enum log_level *level);
/* target is "stderr" or "syslog"; returns -1 for anything else. */
int log_open(const char *target, enum log_level level);
void log_close(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
