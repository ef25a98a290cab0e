-- lcb_check_balanced (008) joined entries with the statement's new entries.
-- PostgreSQL plans that query once per connection, at its first INSERT into
-- entries, and keeps the plan for the connection's life. Made on a young
-- ledger or for a large INSERT, the plan was a merge join over the whole of
-- entries_pkey, and it stayed one as the ledger grew: every later INSERT's
-- check read nearly every entry of the ledger (bench/throughput: PostgreSQL's
-- CPU per LCBP posting about doubled at 180,000 entries in the runs whose
-- connections had made that plan, and it grows with the ledger).
--
-- Tried first: planning the join afresh at every call (EXECUTE), which made
-- PostgreSQL's CPU per HTTPS posting about twice as high; and the join with
-- merge and hash joins ruled out, but then the plan made for a large INSERT
-- walked all of entries_pkey in a nested loop.
--
-- Now the check asks, for each transaction the INSERT touched, whether its
-- entries sum to zero in every unit. The grouped subquery cannot be turned
-- into a join, so it runs once per touched transaction, and with sequential
-- and bitmap scans ruled out its one sensible plan is a lookup of that
-- transaction's entries in entries_pkey, whatever the ledger's size when the
-- plan was made. Ruling plans out prices them above jit_above_cost, so JIT
-- is off too: that price must never buy a compilation.
CREATE OR REPLACE FUNCTION lcb_check_balanced() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off SET jit = off AS $$
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
