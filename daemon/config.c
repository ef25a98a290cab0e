/* Parses lcbd.conf; see config.h. A typo in a key must stop the daemon at
 * start, not be discovered in production. */
#include "daemon/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void config_defaults(struct lcbd_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->listen_host, sizeof cfg->listen_host, "127.0.0.1");
    cfg->listen_port = 8443;
    snprintf(cfg->db_conninfo, sizeof cfg->db_conninfo, "dbname=lcb");
    cfg->db_connections = 4;
    snprintf(cfg->tls_cert, sizeof cfg->tls_cert, "/etc/lcb/server.crt");
    snprintf(cfg->tls_key, sizeof cfg->tls_key, "/etc/lcb/server.key");
    snprintf(cfg->tls_ca, sizeof cfg->tls_ca, "/etc/lcb/ca.crt");
    snprintf(cfg->signing_key, sizeof cfg->signing_key, "/etc/lcb/signing.key");
    snprintf(cfg->id_secret_file, sizeof cfg->id_secret_file, "/etc/lcb/id.secret");
    cfg->log_level = LOG_LEVEL_INFO;
    snprintf(cfg->log_target, sizeof cfg->log_target, "stderr");
    cfg->max_body_bytes = 4 * 1024 * 1024;
    cfg->request_timeout_s = 30;
    cfg->group_commit_max = 256;
    cfg->group_commit_min = 16;
    cfg->group_commit_wait_ms = 5;
    cfg->lcbp_max_connections = 10000;
    cfg->lcbp_idle_timeout_s = 300;
    cfg->lcbp_rate_per_s = 50;
    cfg->offline_window_s = 7 * 24 * 3600;
}

static int parse_int(const char *value, int min, int max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

static int set_string(char *dst, size_t cap, const char *value)
{
    if (strlen(value) >= cap || value[0] == '\0')
        return -1;
    memcpy(dst, value, strlen(value) + 1);
    return 0;
}

static int parse_address(const char *value, char *host, size_t host_cap, int *port)
{
    const char *colon = strrchr(value, ':');
    if (colon == NULL || (size_t)(colon - value) >= host_cap || colon == value)
        return -1;
    memcpy(host, value, (size_t)(colon - value));
    host[colon - value] = '\0';
    return parse_int(colon + 1, 0, 65535, port);
}

#define STRING_KEY(name) {#name, offsetof(struct lcbd_config, name), sizeof(((struct lcbd_config *)0)->name)}
static const struct {
    const char *key;
    size_t offset;
    size_t size;
} string_keys[] = {
    STRING_KEY(db_conninfo), STRING_KEY(tls_cert), STRING_KEY(tls_key),
    STRING_KEY(tls_ca),      STRING_KEY(signing_key), STRING_KEY(id_secret_file),
    STRING_KEY(log_target),  STRING_KEY(pid_file),
};

static const struct {
    const char *key;
    size_t offset;
    int min, max;
} int_keys[] = {
    {"db_connections", offsetof(struct lcbd_config, db_connections), 1, 64},
    {"max_body_bytes", offsetof(struct lcbd_config, max_body_bytes), 1024, 64 * 1024 * 1024},
    {"request_timeout_s", offsetof(struct lcbd_config, request_timeout_s), 1, 3600},
    {"group_commit_max", offsetof(struct lcbd_config, group_commit_max), 1, 10000},
    {"group_commits_at_once", offsetof(struct lcbd_config, group_commits_at_once), 1, 64},
    {"group_commit_min", offsetof(struct lcbd_config, group_commit_min), 1, 10000},
    {"group_commit_wait_ms", offsetof(struct lcbd_config, group_commit_wait_ms), 0, 60000},
    {"lcbp_max_connections", offsetof(struct lcbd_config, lcbp_max_connections), 1, 1000000},
    {"lcbp_idle_timeout_s", offsetof(struct lcbd_config, lcbp_idle_timeout_s), 1, 86400},
    {"lcbp_rate_per_s", offsetof(struct lcbd_config, lcbp_rate_per_s), 1, 100000},
    {"offline_window_s", offsetof(struct lcbd_config, offline_window_s), 60, 366 * 24 * 3600},
};

static int apply(struct lcbd_config *cfg, const char *key, const char *value)
{
    if (strcmp(key, "listen") == 0)
        return parse_address(value, cfg->listen_host, sizeof cfg->listen_host, &cfg->listen_port);
    if (strcmp(key, "lcbp_listen") == 0)
        return parse_address(value, cfg->lcbp_listen_host, sizeof cfg->lcbp_listen_host,
                             &cfg->lcbp_listen_port);
    if (strcmp(key, "db") == 0)
        key = "db_conninfo";
    if (strcmp(key, "log_level") == 0)
        return log_level_parse(value, &cfg->log_level);
    for (size_t i = 0; i < sizeof string_keys / sizeof string_keys[0]; i++)
        if (strcmp(key, string_keys[i].key) == 0)
            return set_string((char *)cfg + string_keys[i].offset, string_keys[i].size, value);
    for (size_t i = 0; i < sizeof int_keys / sizeof int_keys[0]; i++)
        if (strcmp(key, int_keys[i].key) == 0)
            return parse_int(value, int_keys[i].min, int_keys[i].max,
                             (int *)((char *)cfg + int_keys[i].offset));
    return -2;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

int config_load(struct lcbd_config *cfg, const char *path, struct lcb_error *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return lcb_error_set(err, "config", "%s: %s", path, strerror(errno));
    char line[2048];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash != NULL && (line[0] == '#' || isspace((unsigned char)hash[-1])))
            *hash = '\0';
        char *text = trim(line);
        if (*text == '\0')
            continue;
        char *eq = strchr(text, '=');
        if (eq == NULL) {
            rc = lcb_error_set(err, "config", "%s:%d: expected key = value", path, lineno);
            break;
        }
        *eq = '\0';
        char *key = trim(text), *value = trim(eq + 1);
        int applied = apply(cfg, key, value);
        if (applied == -2)
            rc = lcb_error_set(err, "config", "%s:%d: unknown key '%s'", path, lineno, key);
        else if (applied != 0)
            rc = lcb_error_set(err, "config", "%s:%d: bad value for '%s'", path, lineno, key);
    }
    fclose(f);
    return rc;
}

int config_group_commits_at_once(const struct lcbd_config *cfg)
{
    int wanted = cfg->group_commits_at_once;
    return wanted > 0 && wanted < cfg->db_connections ? wanted : cfg->db_connections;
}
