-- bench/tamper.sql: what an attacker with superuser rights could do to a
-- ledger, one change at a time, each undone exactly. Installed by
-- bench/tamper-test into a COPY of a ledger only: never into a real one.
-- tamper.apply(kind, seed) keeps the rows it will touch, changes them past
-- the append-only triggers (session_replication_role = replica) and returns
-- a regular expression of the names verify may give the altered record;
-- tamper.undo() restores the kept rows and says whether the ledger is again
-- bit for bit what it was (tamper.pristine).
DROP SCHEMA IF EXISTS tamper CASCADE;
CREATE SCHEMA tamper;
CREATE TABLE tamper.s_tx (LIKE public.transactions);
CREATE TABLE tamper.s_entries (LIKE public.entries);
CREATE TABLE tamper.s_accounts (LIKE public.accounts);
CREATE TABLE tamper.s_balances (LIKE public.balances);
CREATE TABLE tamper.s_keys (LIKE public.signing_keys);
CREATE TABLE tamper.s_cards (LIKE public.cards);
CREATE TABLE tamper.touched (kind text NOT NULL, id text NOT NULL, UNIQUE (kind, id));
CREATE TABLE tamper.spare_key (pem text NOT NULL); -- another Ed25519 public key
CREATE TABLE tamper.pristine (fp text NOT NULL);
CREATE TYPE tamper.result AS (expect text, what text);

CREATE FUNCTION tamper.fingerprint() RETURNS text LANGUAGE sql AS $$
    SELECT md5(
        (SELECT coalesce(string_agg(t::text, '|' ORDER BY t.id), '') FROM transactions t) ||
        (SELECT coalesce(string_agg(e::text, '|' ORDER BY e.transaction_id, e.position), '')
         FROM entries e) ||
        (SELECT coalesce(string_agg(a::text, '|' ORDER BY a.id), '') FROM accounts a) ||
        (SELECT coalesce(string_agg(b::text, '|' ORDER BY b.account_id, b.unit), '') FROM balances b) ||
        (SELECT coalesce(string_agg(k::text, '|' ORDER BY k.key_id), '') FROM signing_keys k) ||
        (SELECT coalesce(string_agg(c::text, '|' ORDER BY c.number), '') FROM cards c))
$$;

-- ---- keeping and restoring ---------------------------------------------------

CREATE FUNCTION tamper.keep_tx(p uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tamper.touched VALUES ('tx', p::text) ON CONFLICT DO NOTHING;
    IF FOUND THEN
        INSERT INTO tamper.s_tx SELECT * FROM transactions WHERE id = p;
        INSERT INTO tamper.s_entries SELECT * FROM entries WHERE transaction_id = p;
    END IF;
END $$;

CREATE FUNCTION tamper.keep_account(p bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tamper.touched VALUES ('account', p::text) ON CONFLICT DO NOTHING;
    IF FOUND THEN
        INSERT INTO tamper.s_accounts SELECT * FROM accounts WHERE id = p;
        INSERT INTO tamper.s_balances SELECT * FROM balances WHERE account_id = p;
    END IF;
END $$;

CREATE FUNCTION tamper.keep_key(p text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tamper.touched VALUES ('key', p) ON CONFLICT DO NOTHING;
    IF FOUND THEN
        INSERT INTO tamper.s_keys SELECT * FROM signing_keys WHERE key_id = p;
    END IF;
END $$;

CREATE FUNCTION tamper.keep_card(p text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tamper.touched VALUES ('card', p) ON CONFLICT DO NOTHING;
    IF FOUND THEN
        INSERT INTO tamper.s_cards SELECT * FROM cards WHERE number = p;
    END IF;
END $$;

-- Puts every kept row back and removes rows a tamper added; true when the
-- ledger is again exactly the pristine one.
CREATE FUNCTION tamper.undo() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('session_replication_role', 'replica', true);
    DELETE FROM entries WHERE transaction_id::text IN (SELECT id FROM tamper.touched WHERE kind = 'tx');
    DELETE FROM transactions WHERE id::text IN (SELECT id FROM tamper.touched WHERE kind = 'tx');
    DELETE FROM balances WHERE account_id::text IN (SELECT id FROM tamper.touched WHERE kind = 'account');
    DELETE FROM accounts WHERE id::text IN (SELECT id FROM tamper.touched WHERE kind = 'account');
    DELETE FROM signing_keys WHERE key_id IN (SELECT id FROM tamper.touched WHERE kind = 'key');
    DELETE FROM cards WHERE number IN (SELECT id FROM tamper.touched WHERE kind = 'card');
    INSERT INTO cards SELECT * FROM tamper.s_cards;
    INSERT INTO signing_keys SELECT * FROM tamper.s_keys;
    INSERT INTO accounts SELECT * FROM tamper.s_accounts;
    INSERT INTO balances SELECT * FROM tamper.s_balances;
    INSERT INTO transactions SELECT * FROM tamper.s_tx;
    INSERT INTO entries SELECT * FROM tamper.s_entries;
    TRUNCATE tamper.s_tx, tamper.s_entries, tamper.s_accounts, tamper.s_balances, tamper.s_keys,
        tamper.s_cards, tamper.touched;
    RETURN tamper.fingerprint() = (SELECT fp FROM tamper.pristine);
END $$;

-- ---- helpers -------------------------------------------------------------------

CREATE FUNCTION tamper.tx_name(p uuid) RETURNS text LANGUAGE sql AS $$
    SELECT 'transaction ' || p::text
$$;

-- "account 7" must not match "account 71"
CREATE FUNCTION tamper.account_name(p bigint) RETURNS text LANGUAGE sql AS $$
    SELECT 'account ' || p::text || '([^0-9]|$)'
$$;

CREATE FUNCTION tamper.any_tx() RETURNS transactions LANGUAGE sql AS $$
    SELECT * FROM transactions ORDER BY random() LIMIT 1
$$;

CREATE FUNCTION tamper.flip_byte(b bytea) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
    pos int := floor(random() * length(b))::int;
BEGIN
    RETURN set_byte(b, pos, get_byte(b, pos) # (1 + floor(random() * 255))::int);
END $$;

-- A learner account other than p, with a chain.
CREATE FUNCTION tamper.other_learner_account(p bigint) RETURNS bigint LANGUAGE sql AS $$
    SELECT id FROM accounts WHERE learner_id IS NOT NULL AND id <> p AND head_seq > 0
    ORDER BY random() LIMIT 1
$$;

-- Two transactions whose column col differs (a swap must change something).
CREATE FUNCTION tamper.two_differing(col text, OUT a uuid, OUT b uuid) LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('SELECT x.id, y.id FROM (SELECT * FROM transactions ORDER BY random() LIMIT 50) x'
                   ' JOIN transactions y ON y.%1$I IS DISTINCT FROM x.%1$I AND y.id <> x.id'
                   ' ORDER BY random() LIMIT 1', col) INTO a, b;
    PERFORM tamper.keep_tx(a);
    PERFORM tamper.keep_tx(b);
END $$;

CREATE FUNCTION tamper.either(a uuid, b uuid) RETURNS text LANGUAGE sql AS $$
    SELECT tamper.tx_name(a) || '|' || tamper.tx_name(b)
$$;

CREATE FUNCTION tamper.apply(kind text, seed double precision) RETURNS tamper.result
LANGUAGE plpgsql AS $$
DECLARE
    r tamper.result;
BEGIN
    PERFORM setseed(seed);
    PERFORM set_config('session_replication_role', 'replica', true);
    EXECUTE format('SELECT * FROM tamper.%I()', 'k_' || kind) INTO r;
    RETURN r;
END $$;

-- ---- the changes verify must flag ----------------------------------------------
-- Each k_KIND keeps what it touches, changes it, and names what verify may
-- report: the altered transaction, or the account whose chain or balance
-- no longer adds up.

CREATE FUNCTION tamper.k_entry_amount() RETURNS tamper.result LANGUAGE plpgsql AS $$
DECLARE
    e entries;
    d bigint := 1 + floor(random() * 500)::bigint;
BEGIN
    SELECT * INTO e FROM entries ORDER BY random() LIMIT 1;
    PERFORM tamper.keep_tx(e.transaction_id);
    UPDATE entries SET amount = CASE WHEN amount + d = 0 THEN amount + d + 1 ELSE amount + d END
        WHERE transaction_id = e.transaction_id AND position = e.position;
    RETURN (tamper.tx_name(e.transaction_id), 'entry ' || e.position || ' amount + ' || d);
END $$;

-- Still double-entry: both sides grow, so only the hash can tell.
CREATE FUNCTION tamper.k_entry_amounts_balanced() RETURNS tamper.result LANGUAGE plpgsql AS $$
DECLARE
    t transactions := tamper.any_tx();
    d bigint := 1 + floor(random() * 500)::bigint;
BEGIN
    PERFORM tamper.keep_tx(t.id);
    UPDATE entries SET amount = amount + sign(amount)::bigint * d WHERE transaction_id = t.id;
    RETURN (tamper.tx_name(t.id), 'both entries grown by ' || d);
END $$;

CREATE FUNCTION tamper.k_entry_account() RETURNS tamper.result LANGUAGE plpgsql AS $$
DECLARE
    t transactions := tamper.any_tx();
    other bigint := tamper.other_learner_account(t.chain_account_id);
BEGIN
    PERFORM tamper.keep_tx(t.id);
    UPDATE entries SET account_id = other WHERE transaction_id = t.id AND amount > 0;
    RETURN (tamper.tx_name(t.id), 'credit moved to account ' || other);
END $$;

CREATE FUNCTION tamper.k_entry_unit() RETURNS tamper.result LANGUAGE plpgsql AS $$
DECLARE
    t transactions := tamper.any_tx();
BEGIN
    PERFORM tamper.keep_tx(t.id);
    UPDATE entries SET unit = 'academic' WHERE transaction_id = t.id;
    RETURN (tamper.tx_name(t.id), 'unit changed to academic'::text);
END $$;

CREATE FUNCTION tamper.k_entry_delete() RETURNS tamper.result LANGUAGE plpgsql AS $$
DECLARE
    t transactions := tamper.any_tx();
    p smallint := floor(random() * 2)::smallint;
BEGIN
    PERFORM tamper.keep_tx(t.id);
    DELETE FROM entries WHERE transaction_id = t.id AND position = p;
    RETURN (tamper.tx_name(t.id), 'entry ' || p || ' deleted');
END $$;

CREATE FUNCTION tamper.k_entry_add() RETURNS tamper.result LANGUAGE plpgsql AS $$
DECLARE
    t transactions := tamper.any_tx();
    d bigint := 1 + floor(random() * 500)::bigint;
BEGIN
    PERFORM tamper.keep_tx(t.id);
    INSERT INTO entries SELECT t.id, 2, account_id, unit, d FROM entries
        WHERE transaction_id = t.id AND amount > 0;
    INSERT INTO entries SELECT t.id, 3, account_id, unit, -d FROM entries
        WHERE transaction_id = t.id AND position = 0;
    RETURN (tamper.tx_name(t.id), 'a balanced pair of entries added (' || d || ')');
END $$;

CREATE FUNCTION tamper.k_entry_orphan() RETURNS tamper.result LANGUAGE plpgsql AS $$
DECLARE
    u uuid := gen_random_uuid();
    a bigint := tamper.other_learner_account(0);
BEGIN
    PERFORM tamper.keep_tx(u);
    INSERT INTO entries VALUES (u, 0, a, 'vocational', 1 + floor(random() * 500)::bigint);
    RETURN (tamper.tx_name(u), 'an entry of no transaction credits account ' || a);
END $$;

-- One column of one transaction set to a plausible other value.
CREATE FUNCTION tamper.set_column(col text, value_sql text) RETURNS tamper.result
LANGUAGE plpgsql AS $$
DECLARE
    t transactions := tamper.any_tx();
BEGIN
    PERFORM tamper.keep_tx(t.id);
    EXECUTE format('UPDATE transactions SET %I = %s WHERE id = $1', col, value_sql) USING t.id;
    RETURN (tamper.tx_name(t.id), col || ' changed');
END $$;

CREATE FUNCTION tamper.k_tx_created_at() RETURNS tamper.result LANGUAGE sql AS $$
    SELECT tamper.set_column('created_at',
        'created_at - (1 + floor(random() * 1e9)) * interval ''1 microsecond''')
$$;
CREATE FUNCTION tamper.k_tx_completed_on() RETURNS tamper.result LANGUAGE sql AS $$
    SELECT tamper.set_column('completed_on',
        'coalesce(completed_on, date ''2024-01-01'') - (1 + floor(random() * 400))::int')
$$;
CREATE FUNCTION tamper.k_tx_result() RETURNS tamper.result LANGUAGE sql AS $$
    SELECT tamper.set_column('result', 'CASE WHEN result = ''100'' THEN ''99'' ELSE ''100'' END')
$$;
CREATE FUNCTION tamper.k_tx_item_code() RETURNS tamper.result LANGUAGE sql AS $$
    SELECT tamper.set_column('item_code',
        '(SELECT min(code) FROM catalogue c WHERE c.code <> transactions.item_code)')
$$;
CREATE FUNCTION tamper.k_tx_institution() RETURNS tamper.result LANGUAGE sql AS $$
    SELECT tamper.set_column('institution_id',
        '(SELECT min(id) FROM institutions i WHERE i.id <> transactions.institution_id)')
$$;
CREATE FUNCTION tamper.k_tx_idempotency_key() RETURNS tamper.result LANGUAGE sql AS $$
    SELECT tamper.set_column('idempotency_key', 'idempotency_key || ''-x''')
$$;
CREATE FUNCTION tamper.k_tx_kind() RETURNS tamper.result LANGUAGE sql AS $$
    SELECT tamper.set_column('kind', '''conversion''')
$$;
CREATE FUNCTION tamper.k_tx_evidence() RETURNS tamper.result LANGUAGE sql AS $$
    SELECT tamper.set_column('evidence_sha256', 'sha256(random()::text::bytea)')
$$;
CREATE FUNCTION tamper.k_tx_reason() RETURNS tamper.result LANGUAGE sql AS $$
    SELECT tamper.set_column('reason', '''corrected by the registrar''')
$$;
CREATE FUNCTION tamper.k_tx_key_id() RETURNS tamper.result LANGUAGE sql AS $$
    SELECT tamper.set_column('key_id', 'substr(md5(random()::text), 1, 16)')
$$;
CREATE FUNCTION tamper.k_tx_signature_byte() RETURNS tamper.result LANGUAGE sql AS $$
    SELECT tamper.set_column('signature', 'tamper.flip_byte(signature)')
$$;
CREATE FUNCTION tamper.k_tx_hash_byte() RETURNS tamper.result LANGUAGE sql AS $$
    SELECT tamper.set_column('hash', 'tamper.flip_byte(hash)')
$$;
CREATE FUNCTION tamper.k_tx_prev_hash_byte() RETURNS tamper.result LANGUAGE sql AS $$
    SELECT tamper.set_column('prev_hash', 'tamper.flip_byte(prev_hash)')
$$;
-- A record given a later seq of its chain: the walk finds it out of place,
-- or its successor after a gap.
CREATE FUNCTION tamper.k_tx_chain_seq() RETURNS tamper.result LANGUAGE plpgsql AS $$
DECLARE
    t transactions := tamper.any_tx();
BEGIN
    PERFORM tamper.keep_tx(t.id);
    UPDATE transactions SET chain_seq = (SELECT max(chain_seq) + 1 + floor(random() * 3)::bigint
                                         FROM transactions WHERE chain_account_id = t.chain_account_id)
        WHERE id = t.id;
    RETURN (tamper.tx_name(t.id) || '|' || tamper.account_name(t.chain_account_id),
            'seq ' || t.chain_seq || ' moved to the end of its chain');
END $$;

-- Moved to the end of another learner's chain, head and all.
CREATE FUNCTION tamper.k_tx_chain_account() RETURNS tamper.result LANGUAGE plpgsql AS $$
DECLARE
    t transactions := tamper.any_tx();
    other_id bigint := tamper.other_learner_account(t.chain_account_id);
    other accounts;
BEGIN
    SELECT * INTO other FROM accounts WHERE id = other_id;
    PERFORM tamper.keep_tx(t.id);
    PERFORM tamper.keep_account(other.id);
    UPDATE transactions SET chain_account_id = other.id, chain_seq = other.head_seq + 1,
        prev_hash = other.head_hash WHERE id = t.id;
    UPDATE accounts SET head_seq = head_seq + 1, head_hash = t.hash WHERE id = other.id;
    RETURN (tamper.tx_name(t.id) || '|' || tamper.account_name(t.chain_account_id),
            'moved to the chain of account ' || other.id);
END $$;

CREATE FUNCTION tamper.k_tx_delete_middle() RETURNS tamper.result LANGUAGE plpgsql AS $$
DECLARE
    t transactions;
BEGIN
    SELECT x.* INTO t FROM transactions x JOIN accounts a ON a.id = x.chain_account_id
        WHERE x.chain_seq < a.head_seq ORDER BY random() LIMIT 1;
    PERFORM tamper.keep_tx(t.id);
    DELETE FROM entries WHERE transaction_id = t.id;
    DELETE FROM transactions WHERE id = t.id;
    RETURN (tamper.account_name(t.chain_account_id),
            'seq ' || t.chain_seq || ' of account ' || t.chain_account_id || ' deleted');
END $$;

-- The newest k records of a chain deleted, the head left alone.
CREATE FUNCTION tamper.cut_tail(rewind boolean) RETURNS tamper.result LANGUAGE plpgsql AS $$
DECLARE
    a accounts;
    k int;
    last transactions;
BEGIN
    SELECT * INTO a FROM accounts WHERE learner_id IS NOT NULL AND head_seq >= 2
        ORDER BY random() LIMIT 1;
    k := 1 + floor(random() * least(3, a.head_seq - 1))::int;
    PERFORM tamper.keep_account(a.id);
    PERFORM tamper.keep_tx(id) FROM transactions
        WHERE chain_account_id = a.id AND chain_seq > a.head_seq - k;
    IF rewind THEN
        -- the careful attacker: head and both sides' balances follow
        PERFORM tamper.keep_account(e.account_id) FROM entries e JOIN transactions t
            ON t.id = e.transaction_id WHERE t.chain_account_id = a.id AND t.chain_seq > a.head_seq - k;
        UPDATE balances b SET amount = b.amount - s.total FROM (
            SELECT e.account_id, e.unit, sum(e.amount) AS total FROM entries e
            JOIN transactions t ON t.id = e.transaction_id
            WHERE t.chain_account_id = a.id AND t.chain_seq > a.head_seq - k GROUP BY 1, 2) s
            WHERE b.account_id = s.account_id AND b.unit = s.unit;
        SELECT * INTO last FROM transactions WHERE chain_account_id = a.id AND chain_seq = a.head_seq - k;
        UPDATE accounts SET head_seq = last.chain_seq, head_hash = last.hash WHERE id = a.id;
    END IF;
    DELETE FROM entries WHERE transaction_id IN (SELECT id FROM transactions
        WHERE chain_account_id = a.id AND chain_seq > a.head_seq - k);
    DELETE FROM transactions WHERE chain_account_id = a.id AND chain_seq > a.head_seq - k;
    RETURN (tamper.account_name(a.id), 'last ' || k || ' of account ' || a.id || ' cut'
            || CASE WHEN rewind THEN ', head and balances rewound' ELSE '' END);
END $$;

CREATE FUNCTION tamper.k_cut_tail() RETURNS tamper.result LANGUAGE sql AS $$
    SELECT tamper.cut_tail(false)
$$;

CREATE FUNCTION tamper.swap_column(col text) RETURNS tamper.result LANGUAGE plpgsql AS $$
DECLARE
    p record := tamper.two_differing(col);
BEGIN
    EXECUTE format('UPDATE transactions x SET %1$I = y.%1$I FROM tamper.s_tx y'
                   ' WHERE (x.id, y.id) IN (($1, $2), ($2, $1))', col) USING p.a, p.b;
    RETURN (tamper.either(p.a, p.b), col || ' swapped');
END $$;

CREATE FUNCTION tamper.k_swap_results() RETURNS tamper.result LANGUAGE sql AS $$
    SELECT tamper.swap_column('result')
$$;
CREATE FUNCTION tamper.k_swap_signatures() RETURNS tamper.result LANGUAGE sql AS $$
    SELECT tamper.swap_column('signature')
$$;
CREATE FUNCTION tamper.k_swap_created_at() RETURNS tamper.result LANGUAGE sql AS $$
    SELECT tamper.swap_column('created_at')
$$;
CREATE FUNCTION tamper.k_swap_items() RETURNS tamper.result LANGUAGE sql AS $$
    SELECT tamper.swap_column('item_code')
$$;

-- The entries of two transactions of different amounts exchanged.
CREATE FUNCTION tamper.k_swap_amounts() RETURNS tamper.result LANGUAGE plpgsql AS $$
DECLARE
    a uuid;
    b uuid;
BEGIN
    SELECT x.transaction_id, y.transaction_id INTO a, b FROM entries x JOIN entries y
        ON y.position = x.position AND y.amount <> x.amount
        WHERE x.position = 1 ORDER BY random() LIMIT 1;
    PERFORM tamper.keep_tx(a);
    PERFORM tamper.keep_tx(b);
    UPDATE entries x SET amount = y.amount FROM tamper.s_entries y
        WHERE y.position = x.position AND (x.transaction_id, y.transaction_id) IN ((a, b), (b, a));
    RETURN (tamper.either(a, b), 'amounts swapped'::text);
END $$;

-- Two neighbours of a chain swap places (seq and prev_hash).
CREATE FUNCTION tamper.k_swap_chain_order() RETURNS tamper.result LANGUAGE plpgsql AS $$
DECLARE
    x transactions;
    y transactions;
BEGIN
    SELECT * INTO x FROM transactions t WHERE EXISTS (SELECT 1 FROM transactions n
        WHERE n.chain_account_id = t.chain_account_id AND n.chain_seq = t.chain_seq + 1)
        ORDER BY random() LIMIT 1;
    SELECT * INTO y FROM transactions WHERE chain_account_id = x.chain_account_id
        AND chain_seq = x.chain_seq + 1;
    PERFORM tamper.keep_tx(x.id);
    PERFORM tamper.keep_tx(y.id);
    UPDATE transactions SET chain_seq = 999999999999 WHERE id = x.id;
    UPDATE transactions SET chain_seq = x.chain_seq, prev_hash = x.prev_hash WHERE id = y.id;
    UPDATE transactions SET chain_seq = y.chain_seq, prev_hash = y.hash WHERE id = x.id;
    RETURN (tamper.either(x.id, y.id) || '|' || tamper.account_name(x.chain_account_id),
            'seq ' || x.chain_seq || ' and ' || y.chain_seq || ' swapped');
END $$;

-- A copy of a record appended to a chain as a new transaction, head and
-- balances updated to match: only its signature cannot be made. With
-- keep_hash the copy keeps its original's hash as well: a second record
-- with one hash, which no unique index refuses since sql/012; the hash no
-- longer matches the copy's id and position, so verify must name the copy.
CREATE FUNCTION tamper.append_copy(keep_hash boolean) RETURNS tamper.result
LANGUAGE plpgsql AS $$
DECLARE
    t transactions := tamper.any_tx();
    a accounts;
    u uuid := gen_random_uuid();
    h bytea;
BEGIN
    h := CASE WHEN keep_hash THEN t.hash ELSE sha256(u::text::bytea) END;
    SELECT * INTO a FROM accounts WHERE id = t.chain_account_id;
    PERFORM tamper.keep_tx(u);
    PERFORM tamper.keep_account(e.account_id) FROM entries e WHERE e.transaction_id = t.id;
    INSERT INTO transactions SELECT u, t.kind, t.chain_account_id, a.head_seq + 1, a.head_hash,
        t.created_at, t.institution_id, t.idempotency_key || '-again', t.request_digest,
        t.item_code, t.result, t.completed_on, t.evidence_sha256, t.reverses, t.reason, h,
        t.key_id, t.signature;
    INSERT INTO entries SELECT u, position, account_id, unit, amount FROM entries
        WHERE transaction_id = t.id;
    UPDATE balances b SET amount = b.amount + e.amount FROM entries e
        WHERE e.transaction_id = t.id AND b.account_id = e.account_id AND b.unit = e.unit;
    UPDATE accounts SET head_seq = head_seq + 1, head_hash = h WHERE id = a.id;
    RETURN (tamper.tx_name(u), 'a copy of ' || t.id || ' appended as ' || u
                               || CASE WHEN keep_hash THEN ' with its hash' ELSE '' END);
END $$;

CREATE FUNCTION tamper.k_forge_copy() RETURNS tamper.result LANGUAGE sql AS $$
    SELECT tamper.append_copy(false)
$$;

CREATE FUNCTION tamper.k_copy_keeping_hash() RETURNS tamper.result LANGUAGE sql AS $$
    SELECT tamper.append_copy(true)
$$;

CREATE FUNCTION tamper.k_balance_change() RETURNS tamper.result LANGUAGE plpgsql AS $$
DECLARE
    b balances;
BEGIN
    SELECT * INTO b FROM balances ORDER BY random() LIMIT 1;
    PERFORM tamper.keep_account(b.account_id);
    UPDATE balances SET amount = amount + 1 + floor(random() * 1000)::bigint
        WHERE account_id = b.account_id AND unit = b.unit;
    RETURN (tamper.account_name(b.account_id), 'balance of account ' || b.account_id || ' raised');
END $$;

CREATE FUNCTION tamper.k_balance_delete() RETURNS tamper.result LANGUAGE plpgsql AS $$
DECLARE
    b balances;
BEGIN
    SELECT * INTO b FROM balances WHERE amount <> 0 ORDER BY random() LIMIT 1;
    PERFORM tamper.keep_account(b.account_id);
    DELETE FROM balances WHERE account_id = b.account_id AND unit = b.unit;
    RETURN (tamper.account_name(b.account_id), 'balance row of account ' || b.account_id || ' deleted');
END $$;

CREATE FUNCTION tamper.k_balance_insert() RETURNS tamper.result LANGUAGE plpgsql AS $$
DECLARE
    a bigint := tamper.other_learner_account(0);
BEGIN
    PERFORM tamper.keep_account(a);
    INSERT INTO balances VALUES (a, 'academic', 1 + floor(random() * 1000)::bigint);
    RETURN (tamper.account_name(a), 'academic credits given to account ' || a);
END $$;

CREATE FUNCTION tamper.k_head_seq() RETURNS tamper.result LANGUAGE plpgsql AS $$
DECLARE
    a bigint := tamper.other_learner_account(0);
BEGIN
    PERFORM tamper.keep_account(a);
    UPDATE accounts SET head_seq = head_seq + CASE WHEN random() < 0.5 THEN 1 ELSE -1 END
        WHERE id = a;
    RETURN (tamper.account_name(a), 'head seq of account ' || a || ' moved');
END $$;

CREATE FUNCTION tamper.k_head_hash_byte() RETURNS tamper.result LANGUAGE plpgsql AS $$
DECLARE
    a bigint := tamper.other_learner_account(0);
BEGIN
    PERFORM tamper.keep_account(a);
    UPDATE accounts SET head_hash = tamper.flip_byte(head_hash) WHERE id = a;
    RETURN (tamper.account_name(a), 'head hash of account ' || a || ' changed');
END $$;

CREATE FUNCTION tamper.k_key_replace() RETURNS tamper.result LANGUAGE plpgsql AS $$
DECLARE
    k text := (SELECT key_id FROM signing_keys ORDER BY random() LIMIT 1);
BEGIN
    PERFORM tamper.keep_key(k);
    UPDATE signing_keys SET public_key_pem = (SELECT pem FROM tamper.spare_key) WHERE key_id = k;
    RETURN ('signing key ' || k, 'public key ' || k || ' replaced by another');
END $$;

CREATE FUNCTION tamper.k_key_delete() RETURNS tamper.result LANGUAGE plpgsql AS $$
DECLARE
    k text := (SELECT key_id FROM signing_keys ORDER BY random() LIMIT 1);
BEGIN
    PERFORM tamper.keep_key(k);
    DELETE FROM signing_keys WHERE key_id = k;
    RETURN ('transaction [0-9a-f-]{36} .*unknown key ' || k, 'public key ' || k || ' deleted');
END $$;

-- ---- the changes verify cannot see (see docs/reliability.md) ----------------------

CREATE FUNCTION tamper.k_blind_rewind_tail() RETURNS tamper.result LANGUAGE sql AS $$
    SELECT tamper.cut_tail(true)
$$;

CREATE FUNCTION tamper.k_blind_request_digest() RETURNS tamper.result LANGUAGE sql AS $$
    SELECT tamper.set_column('request_digest', 'tamper.flip_byte(request_digest)')
$$;

-- Two learners' accounts swap owners: each now holds the other's history.
CREATE FUNCTION tamper.k_blind_account_owner() RETURNS tamper.result LANGUAGE plpgsql AS $$
DECLARE
    a accounts;
    b accounts;
BEGIN
    SELECT * INTO a FROM accounts WHERE learner_id IS NOT NULL ORDER BY random() LIMIT 1;
    SELECT * INTO b FROM accounts WHERE learner_id IS NOT NULL AND id <> a.id ORDER BY random() LIMIT 1;
    PERFORM tamper.keep_account(a.id);
    PERFORM tamper.keep_account(b.id);
    UPDATE accounts SET learner_id = -a.learner_id WHERE id = a.id;
    UPDATE accounts SET learner_id = a.learner_id WHERE id = b.id;
    UPDATE accounts SET learner_id = b.learner_id WHERE id = a.id;
    RETURN (tamper.account_name(a.id) || '|' || tamper.account_name(b.id),
            'accounts ' || a.id || ' and ' || b.id || ' swapped owners');
END $$;

-- A card moved to another learner: its postings now credit that learner.
CREATE FUNCTION tamper.k_blind_card_owner() RETURNS tamper.result LANGUAGE plpgsql AS $$
DECLARE
    c cards;
    other bigint;
BEGIN
    SELECT * INTO c FROM cards ORDER BY random() LIMIT 1;
    SELECT id INTO other FROM learners WHERE id <> c.learner_id ORDER BY random() LIMIT 1;
    PERFORM tamper.keep_card(c.number);
    UPDATE cards SET learner_id = other WHERE number = c.number;
    RETURN ('card ' || c.number, 'card ' || c.number || ' moved to learner ' || other);
END $$;
