/* The integration-test harness (see itest.h): environment, child processes,
 * demo data through lcbctl, lcbd's life cycle and SQL as the superuser; the
 * HTTPS client is in itest_https.c. It must never build SQL or a shell command out of
 * strings: SQL takes parameters and children get argv vectors. */
#include "tests/itest.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ITEST_ARGV_MAX 64

static struct itest_env env;
static bool env_ready;

/* ---- environment -------------------------------------------------------- */

static void env_copy(char *dest, size_t size, const char *name, bool required)
{
    const char *value = getenv(name);

    if (value == NULL || value[0] == '\0') {
        if (!required) {
            dest[0] = '\0';
            return;
        }
        fprintf(stderr,
                "itest: %s is not set; run the integration tests through "
                "tests/integration.sh (make check)\n",
                name);
        exit(99);
    }
    if ((size_t)snprintf(dest, size, "%s", value) >= size) {
        fprintf(stderr, "itest: %s is too long\n", name);
        exit(99);
    }
}

void itest_setup_once(void)
{
    const char *valgrind;

    if (env_ready)
        return;
    env_copy(env.dir, sizeof env.dir, "LCB_TEST_DIR", true);
    env_copy(env.superuser_db, sizeof env.superuser_db, "LCB_TEST_SUPERUSER_DB", true);
    env_copy(env.app_db, sizeof env.app_db, "LCB_TEST_APP_DB", true);
    env_copy(env.pg_cluster, sizeof env.pg_cluster, "LCB_TEST_PG_CLUSTER", true);
    env_copy(env.lcbd, sizeof env.lcbd, "LCB_LCBD", true);
    env_copy(env.lcbctl, sizeof env.lcbctl, "LCB_LCBCTL", true);
    env_copy(env.srcdir, sizeof env.srcdir, "LCB_SRCDIR", true);
    env_copy(env.ca_dir, sizeof env.ca_dir, "LCB_TEST_CA_DIR", true);
    env_copy(env.server_prefix, sizeof env.server_prefix, "LCB_TEST_SERVER_PREFIX", true);
    env_copy(env.signing_key, sizeof env.signing_key, "LCB_TEST_SIGNING_KEY", true);
    env_copy(env.id_secret, sizeof env.id_secret, "LCB_TEST_ID_SECRET", true);
    if ((size_t)snprintf(env.ca_cert, sizeof env.ca_cert, "%s/ca.crt", env.ca_dir) >=
        sizeof env.ca_cert) {
        fprintf(stderr, "itest: LCB_TEST_CA_DIR is too long\n");
        exit(99);
    }
    valgrind = getenv("LCB_TEST_VALGRIND");
    env.valgrind = valgrind != NULL && strcmp(valgrind, "1") == 0;
    /* lcbctl finds the database through LCB_DB */
    if (setenv("LCB_DB", env.superuser_db, 1) != 0) {
        perror("itest: setenv LCB_DB");
        exit(99);
    }
    signal(SIGPIPE, SIG_IGN);
    env_ready = true;
}

const struct itest_env *itest_env(void)
{
    itest_setup_once();
    return &env;
}

/* ---- child processes ---------------------------------------------------- */

static int wait_status_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

/* Reads fd to EOF into a malloc'd NUL-terminated string. */
static char *read_all(int fd)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);

    if (buf == NULL)
        return NULL;
    for (;;) {
        ssize_t n;

        if (cap - len < 2048) {
            char *bigger = realloc(buf, cap * 2);

            if (bigger == NULL) {
                free(buf);
                return NULL;
            }
            buf = bigger;
            cap *= 2;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return buf;
}

/* In the child: stdin from /dev/null, stdout and stderr to out_fd (or
 * unchanged when out_fd < 0), and death with the test process, so that
 * no lcbd outlives a test that aborted. Never returns. */
static void child_exec(char *const argv[], int out_fd)
{
    int devnull = open("/dev/null", O_RDONLY);

    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        close(devnull);
    }
    if (out_fd >= 0) {
        dup2(out_fd, STDOUT_FILENO);
        dup2(out_fd, STDERR_FILENO);
        if (out_fd > STDERR_FILENO)
            close(out_fd);
    }
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (strchr(argv[0], '/') != NULL)
        execv(argv[0], argv);
    else
        execvp(argv[0], argv);
    fprintf(stderr, "itest: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

int itest_run(char **out, char *const argv[])
{
    int pipe_fds[2], status;
    pid_t pid;
    char *text;

    if (out != NULL)
        *out = NULL;
    fflush(NULL);
    if (pipe2(pipe_fds, O_CLOEXEC) != 0)
        return -1;
    pid = fork();
    if (pid < 0) {
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(pipe_fds[0]);
        child_exec(argv, pipe_fds[1]);
    }
    close(pipe_fds[1]);
    text = read_all(pipe_fds[0]);
    close(pipe_fds[0]);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            free(text);
            return -1;
        }
    }
    if (out != NULL)
        *out = text;
    else
        free(text);
    return wait_status_code(status);
}

/* argv = { lcbctl, first, va... } up to the NULL sentinel. */
static void lcbctl_argv(char *argv[ITEST_ARGV_MAX], const char *first, va_list ap)
{
    size_t n = 0;
    const char *arg;

    argv[n++] = env.lcbctl;
    for (arg = first; arg != NULL; arg = va_arg(ap, const char *)) {
        ck_assert_msg(n < ITEST_ARGV_MAX - 1, "itest: too many lcbctl arguments");
        argv[n++] = (char *)arg;
    }
    argv[n] = NULL;
}

int itest_lcbctl(char **out, ...)
{
    char *argv[ITEST_ARGV_MAX];
    const char *first;
    va_list ap;

    itest_setup_once();
    va_start(ap, out);
    first = va_arg(ap, const char *);
    lcbctl_argv(argv, first, ap);
    va_end(ap);
    return itest_run(out, argv);
}

static char *trim(char *text)
{
    char *start = text, *end;

    while (*start == ' ' || *start == '\t' || *start == '\n' || *start == '\r')
        start++;
    end = start + strlen(start);
    while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
        end--;
    *end = '\0';
    memmove(text, start, (size_t)(end - start) + 1);
    return text;
}

char *itest_lcbctl_ok(const char *first, ...)
{
    char *argv[ITEST_ARGV_MAX], *out = NULL, command[512] = "";
    int status;
    va_list ap;

    itest_setup_once();
    va_start(ap, first);
    lcbctl_argv(argv, first, ap);
    va_end(ap);
    status = itest_run(&out, argv);
    if (status != 0) {
        for (size_t i = 1; argv[i] != NULL && i < 4; i++) {
            strncat(command, argv[i], sizeof command - strlen(command) - 2);
            strncat(command, " ", sizeof command - strlen(command) - 1);
        }
        fprintf(stderr, "itest: lcbctl %sexited %d:\n%s\n", command, status, out ? out : "");
        free(out);
        ck_abort_msg("lcbctl %sexited %d", command, status);
    }
    ck_assert_ptr_nonnull(out);
    return trim(out);
}

void itest_unique(char out[ITEST_CODE_MAX], const char *prefix)
{
    static unsigned counter;

    /* the pid tells forked tests apart, the counter calls within one */
    snprintf(out, ITEST_CODE_MAX, "%.8s-%ld-%u", prefix, (long)getpid(), ++counter);
}

/* ---- demo data ---------------------------------------------------------- */

/* snprintf into a path buffer; aborts the test when the path does not fit. */
__attribute__((format(printf, 3, 4))) static void path_format(char *out, size_t size,
                                                              const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(out, size, fmt, ap);
    va_end(ap);
    ck_assert_msg(n >= 0 && (size_t)n < size, "itest: path too long");
}

static void code_of(char out[ITEST_CODE_MAX], const char *prefix, const char *suffix)
{
    int n = snprintf(out, ITEST_CODE_MAX, "%s-%s", prefix, suffix);

    ck_assert_msg(n > 0 && n < ITEST_CODE_MAX, "itest: code %s-%s too long", prefix, suffix);
}

static void institution_add(const char *code, const char *name, const char *kind,
                            const char *parent)
{
    char *out;

    if (parent == NULL)
        out = itest_lcbctl_ok("institution", "add", "--code", code, "--name", name, "--kind", kind,
                              "--region", "330206", (char *)NULL);
    else
        out = itest_lcbctl_ok("institution", "add", "--code", code, "--name", name, "--kind", kind,
                              "--parent", parent, "--region", "330206", (char *)NULL);
    free(out);
}

static void catalogue_add(const char *what, const char *code, const char *owner, const char *title,
                          const char *unit, const char *credits_centi, const char *minutes,
                          const char *level)
{
    free(itest_lcbctl_ok(what, "add", "--code", code, "--owner", owner, "--title", title, "--unit",
                         unit, "--credits", credits_centi, "--hours-minutes", minutes, "--level",
                         level, (char *)NULL));
}

static void cert_issue(char out_prefix[ITEST_PATH_MAX], const char *role, const char *institution,
                       const char *name)
{
    path_format(out_prefix, ITEST_PATH_MAX, "%s/certs/%s-%s", env.dir, institution, role);
    free(itest_lcbctl_ok("cert", "issue", "--ca-dir", env.ca_dir, "--role", role, "--institution",
                         institution, "--name", name, "--out", out_prefix, (char *)NULL));
}

/* The last run of 19 digits in text: the card number lcbctl printed. */
static bool find_card_number(const char *text, char out[ITEST_CARD_MAX])
{
    bool found = false;

    for (const char *p = text; *p != '\0'; p++) {
        size_t n = strspn(p, "0123456789");

        if (n == ITEST_CARD_MAX - 1 && (p == text || p[-1] < '0' || p[-1] > '9')) {
            memcpy(out, p, n);
            out[n] = '\0';
            found = true;
        }
        if (n > 0)
            p += n - 1;
    }
    return found;
}

static void learner_with_card(struct itest_district *d, int i)
{
    char document[64], name[64], *out, *end;
    long long id;

    snprintf(document, sizeof document, "ID-%s-%d", d->prefix, i);
    snprintf(name, sizeof name, "Learner %d of %s", i, d->prefix);
    out = itest_lcbctl_ok("learner", "add", "--id-document", document, "--name", name,
                          "--institution", d->branch, "--secret-file", env.id_secret, (char *)NULL);
    /* the id is the last number printed */
    end = out + strlen(out);
    while (end > out && (end[-1] < '0' || end[-1] > '9'))
        end--;
    while (end > out && end[-1] >= '0' && end[-1] <= '9')
        end--;
    id = strtoll(end, NULL, 10);
    ck_assert_msg(id > 0, "itest: learner add printed no id: %s", out);
    free(out);
    d->learner_ids[i] = id;

    snprintf(document, sizeof document, "%lld", id);
    out =
        itest_lcbctl_ok("card", "issue", "--learner", document, "--region", "330206", (char *)NULL);
    ck_assert_msg(find_card_number(out, d->cards[i]), "itest: card issue printed no number: %s",
                  out);
    free(out);
}

void itest_district_make(struct itest_district *d, const char *prefix)
{
    char certs[ITEST_PATH_MAX];

    itest_setup_once();
    memset(d, 0, sizeof *d);
    itest_unique(d->prefix, prefix);
    code_of(d->district, d->prefix, "dc");
    code_of(d->branch, d->prefix, "br");
    code_of(d->point, d->prefix, "lp");
    code_of(d->school, d->prefix, "vs");
    code_of(d->other_school, d->prefix, "vs2");
    code_of(d->school_course, d->prefix, "vs-weld");
    code_of(d->school_certificate, d->prefix, "vs-1x");
    code_of(d->other_course, d->prefix, "vs2-cook");
    code_of(d->branch_course, d->prefix, "br-tea");

    institution_add(d->district, "Beilun District Credit Bank Centre", "district_centre", NULL);
    institution_add(d->branch, "Xinqi Street Community Education Centre", "branch_centre",
                    d->district);
    institution_add(d->point, "Xinqi Community Learning Point", "learning_point", d->branch);
    institution_add(d->school, "Beilun Vocational School", "vocational_school", d->district);
    institution_add(d->other_school, "Ningbo Cookery School", "vocational_school", d->district);

    catalogue_add("course", d->school_course, d->school, "Welding basics", "vocational", "200",
                  "120", "3");
    catalogue_add("certificate", d->school_certificate, d->school, "1+X welding, elementary",
                  "vocational", "500", "0", "4");
    catalogue_add("course", d->other_course, d->other_school, "Ningbo cuisine", "vocational", "300",
                  "180", "3");
    catalogue_add("course", d->branch_course, d->branch, "Tea culture", "community", "100", "90",
                  "1");

    for (int i = 0; i < ITEST_DISTRICT_CARDS; i++)
        learner_with_card(d, i);

    path_format(certs, sizeof certs, "%s/certs", env.dir);
    ck_assert_msg(mkdir(certs, 0700) == 0 || errno == EEXIST, "itest: mkdir %s: %s", certs,
                  strerror(errno));
    cert_issue(d->admin_cert, "administrator", d->district, "District administrator");
    cert_issue(d->branch_admin_cert, "administrator", d->branch, "Branch administrator");
    cert_issue(d->school_cert, "institution", d->school, "School registrar");
    cert_issue(d->other_school_cert, "institution", d->other_school, "Other registrar");
    cert_issue(d->auditor_cert, "auditor", d->district, "District auditor");
}

void itest_fresh_course(const struct itest_district *d, char code[ITEST_CODE_MAX])
{
    itest_unique(code, "fc");
    free(itest_lcbctl_ok("course", "add", "--code", code, "--owner", d->school, "--title",
                         "Fresh course", "--unit", "vocational", "--credits", "200",
                         "--hours-minutes", "120", "--level", "3", (char *)NULL));
}

/* ---- lcbd --------------------------------------------------------------- */

bool itest_lcbd_available(void)
{
    itest_setup_once();
    return access(env.lcbd, X_OK) == 0;
}

static int free_port(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

    if (fd < 0)
        return -1;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

/* Whether the extra lines set `key` (as "key =" at the start of a line). */
static bool lines_set_key(const char *lines, const char *key)
{
    size_t key_len = strlen(key);

    for (const char *line = lines; line != NULL && *line != '\0';) {
        const char *p = line + strspn(line, " \t"), *next = strchr(line, '\n');

        if (strncmp(p, key, key_len) == 0 && strchr(" \t=", p[key_len]) != NULL)
            return true;
        line = next ? next + 1 : NULL;
    }
    return false;
}

static int write_config(const struct itest_lcbd *d, const char *extra)
{
    char listen[64];
    char server_cert[ITEST_PATH_MAX + 8], server_key[ITEST_PATH_MAX + 8];
    const char *defaults[][2] = {
        {"listen", listen},
        {"db", env.app_db},
        {"db_connections", "4"},
        {"tls_cert", server_cert},
        {"tls_key", server_key},
        {"tls_ca", env.ca_cert},
        {"signing_key", env.signing_key},
        {"id_secret_file", env.id_secret},
        {"log_level", "debug"},
        {"log_target", "stderr"},
    };
    FILE *f;

    snprintf(listen, sizeof listen, "127.0.0.1:%d", d->port);
    snprintf(server_cert, sizeof server_cert, "%s.crt", env.server_prefix);
    snprintf(server_key, sizeof server_key, "%s.key", env.server_prefix);
    f = fopen(d->config_path, "w");
    if (f == NULL) {
        fprintf(stderr, "itest: %s: %s\n", d->config_path, strerror(errno));
        return -1;
    }
    fprintf(f, "# written by tests/itest.c\n");
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (!lines_set_key(extra, defaults[i][0]))
            fprintf(f, "%s = %s\n", defaults[i][0], defaults[i][1]);
    if (extra != NULL)
        fprintf(f, "%s%s", extra, extra[0] && extra[strlen(extra) - 1] != '\n' ? "\n" : "");
    return fclose(f) == 0 ? 0 : -1;
}

static pid_t spawn_lcbd(const struct itest_lcbd *d)
{
    char *argv[8];
    size_t n = 0;
    int log_fd;
    pid_t pid;

    if (env.valgrind) {
        argv[n++] = "valgrind";
        argv[n++] = "--leak-check=full";
        argv[n++] = "--error-exitcode=99";
        argv[n++] = "--quiet";
    }
    argv[n++] = env.lcbd;
    argv[n++] = "--config";
    argv[n++] = (char *)d->config_path;
    argv[n] = NULL;
    log_fd = open(d->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        fprintf(stderr, "itest: %s: %s\n", d->log_path, strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid = fork();
    if (pid == 0)
        child_exec(argv, log_fd);
    close(log_fd);
    return pid;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int itest_lcbd_start(struct itest_lcbd *d, const char *extra_config_lines)
{
    static unsigned serial;
    double deadline;
    int status;

    itest_setup_once();
    memset(d, 0, sizeof *d);
    d->port = free_port();
    if (d->port <= 0) {
        fprintf(stderr, "itest: no free port\n");
        return -1;
    }
    serial++;
    path_format(d->config_path, sizeof d->config_path, "%s/lcbd-%ld-%u.conf", env.dir,
                (long)getpid(), serial);
    path_format(d->log_path, sizeof d->log_path, "%s/lcbd-%ld-%u.log", env.dir, (long)getpid(),
                serial);
    if (write_config(d, extra_config_lines) != 0)
        return -1;
    d->pid = spawn_lcbd(d);
    if (d->pid < 0) {
        d->pid = 0;
        return -1;
    }
    deadline = now_s() + (env.valgrind ? 120.0 : 20.0);
    while (now_s() < deadline) {
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            fprintf(stderr, "itest: lcbd exited with status %d while starting\n",
                    wait_status_code(status));
            d->pid = 0;
            itest_lcbd_dump_log(d);
            return -1;
        }
        if (itest_https_probe(d))
            return 0;
        sleep_ms(100);
    }
    fprintf(stderr, "itest: lcbd did not answer /healthz on port %d in time\n", d->port);
    kill(d->pid, SIGKILL);
    waitpid(d->pid, &status, 0);
    d->pid = 0;
    itest_lcbd_dump_log(d);
    return -1;
}

/* The wait status of a process that is not our child (an lcbd that a
 * suite's unchecked fixture started, stopped by a forked test): it stays
 * a zombie until its parent reaps it, and /proc/PID/stat then holds the
 * status (field 52). 1 when it has exited, 0 while it runs, -1 when it is
 * gone or unreadable. */
static int foreign_exit(pid_t pid, int *status)
{
    char path[64], line[1024], *p;
    int field = 2, rc = -1;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    if (fgets(line, sizeof line, f) != NULL && (p = strrchr(line, ')')) != NULL) {
        char state = p[2];

        rc = 0;
        if (state == 'Z' || state == 'X') {
            for (p = strtok(p + 1, " "); p != NULL && ++field < 52;)
                p = strtok(NULL, " ");
            rc = p != NULL ? 1 : -1;
            if (p != NULL)
                *status = atoi(p);
        }
    }
    fclose(f);
    return rc;
}

/* 1 with *status once pid has exited, 0 while it runs, -1 on failure. */
static int poll_exit(pid_t pid, int *status)
{
    pid_t r = waitpid(pid, status, WNOHANG);

    if (r == pid)
        return 1;
    if (r == 0 || (r < 0 && errno == EINTR))
        return 0;
    if (r < 0 && errno == ECHILD)
        return foreign_exit(pid, status);
    return -1;
}

int itest_lcbd_stop(struct itest_lcbd *d)
{
    double deadline;
    int status = 0, exited;

    if (d->pid <= 0)
        return -1;
    kill(d->pid, SIGTERM);
    deadline = now_s() + (env.valgrind ? 120.0 : 30.0);
    while ((exited = poll_exit(d->pid, &status)) == 0) {
        if (now_s() > deadline) {
            fprintf(stderr, "itest: lcbd ignored SIGTERM; killing it\n");
            kill(d->pid, SIGKILL);
            while ((exited = poll_exit(d->pid, &status)) == 0)
                sleep_ms(20);
            break;
        }
        sleep_ms(20);
    }
    d->pid = 0;
    if (exited < 0) {
        fprintf(stderr, "itest: lost track of lcbd's exit status\n");
        return -1;
    }
    status = wait_status_code(status);
    if (status != 0)
        itest_lcbd_dump_log(d);
    return status;
}

void itest_lcbd_dump_log(const struct itest_lcbd *d)
{
    FILE *f = fopen(d->log_path, "r");
    char line[1024];
    long size;

    if (f == NULL)
        return;
    fprintf(stderr, "----- end of %s -----\n", d->log_path);
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 16384) {
        fseek(f, size - 16384, SEEK_SET);
        (void)fgets(line, sizeof line, f); /* skip a partial line */
    } else {
        rewind(f);
    }
    while (fgets(line, sizeof line, f) != NULL)
        fputs(line, stderr);
    fprintf(stderr, "-----\n");
    fclose(f);
}

/* ---- PostgreSQL --------------------------------------------------------- */

PGresult *itest_sql_params(const char *conninfo, const char *sql, int n_params,
                           const char *const *params)
{
    PGconn *conn;
    PGresult *res;

    itest_setup_once();
    conn = PQconnectdb(conninfo ? conninfo : env.superuser_db);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "itest: connect: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return PQmakeEmptyPGresult(NULL, PGRES_FATAL_ERROR);
    }
    res = PQexecParams(conn, sql, n_params, NULL, params, NULL, NULL, 0);
    if (res == NULL)
        res = PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
    PQfinish(conn);
    return res;
}

PGconn *itest_pg_connect(const char *conninfo)
{
    PGconn *conn;

    itest_setup_once();
    conn = PQconnectdb(conninfo ? conninfo : env.superuser_db);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "itest: connect: %s", PQerrorMessage(conn));
        PQfinish(conn);
        ck_abort_msg("cannot connect to the database");
    }
    return conn;
}

void itest_exec_ok(PGconn *conn, const char *sql, int n_params, const char *const *params)
{
    PGresult *res = PQexecParams(conn, sql, n_params, NULL, params, NULL, NULL, 0);
    ExecStatusType status = PQresultStatus(res);

    ck_assert_msg(status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK, "%s: %s", sql,
                  PQresultErrorMessage(res));
    PQclear(res);
}

char *itest_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *out = NULL;
    size_t len = 0;

    ck_assert_msg(f != NULL, "cannot open %s", path);
    for (;;) {
        char chunk[4096];
        size_t n = fread(chunk, 1, sizeof chunk, f);

        if (n == 0)
            break;
        out = realloc(out, len + n + 1);
        ck_assert_ptr_nonnull(out);
        memcpy(out + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (out == NULL)
        out = calloc(1, 1);
    out[len] = '\0';
    return out;
}

PGresult *itest_sql(const char *sql)
{
    PGconn *conn = itest_pg_connect(NULL);
    /* PQexec: several statements may be separated by semicolons */
    PGresult *res = PQexec(conn, sql);
    ExecStatusType status = PQresultStatus(res);

    if (res == NULL)
        fprintf(stderr, "itest: %s", PQerrorMessage(conn));
    PQfinish(conn);

    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        fprintf(stderr, "itest: SQL failed: %s\n  %s\n", PQresultErrorMessage(res), sql);
        PQclear(res);
        ck_abort_msg("SQL failed: %s", sql);
    }
    return res;
}

long itest_sql_long(const char *sql)
{
    PGresult *res = itest_sql(sql);
    long value;

    if (PQntuples(res) < 1 || PQnfields(res) < 1 || PQgetisnull(res, 0, 0)) {
        PQclear(res);
        ck_abort_msg("SQL returned no value: %s", sql);
    }
    value = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return value;
}

void itest_pg_restart(bool immediate)
{
    char script[ITEST_PATH_MAX + 32], *out = NULL;
    char *argv[] = {script, "restart", env.pg_cluster, immediate ? "immediate" : NULL, NULL};
    int status;

    itest_setup_once();
    snprintf(script, sizeof script, "%s/tests/pg-cluster", env.srcdir);
    status = itest_run(&out, argv);
    if (status != 0) {
        fprintf(stderr, "itest: pg-cluster restart exited %d:\n%s\n", status, out ? out : "");
        free(out);
        ck_abort_msg("pg-cluster restart failed");
    }
    free(out);
}
