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

-- First half of a deposit: settles idempotency, resolves the learner and the
-- catalogue item, checks the poster owns it, and locks the learner's account
-- so its chain head cannot move until this transaction ends. Refusals come
-- back as error_code/error_message (not exceptions) so that one bad item in
-- a group commit does not abort the others.
CREATE FUNCTION lcb_prepare_deposit(p_institution_id bigint, p_key text, p_digest bytea,
                                    p_card text, p_learner_id bigint, p_item_code text,
                                    p_item_kind text,
                                    OUT error_code text, OUT error_message text,
                                    OUT duplicate_id uuid, OUT duplicate_hash bytea,
                                    OUT learner_id bigint, OUT learner_account bigint,
                                    OUT head_seq bigint, OUT head_hash bytea,
                                    OUT institution_account bigint, OUT unit text,
                                    OUT credit_value bigint)
LANGUAGE plpgsql AS $$
DECLARE
    t transactions;
    c cards;
    item catalogue;
BEGIN
    SELECT * INTO t FROM transactions WHERE institution_id = p_institution_id AND idempotency_key = p_key;
    IF FOUND THEN
        IF t.request_digest = p_digest THEN
            duplicate_id := t.id;
            duplicate_hash := t.hash;
        ELSE
            error_code := 'idempotency_conflict';
            error_message := 'idempotency key ' || p_key || ' was used for a different outcome';
        END IF;
        RETURN;
    END IF;
    IF p_card IS NOT NULL THEN
        SELECT * INTO c FROM cards WHERE number = p_card;
        IF NOT FOUND THEN
            error_code := 'card_not_found'; error_message := 'no card ' || p_card; RETURN;
        END IF;
        IF c.status <> 'active' THEN
            error_code := 'card_' || c.status;
            error_message := 'card ' || p_card || ' is ' || c.status
                || CASE WHEN c.replaced_by IS NOT NULL THEN '; use card ' || c.replaced_by ELSE '' END;
            RETURN;
        END IF;
        learner_id := c.learner_id;
    ELSE
        SELECT l.id INTO learner_id FROM learners l WHERE l.id = p_learner_id;
        IF NOT FOUND THEN
            error_code := 'learner_not_found'; error_message := 'no learner ' || p_learner_id; RETURN;
        END IF;
    END IF;
    SELECT * INTO item FROM catalogue WHERE code = p_item_code;
    IF NOT FOUND OR item.kind <> p_item_kind THEN
        error_code := p_item_kind || '_not_found';
        error_message := 'no ' || p_item_kind || ' with code ' || p_item_code;
        RETURN;
    END IF;
    IF item.institution_id <> p_institution_id THEN
        error_code := p_item_kind || '_not_owned';
        error_message := p_item_kind || ' ' || p_item_code || ' belongs to another institution';
        RETURN;
    END IF;
    SELECT a.id, a.head_seq, a.head_hash INTO learner_account, head_seq, head_hash
        FROM accounts a WHERE a.learner_id = lcb_prepare_deposit.learner_id FOR UPDATE;
    SELECT a.id INTO institution_account FROM accounts a WHERE a.institution_id = p_institution_id;
    unit := item.unit;
    credit_value := item.credit_value;
END $$;

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
    INSERT INTO balances (account_id, unit, amount)
        SELECT e.account_id, e.unit, sum(e.amount)
        FROM unnest(p_accounts, p_units, p_amounts) AS e(account_id, unit, amount)
        GROUP BY e.account_id, e.unit
        ORDER BY e.account_id, e.unit
    ON CONFLICT (account_id, unit) DO UPDATE SET amount = balances.amount + EXCLUDED.amount;
END $$;
