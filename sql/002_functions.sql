-- 002: the database side of the ledger and of administration. Every domain
-- refusal raises SQLSTATE LCB00 with a message "code: text", where code is
-- one of the stable error codes of docs/api.md.

CREATE FUNCTION lcb_fail(code text, message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'LCB00', MESSAGE = code || ': ' || message;
END $$;

CREATE FUNCTION lcb_luhn_digit(digits text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT d::text FROM generate_series(0, 9) AS d WHERE lcb_luhn_ok(digits || d::text) LIMIT 1
$$;

-- Is node within the subtree rooted at root (root included)?
CREATE FUNCTION lcb_in_subtree(root bigint, node bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE up(id, parent_id) AS (
        SELECT id, parent_id FROM institutions WHERE id = node
        UNION ALL
        SELECT i.id, i.parent_id FROM institutions i JOIN up ON i.id = up.parent_id
    )
    SELECT EXISTS (SELECT 1 FROM up WHERE id = root)
$$;

CREATE FUNCTION lcb_add_institution(p_code text, p_name text, p_kind text, p_parent_code text,
                                    p_region text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    parent bigint;
    new_id bigint;
BEGIN
    IF p_parent_code IS NOT NULL THEN
        SELECT id INTO parent FROM institutions WHERE code = p_parent_code;
        IF NOT FOUND THEN
            PERFORM lcb_fail('institution_not_found', 'no institution with code ' || p_parent_code);
        END IF;
    END IF;
    IF EXISTS (SELECT 1 FROM institutions WHERE code = p_code) THEN
        PERFORM lcb_fail('institution_exists', 'an institution with code ' || p_code || ' exists');
    END IF;
    IF (p_kind = 'district_centre') <> (parent IS NULL) THEN
        PERFORM lcb_fail('invalid_parent', 'a district centre has no parent; every other institution has one');
    END IF;
    INSERT INTO institutions (code, name, kind, parent_id, region_code)
        VALUES (p_code, p_name, p_kind, parent, p_region) RETURNING id INTO new_id;
    INSERT INTO accounts (institution_id) VALUES (new_id);
    RETURN new_id;
END $$;

CREATE FUNCTION lcb_add_catalogue_item(p_code text, p_kind text, p_owner_code text, p_title text,
                                       p_unit text, p_credit_value bigint,
                                       p_required_minutes integer, p_level smallint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    owner_id bigint;
    new_id bigint;
BEGIN
    SELECT id INTO owner_id FROM institutions WHERE code = p_owner_code;
    IF NOT FOUND THEN
        PERFORM lcb_fail('institution_not_found', 'no institution with code ' || p_owner_code);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM units WHERE code = p_unit) THEN
        PERFORM lcb_fail('unit_not_found', 'no unit with code ' || p_unit);
    END IF;
    IF EXISTS (SELECT 1 FROM catalogue WHERE code = p_code) THEN
        PERFORM lcb_fail('course_exists', 'a course or certificate with code ' || p_code || ' exists');
    END IF;
    INSERT INTO catalogue (code, kind, institution_id, title, unit, credit_value, required_minutes, level)
        VALUES (p_code, p_kind, owner_id, p_title, p_unit, p_credit_value, p_required_minutes, p_level)
        RETURNING id INTO new_id;
    RETURN new_id;
END $$;

CREATE FUNCTION lcb_add_learner(p_id_hash bytea, p_name text, p_institution_code text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    home bigint;
    new_id bigint;
BEGIN
    SELECT id INTO home FROM institutions WHERE code = p_institution_code;
    IF NOT FOUND THEN
        PERFORM lcb_fail('institution_not_found', 'no institution with code ' || p_institution_code);
    END IF;
    IF EXISTS (SELECT 1 FROM learners WHERE id_hash = p_id_hash) THEN
        PERFORM lcb_fail('learner_exists', 'a learner with this identity document is registered');
    END IF;
    INSERT INTO learners (id_hash, name, institution_id) VALUES (p_id_hash, p_name, home)
        RETURNING id INTO new_id;
    INSERT INTO accounts (learner_id) VALUES (new_id);
    RETURN new_id;
END $$;

CREATE FUNCTION lcb_issue_card(p_learner_id bigint, p_region text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    body text;
    number text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM learners WHERE id = p_learner_id) THEN
        PERFORM lcb_fail('learner_not_found', 'no learner with id ' || p_learner_id);
    END IF;
    IF p_region IS NULL OR p_region !~ '^[1-8][0-9]{5}$' THEN
        PERFORM lcb_fail('invalid_region', 'a region code is 6 digits (GB/T 2260)');
    END IF;
    IF EXISTS (SELECT 1 FROM cards WHERE learner_id = p_learner_id AND status = 'active') THEN
        PERFORM lcb_fail('card_exists', 'the learner already has an active card');
    END IF;
    body := p_region || lpad(nextval('card_serial')::text, 12, '0');
    number := body || lcb_luhn_digit(body);
    INSERT INTO cards (number, learner_id, status) VALUES (number, p_learner_id, 'active');
    RETURN number;
END $$;

-- Locks and returns a card that must exist; raises card_not_found otherwise.
CREATE FUNCTION lcb_card_for_update(p_number text) RETURNS cards
LANGUAGE plpgsql AS $$
DECLARE
    c cards;
BEGIN
    SELECT * INTO c FROM cards WHERE number = p_number FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM lcb_fail('card_not_found', 'no card ' || p_number);
    END IF;
    RETURN c;
END $$;

CREATE FUNCTION lcb_report_card_lost(p_number text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    c cards := lcb_card_for_update(p_number);
BEGIN
    IF c.status <> 'active' THEN
        PERFORM lcb_fail('card_not_active', 'card ' || p_number || ' is ' || c.status);
    END IF;
    UPDATE cards SET status = 'lost', changed_at = now() WHERE number = p_number;
END $$;

CREATE FUNCTION lcb_cancel_card(p_number text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    c cards := lcb_card_for_update(p_number);
BEGIN
    IF c.status IN ('cancelled', 'replaced') THEN
        PERFORM lcb_fail('card_not_active', 'card ' || p_number || ' is ' || c.status);
    END IF;
    UPDATE cards SET status = 'cancelled', changed_at = now() WHERE number = p_number;
END $$;

-- A replacement is a new card on the same learner, so the same account.
CREATE FUNCTION lcb_replace_card(p_number text, p_region text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    c cards := lcb_card_for_update(p_number);
    fresh text;
BEGIN
    IF c.status NOT IN ('active', 'lost') THEN
        PERFORM lcb_fail('card_not_active', 'card ' || p_number || ' is ' || c.status);
    END IF;
    UPDATE cards SET status = 'replaced', changed_at = now() WHERE number = p_number;
    fresh := lcb_issue_card(c.learner_id, coalesce(p_region, substr(p_number, 1, 6)));
    UPDATE cards SET replaced_by = fresh WHERE number = p_number;
    RETURN fresh;
END $$;

-- What every lcb_prepare_* function answers: a refusal (error_code), the
-- original of a replay (duplicate_*), or a transaction for lcbd to sign and
-- append with lcb_append(): the chain it extends (locked until the
-- transaction ends) and its fields and entries. Refusals are rows, not
-- exceptions, so one bad posting does not abort the others of a group commit.
CREATE TYPE lcb_prepared AS (
    error_code      text,
    error_message   text,
    duplicate_id    uuid,
    duplicate_hash  bytea,
    chain_account   bigint,
    head_seq        bigint,
    head_hash       bytea,
    kind            text,
    item_code       text,
    result          text,
    completed_on    date,
    evidence_sha256 bytea,
    reverses        uuid,
    reason          text,
    accounts        bigint[],
    units           text[],
    amounts         bigint[]
);

CREATE FUNCTION lcb_refusal(code text, message text) RETURNS lcb_prepared
LANGUAGE sql IMMUTABLE AS $$
    SELECT ROW(code, message, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               NULL, NULL, NULL, NULL)::lcb_prepared
$$;

-- Exactly once: the earlier answer for this poster's key, a refusal when the
-- key was used for other content, or NULL when the key is new.
CREATE FUNCTION lcb_replay(p_institution_id bigint, p_key text, p_digest bytea) RETURNS lcb_prepared
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t transactions;
    answer lcb_prepared;
BEGIN
    SELECT * INTO t FROM transactions WHERE institution_id = p_institution_id AND idempotency_key = p_key;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF t.request_digest <> p_digest THEN
        RETURN lcb_refusal('idempotency_conflict',
                           'idempotency key ' || p_key || ' was used for a different posting');
    END IF;
    answer.duplicate_id := t.id;
    answer.duplicate_hash := t.hash;
    RETURN answer;
END $$;

-- A fresh answer extending the learner's chain; the account row is locked,
-- so its chain head cannot move until this transaction ends.
CREATE FUNCTION lcb_lock_chain(p_learner_id bigint) RETURNS lcb_prepared
LANGUAGE plpgsql AS $$
DECLARE
    answer lcb_prepared;
BEGIN
    SELECT a.id, a.head_seq, a.head_hash INTO answer.chain_account, answer.head_seq, answer.head_hash
        FROM accounts a WHERE a.learner_id = p_learner_id FOR UPDATE;
    RETURN answer;
END $$;

-- lcb_lock_chain for a posting with an idempotency key: once the chain is
-- locked, a copy of this posting that committed while we waited for the
-- lock is visible (each statement takes a new snapshot), and its original
-- is the answer: a concurrent replay gets "duplicate", never a refusal that
-- the first copy's effect would cause.
CREATE FUNCTION lcb_lock_chain_for(p_learner_id bigint, p_institution_id bigint, p_key text,
                                   p_digest bytea) RETURNS lcb_prepared
LANGUAGE plpgsql AS $$
DECLARE
    answer lcb_prepared := lcb_lock_chain(p_learner_id);
    replay lcb_prepared := lcb_replay(p_institution_id, p_key, p_digest);
BEGIN
    IF NOT (replay IS NULL) THEN
        RETURN replay;
    END IF;
    RETURN answer;
END $$;

-- A prepare function's early exit after lcb_lock_chain_for: a replay.
CREATE FUNCTION lcb_is_final(answer lcb_prepared) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT answer.error_code IS NOT NULL OR answer.duplicate_id IS NOT NULL
$$;

-- Why a card cannot be used (lost, replaced, cancelled, unknown), or NULL.
CREATE FUNCTION lcb_card_refusal(p_card text) RETURNS lcb_prepared
LANGUAGE plpgsql STABLE AS $$
DECLARE
    c cards;
BEGIN
    SELECT * INTO c FROM cards WHERE number = p_card;
    IF NOT FOUND THEN
        RETURN lcb_refusal('card_not_found', 'no card ' || p_card);
    ELSIF c.status <> 'active' THEN
        RETURN lcb_refusal('card_' || c.status, 'card ' || p_card || ' is ' || c.status
            || CASE WHEN c.replaced_by IS NOT NULL THEN '; use card ' || c.replaced_by ELSE '' END);
    END IF;
    RETURN NULL;
END $$;

-- lcb_prepare_deposit, the first posting kind, is defined in 004 with the
-- certificate recognition rules it consults.

-- Second half: appends one signed transaction. The chain head must still be
-- where the caller read it; several lcbd processes may share the database.
CREATE FUNCTION lcb_append(p_id uuid, p_kind text, p_chain_account bigint, p_seq bigint,
                           p_prev bytea, p_created_us bigint, p_institution bigint, p_key text,
                           p_digest bytea, p_item_code text, p_result text, p_completed_on date,
                           p_evidence bytea, p_reverses uuid, p_reason text, p_hash bytea,
                           p_key_id text, p_signature bytea, p_accounts bigint[],
                           p_units text[], p_amounts bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE accounts SET head_seq = p_seq, head_hash = p_hash
        WHERE id = p_chain_account AND head_seq = p_seq - 1 AND head_hash = p_prev;
    IF NOT FOUND THEN
        PERFORM lcb_fail('chain_moved', 'account ' || p_chain_account || ' chain head moved');
    END IF;
    INSERT INTO transactions (id, kind, chain_account_id, chain_seq, prev_hash, created_at,
                              institution_id, idempotency_key, request_digest, item_code, result,
                              completed_on, evidence_sha256, reverses, reason, hash, key_id,
                              signature)
        VALUES (p_id, p_kind, p_chain_account, p_seq, p_prev,
                'epoch'::timestamptz + p_created_us * interval '1 microsecond',
                p_institution, p_key, p_digest, p_item_code, p_result, p_completed_on,
                p_evidence, p_reverses, p_reason, p_hash, p_key_id, p_signature);
    INSERT INTO entries (transaction_id, position, account_id, unit, amount)
        SELECT p_id, (e.ord - 1)::smallint, e.account_id, e.unit, e.amount
        FROM unnest(p_accounts, p_units, p_amounts) WITH ORDINALITY AS e(account_id, unit, amount, ord);
    -- Stored balances are the learners' only: an institution's account is
    -- the other side of every posting it makes, and a row updated by every
    -- one of them would serialise (and deadlock) concurrent group commits.
    -- Institutions' totals are summed from their entries when asked.
    INSERT INTO balances (account_id, unit, amount)
        SELECT e.account_id, e.unit, sum(e.amount)
        FROM unnest(p_accounts, p_units, p_amounts) AS e(account_id, unit, amount)
        JOIN accounts a ON a.id = e.account_id AND a.learner_id IS NOT NULL
        GROUP BY e.account_id, e.unit
        ORDER BY e.account_id, e.unit
    ON CONFLICT (account_id, unit) DO UPDATE SET amount = balances.amount + EXCLUDED.amount;
END $$;
