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

-- One posting is a group of one: lcb_append (002) now appends through
-- lcb_append_many, so the chain check, the inserts and the stored balances
-- have one definition whichever way a posting is committed.
CREATE OR REPLACE FUNCTION lcb_append(p_id uuid, p_kind text, p_chain_account bigint, p_seq bigint,
                                      p_prev bytea, p_created_us bigint, p_institution bigint,
                                      p_key text, p_digest bytea, p_item_code text, p_result text,
                                      p_completed_on date, p_evidence bytea, p_reverses uuid,
                                      p_reason text, p_hash bytea, p_key_id text,
                                      p_signature bytea, p_accounts bigint[], p_units text[],
                                      p_amounts bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM lcb_append_many(ARRAY[p_id], ARRAY[p_kind], ARRAY[p_chain_account], ARRAY[p_seq],
                            ARRAY[p_prev], ARRAY[p_created_us], ARRAY[p_institution],
                            ARRAY[p_key], ARRAY[p_digest], ARRAY[p_item_code], ARRAY[p_result],
                            ARRAY[p_completed_on], ARRAY[p_evidence], ARRAY[p_reverses],
                            ARRAY[p_reason], ARRAY[p_hash], ARRAY[p_key_id], ARRAY[p_signature],
                            array_fill(1, ARRAY[cardinality(p_accounts)]), p_accounts, p_units,
                            p_amounts);
END $$;

-- lcb_course_credited (004) looks for a deposit of one course on a learner's
-- chain; by (chain_account_id, chain_seq) that meant reading every record of
-- the chain, once per deposit, so a long-lived learner's postings grew
-- dearer with each one. This index finds the course's deposits directly.
CREATE INDEX transactions_deposited_items ON transactions (chain_account_id, item_code)
    WHERE kind = 'deposit';

-- Why each card of a list cannot be used (lost, replaced, cancelled,
-- unknown), or a NULL code, in the order given: one statement for a batch
-- of balance inquiries (daemon/balances.c) instead of one function call per
-- card. lcb_card_refusal (002) now reads its answer from here, so the two
-- cannot drift apart.
CREATE FUNCTION lcb_card_refusals(p_cards text[])
    RETURNS TABLE (ord bigint, error_code text, error_message text)
LANGUAGE sql STABLE AS $$
    SELECT q.ord,
           CASE WHEN c.number IS NULL THEN 'card_not_found'
                WHEN c.status <> 'active' THEN 'card_' || c.status END,
           CASE WHEN c.number IS NULL THEN 'no card ' || q.card
                WHEN c.status <> 'active' THEN 'card ' || q.card || ' is ' || c.status
                    || CASE WHEN c.replaced_by IS NOT NULL THEN '; use card ' || c.replaced_by
                            ELSE '' END END
    FROM unnest(p_cards) WITH ORDINALITY AS q(card, ord)
    LEFT JOIN cards c ON c.number = q.card
$$;

CREATE OR REPLACE FUNCTION lcb_card_refusal(p_card text) RETURNS lcb_prepared
LANGUAGE sql STABLE AS $$
    SELECT lcb_refusal(r.error_code, r.error_message)
    FROM lcb_card_refusals(ARRAY[p_card]) r
    WHERE r.error_code IS NOT NULL
$$;
