-- 011: the ledger's references checked once per INSERT statement instead of
-- once per row.
--
-- A FOREIGN KEY checks each new row on its own: one query per key per row,
-- and each locks the row it finds (FOR KEY SHARE). Every deposit of a
-- commit group refers to the same unit, institution, signing key and
-- issuing account, so every group of every database connection locked
-- those same few rows, and rows locked by several transactions at once
-- take a multixact. With the checks below in place of the six keys of
-- transactions and entries, PostgreSQL's CPU per LCBP posting at 256
-- terminals was 104 and 114 us against 169 and 146 us in the runs
-- alternated with them (bench/throughput; docs/performance.md, code v).
--
-- The same rule, kept as a second line of defence (DESIGN.md) in two
-- halves:
--   * every INSERT into transactions or entries has its rows' references
--     looked up, all in one query when the statement ends, and fails with
--     foreign_key_violation (23503), as the keys did, naming the row;
--   * a row the ledger may refer to (accounts, institutions, units,
--     signing_keys) is never deleted, truncated, or given another key. A
--     key's lock kept a referenced row from being deleted while an insert
--     that referred to it was still uncommitted; a row that can never be
--     deleted needs no lock. Nothing in lcb deleted such rows, and lcbd's
--     role could not.
-- session_replication_role = replica skips these triggers as it skipped
-- the keys' (bench/tamper.sql relies on that).

ALTER TABLE transactions
    DROP CONSTRAINT transactions_chain_account_id_fkey,
    DROP CONSTRAINT transactions_institution_id_fkey,
    DROP CONSTRAINT transactions_key_id_fkey;
ALTER TABLE entries
    DROP CONSTRAINT entries_transaction_id_fkey,
    DROP CONSTRAINT entries_account_id_fkey,
    DROP CONSTRAINT entries_unit_fkey;

-- The plans are kept for a connection's life, made at its first INSERT,
-- which may be a large one (sql/010's lesson). Written as NOT EXISTS, a
-- plan made for 6,000 new rows hashed the whole accounts table and kept
-- doing so for one row (tests/itest_basics.c counts the rows read). Each
-- reference is a LATERAL lookup with a LIMIT, which can only be run once
-- per new row, and with scans ruled out it is an index probe whatever the
-- table's size. JIT is off so that those prices never buy a compilation.
CREATE FUNCTION lcb_check_transaction_references() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off
    SET enable_mergejoin = off SET jit = off AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.id, n.chain_account_id, n.institution_id, n.key_id, a.id IS NULL AS no_account,
           i.id IS NULL AS no_institution
        INTO bad
    FROM added_transactions n
    LEFT JOIN LATERAL (
        SELECT a.id FROM accounts a WHERE a.id = n.chain_account_id LIMIT 1) a ON true
    LEFT JOIN LATERAL (
        SELECT i.id FROM institutions i WHERE i.id = n.institution_id LIMIT 1) i ON true
    LEFT JOIN LATERAL (
        SELECT k.key_id FROM signing_keys k WHERE k.key_id = n.key_id LIMIT 1) k ON true
    WHERE a.id IS NULL OR i.id IS NULL OR k.key_id IS NULL
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
            MESSAGE = 'foreign_key: transaction ' || bad.id || ' refers to '
                || CASE WHEN bad.no_account THEN 'account ' || bad.chain_account_id
                        WHEN bad.no_institution THEN 'institution ' || bad.institution_id
                        ELSE 'signing key ' || bad.key_id END
                || ', which does not exist';
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION lcb_check_entry_references() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off
    SET enable_mergejoin = off SET jit = off AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.transaction_id, n.position, n.account_id, n.unit, t.id IS NULL AS no_transaction,
           a.id IS NULL AS no_account
        INTO bad
    FROM added_entries n
    LEFT JOIN LATERAL (
        SELECT t.id FROM transactions t WHERE t.id = n.transaction_id LIMIT 1) t ON true
    LEFT JOIN LATERAL (
        SELECT a.id FROM accounts a WHERE a.id = n.account_id LIMIT 1) a ON true
    LEFT JOIN LATERAL (SELECT u.code FROM units u WHERE u.code = n.unit LIMIT 1) u ON true
    WHERE t.id IS NULL OR a.id IS NULL OR u.code IS NULL
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
            MESSAGE = 'foreign_key: entry ' || bad.position || ' of transaction '
                || bad.transaction_id || ' refers to '
                || CASE WHEN bad.no_transaction THEN 'transaction ' || bad.transaction_id
                        WHEN bad.no_account THEN 'account ' || bad.account_id
                        ELSE 'unit ' || bad.unit END
                || ', which does not exist';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER transactions_references AFTER INSERT ON transactions
    REFERENCING NEW TABLE AS added_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION lcb_check_transaction_references();
CREATE TRIGGER entries_references AFTER INSERT ON entries
    REFERENCING NEW TABLE AS added_entries
    FOR EACH STATEMENT EXECUTE FUNCTION lcb_check_entry_references();

-- What the ledger refers to stays.
CREATE FUNCTION lcb_refuse_reference_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
        MESSAGE = 'ledger_reference: ' || TG_TABLE_NAME || ' rows are never '
            || CASE TG_OP WHEN 'UPDATE' THEN 'given another key' WHEN 'DELETE' THEN 'deleted'
                          ELSE 'truncated' END
            || ': the ledger refers to them';
END $$;

-- For each such table and its key: <table>_kept (no DELETE),
-- <table>_key_kept (no new key) and <table>_not_truncated.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT * FROM (VALUES ('accounts', 'id'), ('institutions', 'id'), ('units', 'code'),
                                   ('signing_keys', 'key_id')) AS kept(tab, key) LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE DELETE ON %I FOR EACH ROW '
                       'EXECUTE FUNCTION lcb_refuse_reference_change()', t.tab || '_kept', t.tab);
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OF %I ON %I FOR EACH ROW '
                       'WHEN (OLD.%I IS DISTINCT FROM NEW.%I) '
                       'EXECUTE FUNCTION lcb_refuse_reference_change()',
                       t.tab || '_key_kept', t.key, t.tab, t.key, t.key);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT '
                       'EXECUTE FUNCTION lcb_refuse_reference_change()',
                       t.tab || '_not_truncated', t.tab);
    END LOOP;
END $$;
