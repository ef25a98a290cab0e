-- lcb_check_balanced (008) ran a join of entries with the statement's new
-- entries. PostgreSQL plans such a query once per connection, at its first
-- INSERT into entries, and keeps the plan for the connection's life. Made
-- on a young ledger or for a large INSERT, that plan was a merge join over
-- the whole of entries_pkey, and it stayed one as the ledger grew: every
-- later INSERT's check read nearly every entry in the ledger
-- (bench/throughput: about 40% of PostgreSQL's time per LCBP posting at
-- 180,000 entries, in the runs that had made that plan, and growing with
-- the ledger). Planning it afresh at every call (EXECUTE) cost more than it
-- saved: for an HTTPS batch's 512 entries the fresh plan scanned entries too.
--
-- Now the check asks, for each transaction the INSERT touched, whether
-- that transaction's entries sum to zero in every unit: a subquery per
-- transaction, which can only be an index lookup on entries_pkey once
-- sequential scans are ruled out, whatever size the ledger had when the
-- plan was made. Ruling them out prices any plan that would use one above
-- jit_above_cost; JIT is turned off here so that such a price never buys a
-- compilation.
CREATE OR REPLACE FUNCTION lcb_check_balanced() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off SET jit = off AS $$
DECLARE
    unbalanced uuid;
BEGIN
    SELECT t.transaction_id INTO unbalanced
    FROM (SELECT DISTINCT transaction_id FROM added_entries) t
    WHERE EXISTS (SELECT FROM entries e
                  WHERE e.transaction_id = t.transaction_id
                  GROUP BY e.unit
                  HAVING sum(e.amount) <> 0)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'LCB00',
            MESSAGE = 'unbalanced: transaction ' || unbalanced || ' does not sum to zero';
    END IF;
    RETURN NULL;
END $$;
