/* The first integration suite: the ground every other suite stands on. The
 * migrations make the ledger append-only for lcbd's role and, through
 * triggers, for the superuser too; the database refuses unbalanced entries
 * and a card number with a bad check digit; the demo district builds and
 * survives a database crash; lcbd starts, answers /healthz and refuses /v1/
 * without a client certificate. */
#include "tests/itest.h"
#include "tests/itest_suites.h"

#include "daemon/net.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Runs sql with params on conn and expects it to fail with sqlstate. */
static void expect_refused(PGconn *conn, const char *sql, int n_params, const char *const *params,
                           const char *sqlstate, const char *message_part)
{
    PGresult *res = PQexecParams(conn, sql, n_params, NULL, params, NULL, NULL, 0);
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *message = PQresultErrorMessage(res);

    ck_assert_msg(PQresultStatus(res) == PGRES_FATAL_ERROR, "not refused: %s", sql);
    ck_assert_msg(state != NULL && strcmp(state, sqlstate) == 0,
                  "%s: SQLSTATE %s, expected %s (%s)", sql, state ? state : "none", sqlstate,
                  message);
    if (message_part != NULL)
        ck_assert_msg(strstr(message, message_part) != NULL, "%s: message '%s' lacks '%s'", sql,
                      message, message_part);
    PQclear(res);
}

/* expect_refused inside a savepoint, rolled back to, so that the open
 * transaction goes on as if the statement had never been sent. */
static void expect_refused_and_undone(PGconn *conn, const char *sql, int n_params,
                                      const char *const *params, const char *sqlstate,
                                      const char *message_part)
{
    itest_exec_ok(conn, "SAVEPOINT attempt", 0, NULL);
    expect_refused(conn, sql, n_params, params, sqlstate, message_part);
    itest_exec_ok(conn, "ROLLBACK TO SAVEPOINT attempt", 0, NULL);
}

static long ledger_rows(void)
{
    return itest_sql_long("SELECT (SELECT count(*) FROM transactions) + "
                          "(SELECT count(*) FROM entries)");
}

/* The first value the query answers on conn, in or out of a transaction;
 * its arguments are codes, card numbers and table names, never quoted text. */
__attribute__((format(printf, 4, 5))) static void first_value(PGconn *conn, char *out, size_t size,
                                                              const char *sql_format, ...)
{
    char sql[256];
    va_list args;
    PGresult *res;

    va_start(args, sql_format);
    vsnprintf(sql, sizeof sql, sql_format, args);
    va_end(args);
    res = PQexec(conn, sql);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1, "%s: %s", sql,
                  PQresultErrorMessage(res));
    snprintf(out, size, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
}

/* For first_value: the id of the account of the learner whose card is
 * the argument. A macro, so that the format stays a literal. */
#define LEARNER_ACCOUNT_SQL                                                                        \
    "SELECT a.id FROM cards c JOIN accounts a ON a.learner_id = c.learner_id WHERE c.number = "    \
    "'%s'"

START_TEST(test_app_role_cannot_change_the_ledger)
{
    static const char *const attempts[] = {
        "UPDATE transactions SET reason = 'tampered'",
        "DELETE FROM transactions",
        "UPDATE entries SET amount = amount * 100",
        "DELETE FROM entries",
        "TRUNCATE transactions, entries",
    };
    long before = ledger_rows();
    PGconn *lcbd = itest_pg_connect(itest_env()->app_db);

    /* the login role is lcbd, which only inherits lcb_app */
    itest_exec_ok(lcbd, "SELECT 1 FROM transactions LIMIT 1", 0, NULL);
    for (size_t i = 0; i < sizeof attempts / sizeof attempts[0]; i++)
        expect_refused(lcbd, attempts[i], 0, NULL, "42501", "permission denied");
    PQfinish(lcbd);
    ck_assert_int_eq(ledger_rows(), before);
}
END_TEST

/* The signing key that transactions written by hand name. */
static void register_synthetic_key(PGconn *conn)
{
    itest_exec_ok(conn,
                  "INSERT INTO signing_keys (key_id, public_key_pem) "
                  "VALUES ('feedfacecafe0001', 'itest only') ON CONFLICT DO NOTHING",
                  0, NULL);
}

/* A deposit's transaction row written by hand, without entries, inside a
 * transaction the test rolls back: no real record is ever touched, and
 * verify never sees it. Its id goes to id. */
static void insert_synthetic_transaction(PGconn *conn, const char *card, const char *school,
                                         char *id, size_t id_size)
{
    const char *const params[] = {card, school};
    PGresult *res;

    register_synthetic_key(conn);
    res = PQexecParams(
        conn,
        "INSERT INTO transactions (id, kind, chain_account_id, chain_seq, prev_hash, created_at, "
        "  institution_id, idempotency_key, request_digest, hash, key_id, signature) "
        "SELECT gen_random_uuid(), 'deposit', la.id, la.head_seq + 1, la.head_hash, now(), i.id, "
        "  'itest-basics-' || gen_random_uuid(), sha256('request'::bytea), "
        "  sha256(gen_random_uuid()::text::bytea), 'feedfacecafe0001', "
        "  decode(repeat('00', 64), 'hex') "
        "FROM cards c JOIN accounts la ON la.learner_id = c.learner_id, institutions i "
        "WHERE c.number = $1 AND i.code = $2 RETURNING id",
        2, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1,
                  "synthetic transaction: %s", PQresultErrorMessage(res));
    snprintf(id, id_size, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
}

/* Entries of transaction id: the learner of card gets learner_amount, the
 * school's account school_amount, both in vocational units. */
static const char synthetic_entries_sql[] =
    "INSERT INTO entries (transaction_id, position, account_id, unit, amount) "
    "SELECT $1::uuid, 0, a.id, 'vocational', $4::bigint FROM cards c "
    "  JOIN accounts a ON a.learner_id = c.learner_id WHERE c.number = $2 "
    "UNION ALL "
    "SELECT $1::uuid, 1, a.id, 'vocational', $5::bigint FROM institutions i "
    "  JOIN accounts a ON a.institution_id = i.id WHERE i.code = $3";

/* A balanced deposit written by hand (see insert_synthetic_transaction). */
static void insert_synthetic_deposit(PGconn *conn, const char *card, const char *school)
{
    char id[64];

    insert_synthetic_transaction(conn, card, school, id, sizeof id);
    {
        const char *const entry_params[] = {id, card, school, "200", "-200"};

        itest_exec_ok(conn, synthetic_entries_sql, 5, entry_params);
    }
    /* no trigger event may stay pending (TRUNCATE would refuse for that) */
    itest_exec_ok(conn, "SET CONSTRAINTS ALL IMMEDIATE", 0, NULL);
}

START_TEST(test_even_the_superuser_cannot_change_the_ledger)
{
    static const char *const attempts[] = {
        "UPDATE transactions SET reason = 'tampered' WHERE reason = ''",
        "DELETE FROM transactions WHERE reason = ''",
        "UPDATE entries SET amount = amount * 100",
        "DELETE FROM entries",
        "TRUNCATE entries",
    };
    struct itest_district d;
    long before;
    PGconn *conn;

    itest_district_make(&d, "basics");
    before = ledger_rows();
    conn = itest_pg_connect(NULL);
    itest_exec_ok(conn, "BEGIN", 0, NULL);
    insert_synthetic_deposit(conn, d.cards[0], d.school);
    for (size_t i = 0; i < sizeof attempts / sizeof attempts[0]; i++) {
        expect_refused_and_undone(conn, attempts[i], 0, NULL, "LCB00", "append_only");
    }
    itest_exec_ok(conn, "ROLLBACK", 0, NULL);
    PQfinish(conn);
    ck_assert_int_eq(ledger_rows(), before);
}
END_TEST

/* Invariant 2 in the database itself (sql/008): whoever inserts entries,
 * every transaction they touch must sum to zero per unit when the INSERT
 * ends, including one balanced before and given one more entry. */
START_TEST(test_even_the_superuser_cannot_write_unbalanced_entries)
{
    static const char *const unbalanced[][2] = {
        {"200", "-199"}, /* off by one */
        {"200", "200"},  /* both sides credited */
    };
    struct itest_district d;
    long before;
    PGconn *conn;
    char id[64];

    itest_district_make(&d, "balanced");
    before = ledger_rows();
    conn = itest_pg_connect(NULL);
    itest_exec_ok(conn, "BEGIN", 0, NULL);
    insert_synthetic_transaction(conn, d.cards[0], d.school, id, sizeof id);
    for (size_t i = 0; i < sizeof unbalanced / sizeof unbalanced[0]; i++) {
        const char *const params[] = {id, d.cards[0], d.school, unbalanced[i][0], unbalanced[i][1]};

        expect_refused_and_undone(conn, synthetic_entries_sql, 5, params, "LCB00", "unbalanced");
    }
    {
        /* one side alone is refused at once, not trusted to be balanced by a
         * later statement */
        const char *const params[] = {id, d.cards[0], "200"};

        expect_refused_and_undone(
            conn,
            "INSERT INTO entries (transaction_id, position, account_id, unit, amount) "
            "SELECT $1::uuid, 0, a.id, 'vocational', $3::bigint FROM cards c "
            "  JOIN accounts a ON a.learner_id = c.learner_id WHERE c.number = $2",
            3, params, "LCB00", "unbalanced");
    }
    {
        const char *const balanced[] = {id, d.cards[0], d.school, "200", "-200"};
        const char *const extra[] = {id, d.cards[0], "7"};

        itest_exec_ok(conn, synthetic_entries_sql, 5, balanced);
        expect_refused(conn,
                       "INSERT INTO entries (transaction_id, position, account_id, unit, amount) "
                       "SELECT $1::uuid, 2, a.id, 'vocational', $3::bigint FROM cards c "
                       "  JOIN accounts a ON a.learner_id = c.learner_id WHERE c.number = $2",
                       3, extra, "LCB00", "unbalanced");
    }
    itest_exec_ok(conn, "ROLLBACK", 0, NULL);
    PQfinish(conn);
    ck_assert_int_eq(ledger_rows(), before);
}
END_TEST

/* A transaction row written by hand with the given chain account,
 * institution and signing key ($1 to $3). */
static const char reference_transaction_sql[] =
    "INSERT INTO transactions (id, kind, chain_account_id, chain_seq, prev_hash, created_at, "
    "  institution_id, idempotency_key, request_digest, hash, key_id, signature) "
    "VALUES (gen_random_uuid(), 'deposit', $1::bigint, 1, decode(repeat('00', 32), 'hex'), now(), "
    "  $2::bigint, 'itest-ref-' || gen_random_uuid(), sha256('request'::bytea), "
    "  sha256(gen_random_uuid()::text::bytea), $3, decode(repeat('00', 64), 'hex'))";

/* Two balanced entries of transaction $1: +200 to account $2 and -200 to
 * account $3, in unit $4. */
static const char reference_entries_sql[] =
    "INSERT INTO entries (transaction_id, position, account_id, unit, amount) "
    "VALUES ($1::uuid, 0, $2::bigint, $4, 200), ($1::uuid, 1, $3::bigint, $4, -200)";

/* Invariant: nothing in the ledger refers to what does not exist. sql/011
 * checks each INSERT's references once per statement, in place of six
 * per-row FOREIGN KEYs; it must refuse what they refused, with their
 * SQLSTATE, and name the row and the missing reference. */
START_TEST(test_even_the_superuser_cannot_refer_to_what_does_not_exist)
{
    struct itest_district d;
    char learner_account[24], school_account[24], school[24], id[64];
    long before;
    PGconn *conn;

    itest_district_make(&d, "references");
    before = ledger_rows();
    conn = itest_pg_connect(NULL);
    itest_exec_ok(conn, "BEGIN", 0, NULL);
    first_value(conn, learner_account, sizeof learner_account, LEARNER_ACCOUNT_SQL, d.cards[0]);
    first_value(conn, school_account, sizeof school_account,
                "SELECT a.id FROM institutions i JOIN accounts a "
                "ON a.institution_id = i.id WHERE i.code = '%s'",
                d.school);
    first_value(conn, school, sizeof school, "SELECT id FROM institutions WHERE code = '%s'",
                d.school);
    register_synthetic_key(conn);
    {
        const char *const bad[][4] = {
            {"-1", school, "feedfacecafe0001", "refers to account -1,"},
            {learner_account, "-1", "feedfacecafe0001", "refers to institution -1,"},
            {learner_account, school, "deadbeefdeadbeef",
             "refers to signing key deadbeefdeadbeef,"},
        };

        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            expect_refused_and_undone(conn, reference_transaction_sql, 3, bad[i], "23503",
                                      bad[i][3]);
        }
    }
    insert_synthetic_transaction(conn, d.cards[0], d.school, id, sizeof id);
    {
        const char *const bad[][5] = {
            {"00000000-0000-4000-8000-000000000000", learner_account, school_account, "vocational",
             "refers to transaction 00000000-0000-4000-8000-000000000000,"},
            {id, "-1", school_account, "vocational", "refers to account -1,"},
            {id, learner_account, school_account, "nosuchunit", "refers to unit nosuchunit,"},
        };

        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            expect_refused_and_undone(conn, reference_entries_sql, 4, bad[i], "23503", bad[i][4]);
        }
    }
    {
        /* the same statement with every reference right is accepted */
        const char *const good[] = {id, learner_account, school_account, "vocational"};

        itest_exec_ok(conn, reference_entries_sql, 4, good);
    }
    itest_exec_ok(conn, "ROLLBACK", 0, NULL);
    PQfinish(conn);
    ck_assert_int_eq(ledger_rows(), before);
}
END_TEST

static long reference_rows(void)
{
    return itest_sql_long("SELECT (SELECT count(*) FROM accounts) + "
                          "(SELECT count(*) FROM institutions) + (SELECT count(*) FROM units) + "
                          "(SELECT count(*) FROM signing_keys)");
}

/* The other half of sql/011: what the ledger may refer to is never
 * deleted, truncated or re-keyed, even by the superuser, even when nothing
 * refers to it yet (the signing key here), so no lock is needed between an
 * insert that refers to a row and a delete of that row. */
START_TEST(test_what_the_ledger_refers_to_stays)
{
    struct itest_district d;
    char learner_account[24], school[24];
    char attempts[12][160];
    size_t n = 0;
    long before;
    PGconn *conn;

    itest_district_make(&d, "refstay");
    conn = itest_pg_connect(NULL);
    /* everything below is rolled back: a key kept would be kept for good */
    itest_exec_ok(conn, "BEGIN", 0, NULL);
    register_synthetic_key(conn);
    first_value(conn, learner_account, sizeof learner_account, LEARNER_ACCOUNT_SQL, d.cards[0]);
    first_value(conn, school, sizeof school, "SELECT id FROM institutions WHERE code = '%s'",
                d.school);
    snprintf(attempts[n++], sizeof attempts[0], "DELETE FROM accounts WHERE id = %s",
             learner_account);
    snprintf(attempts[n++], sizeof attempts[0], "UPDATE accounts SET id = -id WHERE id = %s",
             learner_account);
    snprintf(attempts[n++], sizeof attempts[0], "TRUNCATE accounts CASCADE");
    snprintf(attempts[n++], sizeof attempts[0], "DELETE FROM institutions WHERE id = %s", school);
    snprintf(attempts[n++], sizeof attempts[0], "UPDATE institutions SET id = -id WHERE id = %s",
             school);
    snprintf(attempts[n++], sizeof attempts[0], "TRUNCATE institutions CASCADE");
    snprintf(attempts[n++], sizeof attempts[0], "DELETE FROM units WHERE code = 'minutes'");
    snprintf(attempts[n++], sizeof attempts[0],
             "UPDATE units SET code = 'renamed' WHERE code = 'minutes'");
    snprintf(attempts[n++], sizeof attempts[0], "TRUNCATE units CASCADE");
    snprintf(attempts[n++], sizeof attempts[0],
             "DELETE FROM signing_keys WHERE key_id = 'feedfacecafe0001'");
    snprintf(
        attempts[n++], sizeof attempts[0],
        "UPDATE signing_keys SET key_id = 'feedfacecafe0002' WHERE key_id = 'feedfacecafe0001'");
    snprintf(attempts[n++], sizeof attempts[0], "TRUNCATE signing_keys");
    before = reference_rows();
    for (size_t i = 0; i < n; i++) {
        expect_refused_and_undone(conn, attempts[i], 0, NULL, "23503", "ledger_reference");
    }
    /* a change that keeps the key is still allowed */
    itest_exec_ok(conn, "UPDATE units SET name = name WHERE code = 'minutes'", 0, NULL);
    itest_exec_ok(conn, "ROLLBACK", 0, NULL);
    PQfinish(conn);
    ck_assert_int_eq(reference_rows(), before);
}
END_TEST

/* Rows of table read so far by conn's open transaction, whatever the plan:
 * rows sequential scans read plus rows index scans fetched. */
static long rows_read_in_transaction(PGconn *conn, const char *table)
{
    char n[24];

    first_value(conn, n, sizeof n,
                "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) "
                "FROM pg_stat_xact_user_tables WHERE relname = '%s'",
                table);
    return atol(n);
}

/* The double-entry check (sql/010) reads the entries of the transactions
 * an INSERT touched, not the ledger, and the reference checks (sql/011) one
 * row per reference of each new row: a connection whose first checks ran on
 * a young ledger must not keep a plan that scans entries, transactions or
 * accounts as the ledger grows, nor one made for a large INSERT. Counted by
 * PostgreSQL's statistics for the transaction, not timed.
 * The last transaction has the greatest id, so a merge join in id order
 * would have to read every entry before it. */
START_TEST(test_ledger_checks_read_only_the_touched_rows)
{
    static const char grow_sql[] =
        "INSERT INTO transactions (id, kind, chain_account_id, chain_seq, prev_hash, created_at, "
        "  institution_id, idempotency_key, request_digest, hash, key_id, signature) "
        "SELECT gen_random_uuid(), 'deposit', la.id, la.head_seq + 1 + g, la.head_hash, now(), "
        "  i.id, 'itest-grow-' || g, sha256('request'::bytea), "
        "  sha256(gen_random_uuid()::text::bytea), 'feedfacecafe0001', "
        "  decode(repeat('00', 64), 'hex') "
        "FROM cards c JOIN accounts la ON la.learner_id = c.learner_id, institutions i, "
        "  generate_series(1, 6000) g "
        "WHERE c.number = $1 AND i.code = $2";
    static const char grow_entries_sql[] =
        "INSERT INTO entries (transaction_id, position, account_id, unit, amount) "
        "SELECT t.id, p, CASE p WHEN 0 THEN t.chain_account_id ELSE sa.id END, 'vocational', "
        "  CASE p WHEN 0 THEN 100 ELSE -100 END "
        "FROM transactions t, generate_series(0, 1) p, institutions i "
        "  JOIN accounts sa ON sa.institution_id = i.id "
        "WHERE t.idempotency_key LIKE 'itest-grow-%' AND i.code = $1";
    /* every value given, so that only the check reads accounts */
    static const char last_sql[] =
        "INSERT INTO transactions (id, kind, chain_account_id, chain_seq, prev_hash, created_at, "
        "  institution_id, idempotency_key, request_digest, hash, key_id, signature) "
        "VALUES ('ffffffff-ffff-4fff-bfff-ffffffffffff', 'deposit', $1::bigint, $2::bigint, "
        "  decode(repeat('00', 32), 'hex'), now(), $3::bigint, 'itest-grow-last', "
        "  sha256('request'::bytea), sha256(gen_random_uuid()::text::bytea), 'feedfacecafe0001', "
        "  decode(repeat('00', 64), 'hex'))";
    struct itest_district d;
    long before, ledger_entries, read, tx_read, accounts_read;
    PGconn *conn;

    itest_district_make(&d, "checkplan");
    before = ledger_rows();
    conn = itest_pg_connect(NULL);
    itest_exec_ok(conn, "BEGIN", 0, NULL);
    register_synthetic_key(conn);
    /* this session's first check is over many transactions at once, as a
     * large batch would be: a plan kept from it would join the whole ledger */
    {
        const char *const params[] = {d.cards[1], d.school};
        const char *const school[] = {d.school};

        itest_exec_ok(conn, grow_sql, 2, params);
        itest_exec_ok(conn, grow_entries_sql, 1, school);
    }
    {
        char account[24], seq[24], institution[24];
        const char *const params[] = {account, seq, institution};

        first_value(conn, account, sizeof account, LEARNER_ACCOUNT_SQL, d.cards[1]);
        first_value(conn, seq, sizeof seq,
                    "SELECT a.head_seq + 6002 FROM cards c JOIN accounts a "
                    "ON a.learner_id = c.learner_id WHERE c.number = '%s'",
                    d.cards[1]);
        first_value(conn, institution, sizeof institution,
                    "SELECT id FROM institutions WHERE code = '%s'", d.school);
        accounts_read = rows_read_in_transaction(conn, "accounts");
        itest_exec_ok(conn, last_sql, 3, params);
        accounts_read = rows_read_in_transaction(conn, "accounts") - accounts_read;
    }
    /* the check's one lookup of the new transaction's chain account */
    ck_assert_msg(accounts_read <= 1, "one new transaction read %ld accounts", accounts_read);
    {
        char n[24];

        first_value(conn, n, sizeof n, "SELECT count(*) FROM entries");
        ledger_entries = atol(n);
    }
    ck_assert_int_ge(ledger_entries, 12000);
    read = rows_read_in_transaction(conn, "entries");
    tx_read = rows_read_in_transaction(conn, "transactions");
    {
        const char *const params[] = {"ffffffff-ffff-4fff-bfff-ffffffffffff", d.cards[1], d.school,
                                      "100", "-100"};

        itest_exec_ok(conn, synthetic_entries_sql, 5, params);
    }
    read = rows_read_in_transaction(conn, "entries") - read;
    tx_read = rows_read_in_transaction(conn, "transactions") - tx_read;
    ck_assert_msg(read <= 4, "checking one transaction read %ld entries of a ledger of %ld", read,
                  ledger_entries);
    /* one lookup of its transaction per new entry */
    ck_assert_msg(tx_read <= 2, "checking two entries read %ld transactions", tx_read);
    itest_exec_ok(conn, "ROLLBACK", 0, NULL);
    PQfinish(conn);
    ck_assert_int_eq(ledger_rows(), before);
}
END_TEST

START_TEST(test_database_refuses_a_bad_card_check_digit)
{
    struct itest_district d;
    char learner[32], good[24], bad[24];
    const char *const params_good[] = {good, learner};
    const char *const params_bad[] = {bad, learner};
    PGconn *conn;
    PGresult *res;
    const char *const serial[] = {"330206999999999990"};

    itest_district_make(&d, "luhn");
    snprintf(learner, sizeof learner, "%lld", d.learner_ids[1]);
    conn = itest_pg_connect(NULL);
    itest_exec_ok(conn, "BEGIN", 0, NULL);
    /* a fresh, well-formed number as a control: only the check digit differs */
    res = PQexecParams(conn, "SELECT $1 || lcb_luhn_digit($1)", 1, NULL, serial, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    snprintf(good, sizeof good, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    ck_assert_uint_eq(strlen(good), 19);
    snprintf(bad, sizeof bad, "%s", good);
    bad[18] = (char)('0' + (bad[18] - '0' + 1) % 10);

    itest_exec_ok(conn, "SAVEPOINT card", 0, NULL);
    expect_refused(conn, "INSERT INTO cards (number, learner_id, status) VALUES ($1, $2, 'lost')",
                   2, params_bad, "23514", "cards_number_check");
    itest_exec_ok(conn, "ROLLBACK TO SAVEPOINT card", 0, NULL);
    itest_exec_ok(conn, "INSERT INTO cards (number, learner_id, status) VALUES ($1, $2, 'lost')", 2,
                  params_good);
    itest_exec_ok(conn, "ROLLBACK", 0, NULL);
    PQfinish(conn);
}
END_TEST

START_TEST(test_demo_district_is_built_through_lcbctl)
{
    struct itest_district d;
    char pattern[64], crt[ITEST_PATH_MAX + 8], *out = NULL;
    const char *const params[] = {pattern};
    const char *certs[] = {d.admin_cert, d.branch_admin_cert, d.school_cert, d.other_school_cert,
                           d.auditor_cert};
    PGresult *res;

    itest_district_make(&d, "district");
    snprintf(pattern, sizeof pattern, "%s-%%", d.prefix);

    res = itest_sql_params(NULL,
                           "SELECT (SELECT count(*) FROM institutions WHERE code LIKE $1), "
                           "       (SELECT count(*) FROM catalogue WHERE code LIKE $1), "
                           "       (SELECT count(*) FROM credentials c JOIN institutions i "
                           "          ON i.id = c.institution_id WHERE i.code LIKE $1)",
                           1, params);
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    ck_assert_str_eq(PQgetvalue(res, 0, 0), "5");
    ck_assert_str_eq(PQgetvalue(res, 0, 1), "4");
    ck_assert_str_eq(PQgetvalue(res, 0, 2), "5");
    PQclear(res);

    for (int i = 0; i < ITEST_DISTRICT_CARDS; i++) {
        ck_assert_uint_eq(strlen(d.cards[i]), 19);
        ck_assert_msg(strncmp(d.cards[i], "330206", 6) == 0, "card %s", d.cards[i]);
        ck_assert_int_eq(itest_lcbctl(&out, "balance", d.cards[i], (char *)NULL), 0);
        free(out);
    }
    for (size_t i = 0; i < sizeof certs / sizeof certs[0]; i++) {
        snprintf(crt, sizeof crt, "%s.crt", certs[i]);
        ck_assert_msg(access(crt, R_OK) == 0, "no certificate %s", crt);
    }
}
END_TEST

/* The harness's crash: what lcbctl committed survives an immediate stop. */
START_TEST(test_committed_data_survives_a_database_crash)
{
    struct itest_district d;
    char pattern[64];
    const char *const params[] = {pattern};
    PGresult *res;

    itest_district_make(&d, "crash");
    snprintf(pattern, sizeof pattern, "%s-%%", d.prefix);
    itest_pg_restart(true);
    res = itest_sql_params(NULL, "SELECT count(*) FROM institutions WHERE code LIKE $1", 1, params);
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    ck_assert_str_eq(PQgetvalue(res, 0, 0), "5");
    PQclear(res);
    itest_pg_restart(false);
    ck_assert_int_ge(itest_sql_long("SELECT count(*) FROM cards WHERE learner_id IN (SELECT id "
                                    "FROM learners) AND status = 'active'"),
                     3);
}
END_TEST

START_TEST(test_lcbd_starts_and_guards_v1)
{
    struct itest_district d;
    struct itest_lcbd lcbd;
    char path[128];
    json_t *json = NULL;
    int status = 0;

    if (!itest_lcbd_available()) {
        fprintf(stderr, "itest_basics: %s is not built; lcbd checks skipped\n", itest_env()->lcbd);
        return;
    }
    itest_district_make(&d, "lcbd");
    ck_assert_int_eq(itest_lcbd_start(&lcbd, NULL), 0);

    ck_assert_int_eq(itest_https(&lcbd, "GET", "/healthz", NULL, NULL, &status, &json), 0);
    ck_assert_int_eq(status, 200);
    ck_assert_ptr_nonnull(json);
    ck_assert_str_eq(json_string_value(json_object_get(json, "status")), "ok");
    ck_assert_str_eq(json_string_value(json_object_get(json, "database")), "up");
    json_decref(json);

    snprintf(path, sizeof path, "/v1/cards/%s/balance", d.cards[0]);
    ck_assert_int_eq(itest_https(&lcbd, "GET", path, NULL, NULL, &status, NULL), 0);
    ck_assert_int_eq(status, 401);

    ck_assert_int_eq(itest_lcbd_stop(&lcbd), 0);
}
END_TEST

static int tcp_no_delay_of(int fd)
{
    int value = -1;
    socklen_t len = sizeof value;
    ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &value, &len), 0);
    return value;
}

/* lcbd turns Nagle off on its listening sockets only (daemon/net.h), which
 * is enough only if accepted sockets inherit it: with Nagle on, a response
 * waited for the client's delayed ACK, about 40 ms a request. */
START_TEST(test_accepted_sockets_inherit_no_delay)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t addr_len = sizeof addr;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int client = socket(AF_INET, SOCK_STREAM, 0);
    int accepted;

    ck_assert(listener >= 0 && client >= 0);
    ck_assert_int_eq(bind(listener, (struct sockaddr *)&addr, sizeof addr), 0);
    ck_assert_int_eq(getsockname(listener, (struct sockaddr *)&addr, &addr_len), 0);
    ck_assert_int_eq(listen(listener, 1), 0);
    ck_assert_int_eq(tcp_no_delay_of(listener), 0);
    net_no_delay(listener);
    ck_assert_int_eq(connect(client, (struct sockaddr *)&addr, sizeof addr), 0);
    accepted = accept(listener, NULL, NULL);
    ck_assert(accepted >= 0);
    ck_assert_int_ne(tcp_no_delay_of(accepted), 0);
    close(accepted);
    close(client);
    close(listener);
}
END_TEST

Suite *itest_basics_suite(void)
{
    Suite *s = suite_create("basics");
    TCase *ledger = tcase_create("ledger");
    TCase *daemon = tcase_create("lcbd");

    tcase_set_timeout(ledger, 120);
    tcase_add_test(ledger, test_app_role_cannot_change_the_ledger);
    tcase_add_test(ledger, test_even_the_superuser_cannot_change_the_ledger);
    tcase_add_test(ledger, test_even_the_superuser_cannot_write_unbalanced_entries);
    tcase_add_test(ledger, test_even_the_superuser_cannot_refer_to_what_does_not_exist);
    tcase_add_test(ledger, test_what_the_ledger_refers_to_stays);
    tcase_add_test(ledger, test_ledger_checks_read_only_the_touched_rows);
    tcase_add_test(ledger, test_database_refuses_a_bad_card_check_digit);
    tcase_add_test(ledger, test_demo_district_is_built_through_lcbctl);
    tcase_add_test(ledger, test_committed_data_survives_a_database_crash);
    suite_add_tcase(s, ledger);

    tcase_set_timeout(daemon, 120);
    tcase_add_test(daemon, test_lcbd_starts_and_guards_v1);
    tcase_add_test(daemon, test_accepted_sockets_inherit_no_delay);
    suite_add_tcase(s, daemon);
    return s;
}
