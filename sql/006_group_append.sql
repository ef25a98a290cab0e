-- lcb schema 006: appending a whole commit group in one statement.
--
-- lcb_append (002) appends one signed transaction per call; a group of 256
-- postings then costs 256 calls, each with its own statements, round trip
-- and plan executions, and the database's CPU, not its disk, bounded the
-- rate. lcb_append_many appends the group's transactions with one UPDATE of
-- the chain heads and one INSERT per table. Its rules are lcb_append's:
-- every chain head must still be where the caller read it (several lcbd
-- processes may share the database), and only learners' balances are
-- stored. A group never holds two postings to one chain (lcbd keeps them
-- apart); if it did, the second would not find its head and the whole call
-- fails, as a moved chain does.

-- Transaction i of the group is element i of every p_ array; its entries are
-- the elements of the p_entry_ arrays whose p_entry_tx is i, in order.
CREATE FUNCTION lcb_append_many(p_ids uuid[], p_kinds text[], p_chain_accounts bigint[],
                                p_seqs bigint[], p_prevs bytea[], p_created_us bigint[],
                                p_institutions bigint[], p_keys text[], p_digests bytea[],
                                p_item_codes text[], p_results text[], p_completed_on date[],
                                p_evidence bytea[], p_reverses uuid[], p_reasons text[],
                                p_hashes bytea[], p_key_ids text[], p_signatures bytea[],
                                p_entry_tx integer[], p_entry_accounts bigint[],
                                p_entry_units text[], p_entry_amounts bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    n integer := cardinality(p_ids);
    moved integer;
BEGIN
    IF n = 0 OR cardinality(p_entry_tx) = 0
       OR cardinality(p_entry_tx) <> cardinality(p_entry_accounts)
       OR cardinality(p_entry_tx) <> cardinality(p_entry_units)
       OR cardinality(p_entry_tx) <> cardinality(p_entry_amounts) THEN
        PERFORM lcb_fail('bad_group', 'a commit group needs transactions and matching entries');
    END IF;
    IF (SELECT count(DISTINCT tx) FROM unnest(p_entry_tx) tx WHERE tx BETWEEN 1 AND n) <> n
       OR EXISTS (SELECT 1 FROM unnest(p_entry_tx) tx WHERE tx NOT BETWEEN 1 AND n) THEN
        PERFORM lcb_fail('bad_group', 'every transaction of a commit group needs its own entries');
    END IF;
    UPDATE accounts a SET head_seq = u.seq, head_hash = u.hash
        FROM unnest(p_chain_accounts, p_seqs, p_prevs, p_hashes) AS u(account, seq, prev, hash)
        WHERE a.id = u.account AND a.head_seq = u.seq - 1 AND a.head_hash = u.prev;
    GET DIAGNOSTICS moved = ROW_COUNT;
    IF moved <> n THEN
        PERFORM lcb_fail('chain_moved', (n - moved) || ' of ' || n
                         || ' chain heads of a commit group moved');
    END IF;
    INSERT INTO transactions (id, kind, chain_account_id, chain_seq, prev_hash, created_at,
                              institution_id, idempotency_key, request_digest, item_code, result,
                              completed_on, evidence_sha256, reverses, reason, hash, key_id,
                              signature)
        SELECT t.id, t.kind, t.account, t.seq, t.prev,
               'epoch'::timestamptz + t.created_us * interval '1 microsecond',
               t.institution, t.key, t.digest, t.item_code, t.result, t.completed_on,
               t.evidence, t.reverses, t.reason, t.hash, t.key_id, t.signature
        FROM unnest(p_ids, p_kinds, p_chain_accounts, p_seqs, p_prevs, p_created_us,
                    p_institutions, p_keys, p_digests, p_item_codes, p_results, p_completed_on,
                    p_evidence, p_reverses, p_reasons, p_hashes, p_key_ids, p_signatures)
             AS t(id, kind, account, seq, prev, created_us, institution, key, digest, item_code,
                  result, completed_on, evidence, reverses, reason, hash, key_id, signature);
    INSERT INTO entries (transaction_id, position, account_id, unit, amount)
        SELECT p_ids[e.tx],
               (row_number() OVER (PARTITION BY e.tx ORDER BY e.ord) - 1)::smallint,
               e.account_id, e.unit, e.amount
        FROM unnest(p_entry_tx, p_entry_accounts, p_entry_units, p_entry_amounts)
             WITH ORDINALITY AS e(tx, account_id, unit, amount, ord);
    -- As in lcb_append: institutions' balances are summed when asked, never
    -- stored, so concurrent groups do not queue on their rows.
    INSERT INTO balances (account_id, unit, amount)
        SELECT e.account_id, e.unit, sum(e.amount)
        FROM unnest(p_entry_accounts, p_entry_units, p_entry_amounts) AS e(account_id, unit, amount)
        JOIN accounts a ON a.id = e.account_id AND a.learner_id IS NOT NULL
        GROUP BY e.account_id, e.unit
        ORDER BY e.account_id, e.unit
    ON CONFLICT (account_id, unit) DO UPDATE SET amount = balances.amount + EXCLUDED.amount;
END $$;

-- lcb_course_credited (004) looks for a deposit of one course on a learner's
-- chain; by (chain_account_id, chain_seq) that meant reading every record of
-- the chain, once per deposit, so a long-lived learner's postings grew
-- dearer with each one. This index finds the course's deposits directly.
CREATE INDEX transactions_deposited_items ON transactions (chain_account_id, item_code)
    WHERE kind = 'deposit';
