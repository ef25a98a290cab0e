-- 004: accumulation and conversion. Unit validity, certificate recognition
-- rules, versioned conversion rules, the conversions themselves with the
-- deposit "lots" they consumed, reversals, availability and transcripts.
-- Rules, conversions and consumption are append-only like the ledger: a new
-- rule version never changes what an older one did.

-- NULL: credits of the unit never expire. Otherwise a deposit stops counting
-- toward conversions valid_months after its outcome's completed_on.
ALTER TABLE units ADD COLUMN valid_months integer CHECK (valid_months BETWEEN 1 AND 1200);

-- A certificate's credit value by result level ("junior", "intermediate",
-- "senior" of a 1+X certificate); the catalogue's credit_value applies to
-- results without a rule. The unit is the certificate's.
CREATE TABLE recognition_rules (
    id             bigserial PRIMARY KEY,
    certificate_id bigint NOT NULL REFERENCES catalogue (id),
    result         text NOT NULL CHECK (length(result) BETWEEN 1 AND 64),
    version        integer NOT NULL CHECK (version >= 1),
    credit_value   bigint NOT NULL CHECK (credit_value BETWEEN 1 AND 100000),
    valid_from     date NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (certificate_id, result, version)
);

CREATE TABLE conversion_rules (
    id                       bigserial PRIMARY KEY,
    code                     text NOT NULL CHECK (code ~ '^[A-Za-z0-9_.-]{1,32}$'),
    version                  integer NOT NULL CHECK (version >= 1),
    target_unit              text NOT NULL REFERENCES units (code),
    programme_institution_id bigint NOT NULL REFERENCES institutions (id),
    programme_code           text NOT NULL CHECK (programme_code ~ '^[A-Za-z0-9_.-]{1,32}$'),
    -- target = floor(source * numerator / denominator), in smallest steps
    ratio_numerator          bigint NOT NULL CHECK (ratio_numerator BETWEEN 1 AND 1000000),
    ratio_denominator        bigint NOT NULL CHECK (ratio_denominator BETWEEN 1 AND 1000000),
    rounding                 text NOT NULL DEFAULT 'floor' CHECK (rounding = 'floor'),
    -- the target is granted in whole multiples of this (100: whole credits)
    target_step              bigint NOT NULL DEFAULT 1 CHECK (target_step BETWEEN 1 AND 100000),
    min_level                smallint NOT NULL DEFAULT 1 CHECK (min_level BETWEEN 1 AND 10),
    -- per learner and programme, in target units, over every rule and version
    cap                      bigint CHECK (cap BETWEEN 1 AND 100000000),
    -- source credits count only while completed_on + validity_months > today
    validity_months          integer CHECK (validity_months BETWEEN 1 AND 1200),
    valid_from               date NOT NULL,
    created_at               timestamptz NOT NULL DEFAULT now(),
    UNIQUE (code, version)
);

CREATE TABLE conversion_rule_sources (
    rule_id bigint NOT NULL REFERENCES conversion_rules (id),
    unit    text NOT NULL REFERENCES units (code),
    PRIMARY KEY (rule_id, unit)
);

-- One row per conversion transaction, written by lcb_record_conversion()
-- in the same database transaction as the ledger row.
CREATE TABLE conversions (
    transaction_id           uuid PRIMARY KEY REFERENCES transactions (id),
    rule_id                  bigint NOT NULL REFERENCES conversion_rules (id),
    learner_id               bigint NOT NULL REFERENCES learners (id),
    programme_institution_id bigint NOT NULL REFERENCES institutions (id),
    programme_code           text NOT NULL,
    target_unit              text NOT NULL REFERENCES units (code),
    granted                  bigint NOT NULL CHECK (granted > 0)
);
CREATE INDEX conversions_learner ON conversions (learner_id, programme_institution_id, programme_code);

-- Which deposit lot a conversion consumed, and how much of it.
CREATE TABLE conversion_consumption (
    conversion_tx uuid NOT NULL REFERENCES conversions (transaction_id),
    source_tx     uuid NOT NULL REFERENCES transactions (id),
    unit          text NOT NULL REFERENCES units (code),
    amount        bigint NOT NULL CHECK (amount > 0),
    PRIMARY KEY (conversion_tx, source_tx, unit)
);
CREATE INDEX conversion_consumption_source ON conversion_consumption (source_tx, unit);

-- A transaction is compensated at most once (second line of defence behind
-- lcb_prepare_reversal's already_reversed).
CREATE UNIQUE INDEX transactions_reversed_once ON transactions (reverses) WHERE reverses IS NOT NULL;

CREATE TRIGGER recognition_rules_append_only BEFORE UPDATE OR DELETE ON recognition_rules
    FOR EACH ROW EXECUTE FUNCTION lcb_refuse_change();
CREATE TRIGGER conversion_rules_append_only BEFORE UPDATE OR DELETE ON conversion_rules
    FOR EACH ROW EXECUTE FUNCTION lcb_refuse_change();
CREATE TRIGGER conversion_rule_sources_append_only BEFORE UPDATE OR DELETE ON conversion_rule_sources
    FOR EACH ROW EXECUTE FUNCTION lcb_refuse_change();
CREATE TRIGGER conversions_append_only BEFORE UPDATE OR DELETE ON conversions
    FOR EACH ROW EXECUTE FUNCTION lcb_refuse_change();
CREATE TRIGGER conversion_consumption_append_only BEFORE UPDATE OR DELETE ON conversion_consumption
    FOR EACH ROW EXECUTE FUNCTION lcb_refuse_change();
CREATE TRIGGER conversions_no_truncate BEFORE TRUNCATE ON conversions
    FOR EACH STATEMENT EXECUTE FUNCTION lcb_refuse_change();
CREATE TRIGGER conversion_consumption_no_truncate BEFORE TRUNCATE ON conversion_consumption
    FOR EACH STATEMENT EXECUTE FUNCTION lcb_refuse_change();

-- ---- registers ---------------------------------------------------------------

CREATE FUNCTION lcb_add_unit(p_code text, p_name text, p_scale integer, p_valid_months integer)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM units WHERE code = p_code) THEN
        PERFORM lcb_fail('unit_exists', 'a unit with code ' || p_code || ' exists');
    END IF;
    INSERT INTO units (code, name, scale, valid_months) VALUES (p_code, p_name, p_scale, p_valid_months);
    RETURN p_code;
END $$;

-- Changes what counts from now on; the ledger itself is untouched.
CREATE FUNCTION lcb_set_unit_validity(p_code text, p_valid_months integer) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE units SET valid_months = p_valid_months WHERE code = p_code;
    IF NOT FOUND THEN
        PERFORM lcb_fail('unit_not_found', 'no unit with code ' || p_code);
    END IF;
    RETURN coalesce(p_valid_months::text, 'forever');
END $$;

-- Adds the next version of a certificate's rule for one result level.
CREATE FUNCTION lcb_add_recognition_rule(p_certificate text, p_result text, p_credit_value bigint,
                                         p_valid_from date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    item catalogue;
    next_version integer;
BEGIN
    SELECT * INTO item FROM catalogue WHERE code = p_certificate;
    IF NOT FOUND OR item.kind <> 'certificate' THEN
        PERFORM lcb_fail('certificate_not_found', 'no certificate with code ' || p_certificate);
    END IF;
    SELECT coalesce(max(version), 0) + 1 INTO next_version FROM recognition_rules
        WHERE certificate_id = item.id AND result = p_result;
    INSERT INTO recognition_rules (certificate_id, result, version, credit_value, valid_from)
        VALUES (item.id, p_result, next_version, p_credit_value, coalesce(p_valid_from, current_date));
    RETURN next_version;
END $$;

-- Adds the next version of a conversion rule; returns the version.
CREATE FUNCTION lcb_add_conversion_rule(p_code text, p_sources text[], p_target text,
                                        p_programme_institution text, p_programme text,
                                        p_numerator bigint, p_denominator bigint,
                                        p_target_step bigint, p_min_level smallint, p_cap bigint,
                                        p_validity_months integer, p_valid_from date)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    owner bigint;
    next_version integer;
    new_id bigint;
    missing text;
BEGIN
    SELECT id INTO owner FROM institutions WHERE code = p_programme_institution;
    IF NOT FOUND THEN
        PERFORM lcb_fail('institution_not_found', 'no institution with code ' || p_programme_institution);
    END IF;
    SELECT s INTO missing FROM unnest(p_sources || p_target) s
        WHERE NOT EXISTS (SELECT 1 FROM units WHERE code = s) LIMIT 1;
    IF missing IS NOT NULL THEN
        PERFORM lcb_fail('unit_not_found', 'no unit with code ' || missing);
    END IF;
    IF cardinality(p_sources) NOT BETWEEN 1 AND 7 OR p_target = ANY (p_sources) THEN
        PERFORM lcb_fail('invalid_rule', 'a rule has 1 to 7 source units, none of them its target unit');
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('lcb_conversion_rule:' || p_code));
    SELECT coalesce(max(version), 0) + 1 INTO next_version FROM conversion_rules WHERE code = p_code;
    INSERT INTO conversion_rules (code, version, target_unit, programme_institution_id,
                                  programme_code, ratio_numerator, ratio_denominator, target_step,
                                  min_level, cap, validity_months, valid_from)
        VALUES (p_code, next_version, p_target, owner, p_programme, p_numerator, p_denominator,
                coalesce(p_target_step, 1), coalesce(p_min_level, 1), p_cap, p_validity_months, coalesce(p_valid_from, current_date))
        RETURNING id INTO new_id;
    INSERT INTO conversion_rule_sources (rule_id, unit) SELECT DISTINCT new_id, s FROM unnest(p_sources) s;
    RETURN next_version;
END $$;

-- ---- lots, expiry and availability -----------------------------------------

-- Whether credits dated `dated` still count on `today` under a validity of
-- `months` (NULL: forever).
CREATE FUNCTION lcb_within(dated date, months integer, today date) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT months IS NULL OR (dated + make_interval(months => months))::date > today
$$;

-- A learner's deposit lots: what each deposit credited, per unit, less what
-- conversions that were not reversed consumed of it; a reversed deposit has
-- nothing left. Dated by the outcome's completed_on.
CREATE FUNCTION lcb_lots(p_learner bigint)
RETURNS TABLE (source_tx uuid, unit text, credited bigint, remaining bigint, dated date,
               level smallint, seq bigint)
LANGUAGE sql STABLE AS $$
    SELECT t.id, e.unit, e.amount,
           CASE WHEN EXISTS (SELECT 1 FROM transactions r WHERE r.reverses = t.id) THEN 0
                ELSE e.amount - coalesce((SELECT sum(c.amount) FROM conversion_consumption c
                                          WHERE c.source_tx = t.id AND c.unit = e.unit
                                            AND NOT EXISTS (SELECT 1 FROM transactions r
                                                            WHERE r.reverses = c.conversion_tx)),
                                         0)::bigint
           END,
           coalesce(t.completed_on, (t.created_at AT TIME ZONE 'UTC')::date),
           cat.level, t.chain_seq
    FROM accounts a
    JOIN transactions t ON t.chain_account_id = a.id AND t.kind = 'deposit'
    JOIN entries e ON e.transaction_id = t.id AND e.account_id = a.id AND e.amount > 0
    LEFT JOIN catalogue cat ON cat.code = t.item_code
    WHERE a.learner_id = p_learner
$$;

-- {unit: {"available": n, "expired": n}} for every unit the learner holds:
-- expired is what is left of deposits past their unit's validity; the rest
-- of the balance (including credits granted by conversions) is available.
CREATE FUNCTION lcb_availability(p_learner bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    WITH expired AS (
        SELECT l.unit, sum(l.remaining)::bigint AS amount
        FROM lcb_lots(p_learner) l JOIN units u ON u.code = l.unit
        WHERE l.remaining > 0 AND NOT lcb_within(l.dated, u.valid_months, current_date)
        GROUP BY l.unit
    )
    SELECT coalesce(jsonb_object_agg(b.unit, jsonb_build_object(
               'available', b.amount - coalesce(x.amount, 0), 'expired', coalesce(x.amount, 0))),
           '{}')
    FROM balances b JOIN accounts a ON a.id = b.account_id
    LEFT JOIN expired x ON x.unit = b.unit
    WHERE a.learner_id = p_learner
$$;

-- ---- deposits with recognition rules ---------------------------------------

-- Whether the learner's chain holds a deposit of this course's credits that
-- was not reversed: from an outcome the centre posted, or from attendance.
-- A course's credits count once per learner.
CREATE FUNCTION lcb_course_credited(p_chain_account bigint, p_course text, p_unit text)
    RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM transactions t JOIN entries e ON e.transaction_id = t.id
        WHERE t.chain_account_id = p_chain_account AND t.kind = 'deposit'
          AND t.item_code = p_course AND e.account_id = p_chain_account AND e.unit = p_unit
          AND e.amount > 0
          AND NOT EXISTS (SELECT 1 FROM transactions r WHERE r.reverses = t.id))
$$;

-- A deposit: an institution certifies an outcome of its own catalogue for a
-- learner (by card or id); the credits move from its account to the
-- learner's. A course deposits its catalogue value, once per learner; a
-- certificate whose result level has a recognition rule in force deposits
-- the rule's value, and the transaction's reason names the rule
-- ("recognition:CODE/RESULT@VERSION").
CREATE FUNCTION lcb_prepare_deposit(p_institution_id bigint, p_key text, p_digest bytea,
                                               p_card text, p_learner_id bigint, p_item_code text,
                                               p_item_kind text, p_result text, p_completed_on date,
                                               p_evidence bytea) RETURNS lcb_prepared
LANGUAGE plpgsql AS $$
DECLARE
    answer lcb_prepared := lcb_replay(p_institution_id, p_key, p_digest);
    learner bigint := p_learner_id;
    refusal lcb_prepared;
    item catalogue;
    rule recognition_rules;
    issuer bigint;
    amount bigint;
BEGIN
    IF NOT (answer IS NULL) THEN
        RETURN answer;
    END IF;
    IF p_card IS NOT NULL THEN
        refusal := lcb_card_refusal(p_card);
        IF NOT (refusal IS NULL) THEN
            RETURN refusal;
        END IF;
        SELECT learner_id INTO learner FROM cards WHERE number = p_card;
    ELSIF NOT EXISTS (SELECT 1 FROM learners WHERE id = learner) THEN
        RETURN lcb_refusal('learner_not_found', 'no learner ' || p_learner_id);
    END IF;
    SELECT * INTO item FROM catalogue WHERE code = p_item_code;
    IF NOT FOUND OR item.kind <> p_item_kind THEN
        RETURN lcb_refusal(p_item_kind || '_not_found', 'no ' || p_item_kind || ' with code ' || p_item_code);
    END IF;
    IF item.institution_id <> p_institution_id THEN
        RETURN lcb_refusal(p_item_kind || '_not_owned',
                           p_item_kind || ' ' || p_item_code || ' belongs to another institution');
    END IF;
    answer := lcb_lock_chain_for(learner, p_institution_id, p_key, p_digest);
    IF lcb_is_final(answer) THEN
        RETURN answer;
    END IF;
    IF item.kind = 'course' AND lcb_course_credited(answer.chain_account, item.code, item.unit) THEN
        RETURN lcb_refusal('course_already_credited',
                           'the credits of course ' || item.code || ' were deposited for this learner already');
    END IF;
    answer.reason := '';
    amount := item.credit_value;
    IF item.kind = 'certificate' THEN
        SELECT * INTO rule FROM recognition_rules r
            WHERE r.certificate_id = item.id AND r.result = p_result AND r.valid_from <= current_date
            ORDER BY r.version DESC LIMIT 1;
        IF FOUND THEN
            amount := rule.credit_value;
            answer.reason := 'recognition:' || item.code || '/' || rule.result || '@' || rule.version;
        END IF;
    END IF;
    SELECT a.id INTO issuer FROM accounts a WHERE a.institution_id = p_institution_id;
    answer.kind := 'deposit';
    answer.item_code := p_item_code;
    answer.result := p_result;
    answer.completed_on := p_completed_on;
    answer.evidence_sha256 := p_evidence;
    answer.accounts := ARRAY[issuer, answer.chain_account];
    answer.units := ARRAY[item.unit, item.unit];
    answer.amounts := ARRAY[-amount, amount];
    RETURN answer;
END $$;

-- ---- conversions -------------------------------------------------------------

-- The rule version in force on p_today: the highest version whose valid_from
-- has come. A row of NULLs when there is none.
CREATE FUNCTION lcb_rule_in_force(p_code text, p_today date) RETURNS conversion_rules
LANGUAGE sql STABLE AS $$
    SELECT * FROM conversion_rules WHERE code = p_code AND valid_from <= p_today
    ORDER BY version DESC LIMIT 1
$$;

-- Who may convert what: the learner exists and is in the caller's subtree,
-- the rule is in force and (when named) is for that programme. Returns a
-- refusal, or NULL with *rule_id set.
CREATE FUNCTION lcb_conversion_check(p_caller bigint, p_learner bigint, p_rule text,
                                     p_programme text, OUT refusal lcb_prepared, OUT rule_id bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    home bigint;
    rule conversion_rules;
BEGIN
    SELECT institution_id INTO home FROM learners WHERE id = p_learner;
    IF NOT FOUND THEN
        refusal := lcb_refusal('learner_not_found', 'no learner ' || p_learner);
        RETURN;
    END IF;
    IF NOT lcb_in_subtree(p_caller, home) THEN
        refusal := lcb_refusal('outside_subtree', 'learner ' || p_learner
                               || ' is outside your institution''s subtree');
        RETURN;
    END IF;
    rule := lcb_rule_in_force(p_rule, current_date);
    IF rule.id IS NULL THEN
        IF EXISTS (SELECT 1 FROM conversion_rules WHERE code = p_rule) THEN
            refusal := lcb_refusal('rule_not_in_force', 'no version of rule ' || p_rule
                                   || ' is in force yet');
        ELSE
            refusal := lcb_refusal('rule_not_found', 'no conversion rule ' || p_rule);
        END IF;
        RETURN;
    END IF;
    IF p_programme IS NOT NULL AND p_programme <> rule.programme_code THEN
        refusal := lcb_refusal('programme_mismatch', 'rule ' || p_rule || ' converts for programme '
                               || rule.programme_code || ', not ' || p_programme);
        RETURN;
    END IF;
    rule_id := rule.id;
END $$;

-- The learner's lots with something left in a source unit of the rule, and
-- whether each passes the rule's minimum level and validity windows.
CREATE FUNCTION lcb_candidate_lots(p_learner bigint, p_rule_id bigint)
RETURNS TABLE (source_tx uuid, unit text, remaining bigint, dated date, seq bigint,
               level_ok boolean, in_window boolean)
LANGUAGE sql STABLE AS $$
    SELECT l.source_tx, l.unit, l.remaining, l.dated, l.seq,
           coalesce(l.level, 0) >= r.min_level,
           lcb_within(l.dated, r.validity_months, current_date)
           AND lcb_within(l.dated, u.valid_months, current_date)
    FROM conversion_rules r
    JOIN conversion_rule_sources s ON s.rule_id = r.id
    JOIN units u ON u.code = s.unit
    JOIN lcb_lots(p_learner) l ON l.unit = s.unit
    WHERE r.id = p_rule_id AND l.remaining > 0
$$;

CREATE TYPE lcb_conversion_plan AS (
    error_code    text,
    error_message text,
    eligible      bigint, -- source credits the rule may use
    already       bigint, -- granted before for this programme and learner
    granted       bigint, -- target credits
    consumed      bigint, -- source credits taken, oldest lots first
    lots          jsonb   -- [{"source_tx", "unit", "amount", "completed_on"}]
);

-- What converting under rule p_rule_id would take and give, or why not.
-- Reads consumption as committed (plus this transaction's own), so the
-- caller holds the learner's chain lock when the plan is to be executed.
CREATE FUNCTION lcb_plan_conversion(p_learner bigint, p_rule_id bigint) RETURNS lcb_conversion_plan
LANGUAGE plpgsql AS $$
DECLARE
    rule conversion_rules;
    plan lcb_conversion_plan;
    by_level bigint;
    by_window bigint;
    need bigint;
    lot record;
BEGIN
    SELECT * INTO rule FROM conversion_rules WHERE id = p_rule_id;
    SELECT coalesce(sum(c.granted), 0)::bigint INTO plan.already FROM conversions c
        WHERE c.learner_id = p_learner AND c.programme_institution_id = rule.programme_institution_id
          AND c.programme_code = rule.programme_code AND c.target_unit = rule.target_unit
          AND NOT EXISTS (SELECT 1 FROM transactions r WHERE r.reverses = c.transaction_id);
    IF rule.cap IS NOT NULL AND plan.already >= rule.cap THEN
        plan.error_code := 'cap_reached';
        plan.error_message := 'the learner already has ' || plan.already || ' of the cap of '
                              || rule.cap || ' for programme ' || rule.programme_code;
        RETURN plan;
    END IF;
    SELECT coalesce(sum(remaining) FILTER (WHERE level_ok AND in_window), 0)::bigint,
           coalesce(sum(remaining) FILTER (WHERE NOT level_ok), 0)::bigint,
           coalesce(sum(remaining) FILTER (WHERE level_ok AND NOT in_window), 0)::bigint
        INTO plan.eligible, by_level, by_window FROM lcb_candidate_lots(p_learner, rule.id);
    -- floor, then down to whole target steps, then down to what the cap leaves
    plan.granted := plan.eligible * rule.ratio_numerator / rule.ratio_denominator
                    / rule.target_step * rule.target_step;
    IF rule.cap IS NOT NULL AND plan.granted > rule.cap - plan.already THEN
        plan.granted := (rule.cap - plan.already) / rule.target_step * rule.target_step;
        IF plan.granted = 0 THEN
            plan.error_code := 'cap_reached';
            plan.error_message := 'the cap of ' || rule.cap || ' for programme ' || rule.programme_code
                                  || ' leaves less than one step of ' || rule.target_step;
            RETURN plan;
        END IF;
    END IF;
    IF plan.granted = 0 THEN
        plan.error_code := CASE WHEN plan.eligible = 0 AND by_level > 0 THEN 'below_minimum_level'
                                WHEN plan.eligible = 0 AND by_window > 0 THEN 'credits_expired'
                                ELSE 'nothing_to_convert' END;
        plan.error_message := plan.eligible || ' eligible source credits give nothing at '
                              || rule.ratio_numerator || '/' || rule.ratio_denominator
                              || ' rounded down to steps of ' || rule.target_step || '; ' || by_level || ' are below level '
                              || rule.min_level || ', ' || by_window
                              || ' are outside the validity window';
        RETURN plan;
    END IF;
    -- the least source that still gives `granted` after rounding down
    plan.consumed := (plan.granted * rule.ratio_denominator + rule.ratio_numerator - 1)
                     / rule.ratio_numerator;
    need := plan.consumed;
    plan.lots := '[]';
    FOR lot IN SELECT * FROM lcb_candidate_lots(p_learner, rule.id) WHERE level_ok AND in_window
               ORDER BY dated, seq, unit LOOP
        EXIT WHEN need = 0;
        plan.lots := plan.lots || jsonb_build_object('source_tx', lot.source_tx, 'unit', lot.unit,
                                                     'amount', least(lot.remaining, need),
                                                     'completed_on', lot.dated);
        need := need - least(lot.remaining, need);
    END LOOP;
    RETURN plan;
END $$;

-- An administrator converts a learner's credits under a rule. Everything is
-- decided under the learner's chain lock, so two conversions of the same
-- credits (from any connection or lcbd process) are serialised and the
-- second sees the first's consumption. The transaction id does not exist
-- yet (lcbd makes it after this returns), so the plan waits in the
-- transaction-local setting lcb.conversion_plan for lcb_record_conversion(),
-- the trigger that writes it when lcb_append() inserts the transaction.
CREATE FUNCTION lcb_prepare_conversion(p_institution_id bigint, p_key text, p_digest bytea,
                                       p_learner bigint, p_rule text, p_programme text)
RETURNS lcb_prepared
LANGUAGE plpgsql AS $$
DECLARE
    answer lcb_prepared := lcb_replay(p_institution_id, p_key, p_digest);
    checked record;
    rule conversion_rules;
    plan lcb_conversion_plan;
    programme_account bigint;
    programme_owner text;
BEGIN
    IF NOT (answer IS NULL) THEN
        RETURN answer;
    END IF;
    checked := lcb_conversion_check(p_institution_id, p_learner, p_rule, p_programme);
    IF checked.rule_id IS NULL THEN
        RETURN checked.refusal;
    END IF;
    SELECT * INTO rule FROM conversion_rules WHERE id = checked.rule_id;
    answer := lcb_lock_chain_for(p_learner, p_institution_id, p_key, p_digest);
    IF lcb_is_final(answer) THEN
        RETURN answer;
    END IF;
    plan := lcb_plan_conversion(p_learner, rule.id);
    IF plan.error_code IS NOT NULL THEN
        RETURN lcb_refusal(plan.error_code, plan.error_message);
    END IF;
    SELECT a.id, i.code INTO programme_account, programme_owner
        FROM accounts a JOIN institutions i ON i.id = a.institution_id
        WHERE a.institution_id = rule.programme_institution_id;
    answer.kind := 'conversion';
    answer.item_code := rule.code;
    answer.result := '';
    answer.reason := 'rule:' || rule.code || '@' || rule.version || ' programme:'
                     || programme_owner || '/' || rule.programme_code;
    -- per source unit: learner -, programme +; then programme -, learner +
    SELECT array_agg(x.account ORDER BY x.ord, x.unit), array_agg(x.unit ORDER BY x.ord, x.unit),
           array_agg(x.amount ORDER BY x.ord, x.unit)
        INTO answer.accounts, answer.units, answer.amounts
        FROM (SELECT 1 AS ord, answer.chain_account AS account, l->>'unit' AS unit,
                     -sum((l->>'amount')::bigint)::bigint AS amount
              FROM jsonb_array_elements(plan.lots) l GROUP BY l->>'unit'
              UNION ALL
              SELECT 2, programme_account, l->>'unit', sum((l->>'amount')::bigint)::bigint
              FROM jsonb_array_elements(plan.lots) l GROUP BY l->>'unit'
              UNION ALL
              SELECT 3, programme_account, rule.target_unit, -plan.granted
              UNION ALL
              SELECT 4, answer.chain_account, rule.target_unit, plan.granted) x;
    PERFORM set_config('lcb.conversion_plan',
                       jsonb_build_object('chain_account', answer.chain_account,
                                          'seq', answer.head_seq + 1, 'rule_id', rule.id,
                                          'learner', p_learner, 'granted', plan.granted,
                                          'lots', plan.lots)::text, true);
    RETURN answer;
END $$;

-- Writes the conversion and its consumption when its transaction is
-- appended; a conversion without its plan must never land.
CREATE FUNCTION lcb_record_conversion() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    plan jsonb := nullif(current_setting('lcb.conversion_plan', true), '')::jsonb;
    rule conversion_rules;
BEGIN
    IF plan IS NULL OR (plan->>'chain_account')::bigint <> NEW.chain_account_id
       OR (plan->>'seq')::bigint <> NEW.chain_seq THEN
        PERFORM lcb_fail('conversion_unplanned', 'conversion ' || NEW.id
                         || ' was not prepared by lcb_prepare_conversion in this transaction');
    END IF;
    SELECT * INTO rule FROM conversion_rules WHERE id = (plan->>'rule_id')::bigint;
    INSERT INTO conversions (transaction_id, rule_id, learner_id, programme_institution_id,
                             programme_code, target_unit, granted)
        VALUES (NEW.id, rule.id, (plan->>'learner')::bigint, rule.programme_institution_id,
                rule.programme_code, rule.target_unit, (plan->>'granted')::bigint);
    INSERT INTO conversion_consumption (conversion_tx, source_tx, unit, amount)
        SELECT NEW.id, (l->>'source_tx')::uuid, l->>'unit', (l->>'amount')::bigint
        FROM jsonb_array_elements(plan->'lots') l;
    -- second line of defence behind the chain lock: no lot overdrawn
    IF EXISTS (SELECT 1 FROM lcb_lots((plan->>'learner')::bigint) WHERE remaining < 0) THEN
        PERFORM lcb_fail('lot_overdrawn', 'conversion ' || NEW.id || ' would consume credits twice');
    END IF;
    PERFORM set_config('lcb.conversion_plan', '', true);
    RETURN NULL;
END $$;

CREATE TRIGGER transactions_record_conversion AFTER INSERT ON transactions
    FOR EACH ROW WHEN (NEW.kind = 'conversion') EXECUTE FUNCTION lcb_record_conversion();

-- The read-only twin of lcb_prepare_conversion for POST
-- /v1/conversions/preview: raises the refusal (LCB00), or describes the
-- conversion that would be made now.
CREATE FUNCTION lcb_preview_conversion(p_caller bigint, p_learner bigint, p_rule text,
                                       p_programme text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    checked record;
    rule conversion_rules;
    plan lcb_conversion_plan;
    owner text;
BEGIN
    checked := lcb_conversion_check(p_caller, p_learner, p_rule, p_programme);
    IF checked.rule_id IS NULL THEN
        PERFORM lcb_fail((checked.refusal).error_code, (checked.refusal).error_message);
    END IF;
    SELECT * INTO rule FROM conversion_rules WHERE id = checked.rule_id;
    plan := lcb_plan_conversion(p_learner, rule.id);
    IF plan.error_code IS NOT NULL THEN
        PERFORM lcb_fail(plan.error_code, plan.error_message);
    END IF;
    SELECT code INTO owner FROM institutions WHERE id = rule.programme_institution_id;
    RETURN jsonb_build_object(
        'learner', p_learner,
        'rule', jsonb_build_object('code', rule.code, 'version', rule.version,
                                   'ratio_numerator', rule.ratio_numerator,
                                   'ratio_denominator', rule.ratio_denominator,
                                   'rounding', rule.rounding, 'target_step', rule.target_step,
                                   'min_level', rule.min_level,
                                   'cap', rule.cap, 'validity_months', rule.validity_months),
        'programme', jsonb_build_object('institution', owner, 'code', rule.programme_code),
        'eligible', plan.eligible, 'already_granted', plan.already,
        'consume', plan.lots, 'consumed', plan.consumed,
        'grant', jsonb_build_object('unit', rule.target_unit, 'amount', plan.granted));
END $$;

-- ---- reversals ---------------------------------------------------------------

-- An administrator compensates a deposit or a conversion of a learner in its
-- subtree: the original's entries negated, naming it and a reason. A
-- reversal is never itself reversed (post the outcome again instead); a
-- deposit that a standing conversion consumed is refused until that
-- conversion is reversed, which releases its consumption.
CREATE FUNCTION lcb_prepare_reversal(p_institution_id bigint, p_key text, p_digest bytea,
                                     p_transaction uuid, p_reason text) RETURNS lcb_prepared
LANGUAGE plpgsql AS $$
DECLARE
    answer lcb_prepared := lcb_replay(p_institution_id, p_key, p_digest);
    original transactions;
    owner learners;
    consumer uuid;
BEGIN
    IF NOT (answer IS NULL) THEN
        RETURN answer;
    END IF;
    SELECT * INTO original FROM transactions WHERE id = p_transaction;
    IF NOT FOUND THEN
        RETURN lcb_refusal('transaction_not_found', 'no transaction ' || p_transaction);
    END IF;
    SELECT l.* INTO owner FROM learners l JOIN accounts a ON a.learner_id = l.id
        WHERE a.id = original.chain_account_id;
    IF NOT lcb_in_subtree(p_institution_id, owner.institution_id) THEN
        RETURN lcb_refusal('outside_subtree', 'the learner of transaction ' || p_transaction
                           || ' is outside your institution''s subtree');
    END IF;
    answer := lcb_lock_chain_for(owner.id, p_institution_id, p_key, p_digest);
    IF lcb_is_final(answer) THEN
        RETURN answer;
    END IF;
    IF original.kind = 'reversal' THEN
        RETURN lcb_refusal('reversal_of_reversal', 'transaction ' || p_transaction
                           || ' is a reversal; post the original again instead');
    END IF;
    IF EXISTS (SELECT 1 FROM transactions WHERE reverses = p_transaction) THEN
        RETURN lcb_refusal('already_reversed', 'transaction ' || p_transaction || ' is already reversed');
    END IF;
    SELECT c.conversion_tx INTO consumer FROM conversion_consumption c
        WHERE c.source_tx = p_transaction
          AND NOT EXISTS (SELECT 1 FROM transactions r WHERE r.reverses = c.conversion_tx)
        LIMIT 1;
    IF consumer IS NOT NULL THEN
        RETURN lcb_refusal('deposit_consumed', 'conversion ' || consumer || ' consumed credits of '
                           || p_transaction || '; reverse that conversion first');
    END IF;
    answer.kind := 'reversal';
    answer.item_code := original.item_code;
    answer.result := '';
    answer.reverses := original.id;
    answer.reason := p_reason;
    SELECT array_agg(e.account_id ORDER BY e.position), array_agg(e.unit ORDER BY e.position),
           array_agg(-e.amount ORDER BY e.position)
        INTO answer.accounts, answer.units, answer.amounts
        FROM entries e WHERE e.transaction_id = original.id;
    RETURN answer;
END $$;

-- ---- transcript --------------------------------------------------------------

-- A learner's record per unit: balance, available and expired, and every
-- deposit (the certified outcome), conversion and reversal that moved it,
-- with transaction hashes. Amounts are this learner's side, signed.
CREATE FUNCTION lcb_transcript(p_learner bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    WITH account AS (
        SELECT a.id FROM accounts a WHERE a.learner_id = p_learner
    ), moves AS (
        SELECT t.*, e.unit, sum(e.amount)::bigint AS amount,
               (SELECT r.id FROM transactions r WHERE r.reverses = t.id) AS reversed_by
        FROM account a JOIN transactions t ON t.chain_account_id = a.id
        JOIN entries e ON e.transaction_id = t.id AND e.account_id = a.id
        GROUP BY t.id, e.unit
    ), lots AS (
        SELECT * FROM lcb_lots(p_learner)
    ), lines AS (
        SELECT m.unit, m.kind, m.chain_seq, jsonb_build_object(
            'transaction_id', m.id, 'seq', m.chain_seq, 'hash', encode(m.hash, 'hex'),
            'created_at', to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
            'institution', i.code, 'amount', m.amount, 'reversed_by', m.reversed_by)
            || CASE m.kind
               WHEN 'deposit' THEN jsonb_build_object(
                   'item_code', m.item_code, 'item_kind', cat.kind, 'title', cat.title,
                   'level', cat.level, 'result', m.result, 'completed_on', m.completed_on,
                   'recognition', nullif(m.reason, ''), 'remaining', l.remaining,
                   'expired', l.remaining > 0 AND NOT lcb_within(l.dated, u.valid_months, current_date))
               WHEN 'conversion' THEN jsonb_build_object(
                   'rule', cr.code, 'version', cr.version, 'programme', pi.code || '/' || cr.programme_code,
                   'consumed', (SELECT coalesce(jsonb_agg(jsonb_build_object('source_tx', cc.source_tx,
                                                'amount', cc.amount) ORDER BY cc.source_tx), '[]')
                                FROM conversion_consumption cc
                                WHERE cc.conversion_tx = m.id AND cc.unit = m.unit))
               ELSE jsonb_build_object('reverses', m.reverses, 'reason', m.reason,
                                       'item_code', m.item_code)
               END AS doc
        FROM moves m JOIN institutions i ON i.id = m.institution_id
        JOIN units u ON u.code = m.unit
        LEFT JOIN catalogue cat ON m.kind = 'deposit' AND cat.code = m.item_code
        LEFT JOIN lots l ON m.kind = 'deposit' AND l.source_tx = m.id AND l.unit = m.unit
        LEFT JOIN conversions cv ON cv.transaction_id = m.id
        LEFT JOIN conversion_rules cr ON cr.id = cv.rule_id
        LEFT JOIN institutions pi ON pi.id = cr.programme_institution_id
    ), per_unit AS (
        SELECT u.code, jsonb_build_object(
            'name', u.name, 'scale', u.scale, 'valid_months', u.valid_months,
            'balance', coalesce(b.amount, 0),
            'available', coalesce((av.doc->u.code->>'available')::bigint, 0),
            'expired', coalesce((av.doc->u.code->>'expired')::bigint, 0),
            'deposits', coalesce((SELECT jsonb_agg(x.doc ORDER BY x.chain_seq) FROM lines x
                                  WHERE x.unit = u.code AND x.kind = 'deposit'), '[]'),
            'conversions', coalesce((SELECT jsonb_agg(x.doc ORDER BY x.chain_seq) FROM lines x
                                     WHERE x.unit = u.code AND x.kind = 'conversion'), '[]'),
            'reversals', coalesce((SELECT jsonb_agg(x.doc ORDER BY x.chain_seq) FROM lines x
                                   WHERE x.unit = u.code AND x.kind = 'reversal'), '[]')) AS doc
        FROM units u
        CROSS JOIN (SELECT lcb_availability(p_learner) AS doc) av
        LEFT JOIN balances b ON b.unit = u.code AND b.account_id = (SELECT id FROM account)
        WHERE b.amount IS NOT NULL OR EXISTS (SELECT 1 FROM lines x WHERE x.unit = u.code)
    )
    SELECT jsonb_build_object(
        'learner', l.id, 'name', l.name, 'institution', i.code,
        'units', coalesce((SELECT jsonb_object_agg(p.code, p.doc) FROM per_unit p), '{}'))
    FROM learners l JOIN institutions i ON i.id = l.institution_id
    WHERE l.id = p_learner
$$;

-- ---- privileges ----------------------------------------------------------------

-- lcbd reads the rules and, through lcb_record_conversion(), adds
-- conversions and their consumption; it never changes a rule.
GRANT SELECT ON recognition_rules, conversion_rules, conversion_rule_sources, conversions,
    conversion_consumption TO lcb_app;
GRANT INSERT ON conversions, conversion_consumption TO lcb_app;
REVOKE UPDATE, DELETE, TRUNCATE ON conversions, conversion_consumption FROM lcb_app;
