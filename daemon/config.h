/* lcbd's configuration file: `key = value` lines, `#` comments. Every key
 * has a default (docs/operations.md lists them); an unknown key or a bad
 * value is an error, never silently ignored. */
#ifndef LCBD_CONFIG_H
#define LCBD_CONFIG_H

#include "daemon/log.h"
#include "lib/error.h"

#define CONFIG_PATH_MAX 512

struct lcbd_config {
    char listen_host[256];
    int listen_port;
    char db_conninfo[1024];
    int db_connections;
    char tls_cert[CONFIG_PATH_MAX];
    char tls_key[CONFIG_PATH_MAX];
    char tls_ca[CONFIG_PATH_MAX];
    char signing_key[CONFIG_PATH_MAX];
    char id_secret_file[CONFIG_PATH_MAX];
    enum log_level log_level;
    char log_target[16];
    int max_body_bytes;
    int request_timeout_s;
    int group_commit_max;
    /* Commit groups running at once; 0: one per database connection
     * (config_group_commits_at_once). */
    int group_commits_at_once;
    /* Postings that must be waiting before a group starts beside one
     * already running, or the milliseconds after which it starts anyway;
     * the first group never waits. */
    int group_commit_min;
    int group_commit_wait_ms;
    char pid_file[CONFIG_PATH_MAX];
    /* LCBP, the card terminals' protocol (protocol/SPEC.md) */
    char lcbp_listen_host[256]; /* "" when the listener is off */
    int lcbp_listen_port;
    int lcbp_max_connections;
    int lcbp_idle_timeout_s;
    int lcbp_rate_per_s;
    int offline_window_s;
};

void config_defaults(struct lcbd_config *cfg);
/* Reads path over the defaults; on error err says file, line and why. */
int config_load(struct lcbd_config *cfg, const char *path, struct lcb_error *err);
/* group_commits_at_once as it applies: the setting, never more than
 * db_connections, which is also the default. */
int config_group_commits_at_once(const struct lcbd_config *cfg);

#endif
