-- 003: the role lcbd logs in with (granted lcb_app). It may add to the ledger
-- and read it, never change or remove a transaction or an entry.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lcb_app') THEN
        CREATE ROLE lcb_app NOLOGIN;
    END IF;
END $$;

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM lcb_app;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO lcb_app;
GRANT INSERT ON transactions, entries, institutions, learners, cards, catalogue, accounts,
    balances, signing_keys TO lcb_app;
GRANT UPDATE (head_seq, head_hash) ON accounts TO lcb_app;
GRANT UPDATE (amount) ON balances TO lcb_app;
GRANT UPDATE (status, replaced_by, changed_at) ON cards TO lcb_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO lcb_app;
REVOKE UPDATE, DELETE, TRUNCATE ON transactions, entries FROM lcb_app;
